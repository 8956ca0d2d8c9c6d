import CDriftsync
import Foundation

/// Why the server demands a client reset.
public enum ResetCause: Int32, Sendable {
    /// Not a reset demand (or a preview).
    case none = 0
    case serverRestored = 1
    case syncReenabled = 2
    case clientSchemaAhead = 3
    case clientTooOld = 4
    case breakingSchemaChange = 5
    case roleChanged = 6
    case unknown = -1

    /// The server's spelling, e.g. "server_restored".
    public var serverName: String { String(cString: driftsync_reset_cause_name(rawValue)) }
}

/// What a client reset does with the local realm.
public enum ResetDecision: Int32, Sendable {
    case recover = 0, discard = 1, manual = 2, unknown = -1
}

/// The plain mode of a `ClientResetMode`, as a report records it.
public enum ClientResetModeKind: Int32, Sendable {
    case manual = 0, discardUnsyncedChanges, recoverUnsyncedChanges, recoverOrDiscardUnsyncedChanges, unknown = -1
}

/// What the client must do about a server error.
public enum ErrorAction: Int32, Sendable {
    case clientReset = 0, clientResetNoRecovery, retry, fatal, warning, unknown = -1
}

/// Runs before an automatic reset with a frozen, read-only snapshot of the realm as it was.
/// Throwing aborts the automatic reset: it falls back to the manual handler and the report's
/// `beforeHookError` is the error's description.
public typealias BeforeResetHook = (_ before: Realm) throws -> Void
/// Runs after an automatic reset with the frozen before-snapshot, the live realm (readable and
/// writable: `after.write { }`) and whether the unsynced changes were recovered. Throwing is
/// recorded in the report's `afterHookError` (the reset has already happened).
public typealias AfterResetHook = (_ before: Realm, _ after: Realm, _ didRecover: Bool) throws -> Void
/// Receives a reset the application must handle (the session stays paused).
public typealias ManualResetHandler = (ManualReset) -> Void

/// What to do when the server demands a client reset (realm-swift's enum; `afterReset` also
/// gets `didRecover`). Hooks and handlers run on the realm's sync thread; the realms they get
/// are valid only during the call (afterwards every call on them throws `.closed`).
public enum ClientResetMode {
    /// Hand every reset to `errorHandler` (the realm is backed up first).
    case manual(errorHandler: ManualResetHandler? = nil)
    /// Replace the local state with the server's; unsynced changes are reported and dropped.
    case discardUnsyncedChanges(beforeReset: BeforeResetHook? = nil, afterReset: AfterResetHook? = nil)
    /// Replay unsynced changes on the server's state; when recovery is not allowed: manual.
    case recoverUnsyncedChanges(beforeReset: BeforeResetHook? = nil, afterReset: AfterResetHook? = nil)
    /// Recover when allowed, else discard (the default).
    case recoverOrDiscardUnsyncedChanges(beforeReset: BeforeResetHook? = nil, afterReset: AfterResetHook? = nil)

    public var kind: ClientResetModeKind {
        switch self {
        case .manual: return .manual
        case .discardUnsyncedChanges: return .discardUnsyncedChanges
        case .recoverUnsyncedChanges: return .recoverUnsyncedChanges
        case .recoverOrDiscardUnsyncedChanges: return .recoverOrDiscardUnsyncedChanges
        }
    }

    var hooks: (before: BeforeResetHook?, after: AfterResetHook?) {
        switch self {
        case .manual: return (nil, nil)
        case .discardUnsyncedChanges(let b, let a), .recoverUnsyncedChanges(let b, let a),
             .recoverOrDiscardUnsyncedChanges(let b, let a):
            return (b, a)
        }
    }
}

/// One local instruction a reset did not apply as recorded.
public struct DroppedChange: Equatable, Sendable {
    public let localVersion: UInt64
    /// The instruction, in a readable form (e.g. `create Item[2] {...}`).
    public let instruction: String
    /// Why it was not applied.
    public let reason: String
    /// It applied in part (e.g. a link left null) and is still uploaded.
    public let partially: Bool
}

/// Time spent in each phase and when the reset completed (ms since the epoch; 0 for a preview).
/// The `…Us` fields (microseconds) include the change-summary phase and add up to `totalUs`;
/// the older `…Ms` fields have no summary phase.
public struct ResetTimings: Equatable, Sendable {
    public let downloadMs: UInt64
    public let diffMs: UInt64
    public let replayMs: UInt64
    public let commitMs: UInt64
    public let completedAtMs: Int64
    public let downloadUs: UInt64
    public let diffUs: UInt64
    public let replayUs: UInt64
    /// Producing the change summary and the report's counts.
    public let summaryUs: UInt64
    public let commitUs: UInt64
    /// Download through commit: the sum of the five phases.
    public let totalUs: UInt64
}

/// What a client reset did (`Realm.lastResetReport()`) or would do (`Realm.previewReset`).
/// Nothing is dropped silently: `dropped` lists what recovery could not apply, `discarded` what
/// a discard threw away.
public struct ResetReport: Sendable {
    public let cause: ResetCause
    public let action: ErrorAction
    public let serverMessage: String
    public let mode: ClientResetModeKind
    public let decision: ResetDecision
    public let objectsInserted: UInt64
    public let objectsDeleted: UInt64
    public let objectsModified: UInt64
    public let recoveredChangesets: UInt64
    public let recoveredInstructions: UInt64
    public let dropped: [DroppedChange]
    public let discarded: [DroppedChange]
    /// Why the before hook failed (nil when it did not run or succeeded).
    public let beforeHookError: String?
    /// Why the after hook failed (nil when it did not run or succeeded).
    public let afterHookError: String?
    /// The manual-reset backup, or the copy kept before an automatic reset; nil when none.
    public let backupPath: String?
    public let timings: ResetTimings
    /// Payload bytes of the fresh copy's messages, both directions.
    public let transferredBytes: UInt64
    /// Key ranges that differed between this realm and the server (0 for a full copy).
    public let rangesDiffered: UInt64

    /// Reads a native report (does not free it).
    init(native r: OpaquePointer) throws {
        func string(_ f: (UnsafeMutablePointer<driftsync_string_t>, ErrorOut) -> driftsync_status_t) throws -> String {
            var s = driftsync_string_t()
            try check { f(&s, $0) }
            return swiftString(s)
        }
        func changes(_ count: (UnsafeMutablePointer<Int>, ErrorOut) -> driftsync_status_t,
                     _ at: (Int, UnsafeMutablePointer<driftsync_dropped_change_t>, ErrorOut) -> driftsync_status_t) throws -> [DroppedChange] {
            var n = 0
            try check { count(&n, $0) }
            return try (0..<n).map { i in
                var d = driftsync_dropped_change_t()
                try check { at(i, &d, $0) }
                return DroppedChange(localVersion: d.local_version, instruction: swiftString(d.instruction),
                                     reason: swiftString(d.reason), partially: d.partially)
            }
        }
        var cause = driftsync_reset_cause_t(0), action = driftsync_error_action_t(0)
        var mode = driftsync_client_reset_mode_t(0), decision = driftsync_reset_decision_t(0)
        try check { driftsync_reset_report_cause(r, &cause, $0) }
        try check { driftsync_reset_report_action(r, &action, $0) }
        try check { driftsync_reset_report_mode(r, &mode, $0) }
        try check { driftsync_reset_report_decision(r, &decision, $0) }
        self.cause = ResetCause(rawValue: Int32(bitPattern: cause.rawValue)) ?? .unknown
        self.action = ErrorAction(rawValue: Int32(bitPattern: action.rawValue)) ?? .unknown
        self.mode = ClientResetModeKind(rawValue: Int32(bitPattern: mode.rawValue)) ?? .unknown
        self.decision = ResetDecision(rawValue: Int32(bitPattern: decision.rawValue)) ?? .unknown
        serverMessage = try string { driftsync_reset_report_server_message(r, $0, $1) }
        var ins: UInt64 = 0, del: UInt64 = 0, mod: UInt64 = 0, cs: UInt64 = 0, ci: UInt64 = 0
        try check { driftsync_reset_report_objects(r, &ins, &del, &mod, $0) }
        try check { driftsync_reset_report_recovered(r, &cs, &ci, $0) }
        (objectsInserted, objectsDeleted, objectsModified) = (ins, del, mod)
        (recoveredChangesets, recoveredInstructions) = (cs, ci)
        dropped = try changes({ driftsync_reset_report_dropped_count(r, $0, $1) }, { driftsync_reset_report_dropped(r, $0, $1, $2) })
        discarded = try changes({ driftsync_reset_report_discarded_count(r, $0, $1) }, { driftsync_reset_report_discarded(r, $0, $1, $2) })
        let before = try string { driftsync_reset_report_before_hook_error(r, $0, $1) }
        let after = try string { driftsync_reset_report_after_hook_error(r, $0, $1) }
        let backup = try string { driftsync_reset_report_backup_path(r, $0, $1) }
        beforeHookError = before.isEmpty ? nil : before
        afterHookError = after.isEmpty ? nil : after
        backupPath = backup.isEmpty ? nil : backup
        var t = driftsync_reset_timings_t()
        try check { driftsync_reset_report_timings(r, &t, $0) }
        var t2 = driftsync_reset_timings_v2_t()
        try check { driftsync_reset_report_timings_v2(r, &t2, $0) }
        timings = ResetTimings(downloadMs: t.download_ms, diffMs: t.diff_ms, replayMs: t.replay_ms, commitMs: t.commit_ms,
                               completedAtMs: t.completed_at_ms, downloadUs: t2.download_us, diffUs: t2.diff_us,
                               replayUs: t2.replay_us, summaryUs: t2.summary_us, commitUs: t2.commit_us, totalUs: t2.total_us)
        var bytes: UInt64 = 0, ranges: UInt64 = 0
        try check { driftsync_reset_report_transfer(r, &bytes, &ranges, $0) }
        (transferredBytes, rangesDiffered) = (bytes, ranges)
    }
}

/// A client reset handed to the application: why, the server's message, the realm's path, the
/// backup's path (a complete realm with the unsynced changes, openable without sync), the
/// report, and `performReset()`. It may be kept past the handler and used from any thread.
public final class ManualReset {
    private let handle: OpaquePointer
    public let cause: ResetCause
    public let message: String
    public let originalPath: String
    public let backupPath: String
    public let report: ResetReport?

    /// Copies the handler's borrowed reset into an owned one.
    init(borrowed m: OpaquePointer) throws {
        var clone: OpaquePointer?
        try check { driftsync_manual_reset_clone(m, &clone, $0) }
        handle = clone!
        var c = driftsync_reset_cause_t(0)
        var msg = driftsync_string_t(), orig = driftsync_string_t(), backup = driftsync_string_t()
        var r: OpaquePointer?
        do {
            try check { driftsync_manual_reset_cause(m, &c, $0) }
            try check { driftsync_manual_reset_message(m, &msg, $0) }
            try check { driftsync_manual_reset_original_path(m, &orig, $0) }
            try check { driftsync_manual_reset_backup_path(m, &backup, $0) }
            try check { driftsync_manual_reset_report(m, &r, $0) }
        } catch {
            driftsync_manual_reset_free(clone)
            throw error
        }
        defer { driftsync_reset_report_free(r) }
        cause = ResetCause(rawValue: Int32(bitPattern: c.rawValue)) ?? .unknown
        message = swiftString(msg)
        originalPath = swiftString(orig)
        backupPath = swiftString(backup)
        report = try? r.map { try ResetReport(native: $0) }
    }

    /// Performs the reset now: the realm file is deleted (the backup keeps its data) and the
    /// next open starts from the server's state. Every `Realm` of the file must be closed
    /// first, otherwise `.busy`. May be called more than once.
    public func performReset() throws {
        try check { driftsync_manual_reset_perform(handle, $0) }
    }

    deinit { driftsync_manual_reset_free(handle) }
}

/// The text a throwing hook leaves in the report: `LocalizedError.errorDescription` when there
/// is one, else `String(describing:)` of the error.
func hookErrorText(_ error: Error) -> String {
    if let e = error as? LocalizedError, let d = e.errorDescription, !d.isEmpty { return d }
    let text = String(describing: error)
    return text.isEmpty ? String(reflecting: type(of: error)) : text
}

func fail(_ result: OpaquePointer?, with error: Error) {
    let text = hookErrorText(error)
    _ = driftsync_hook_result_fail(result, text, text.utf8.count, nil)
}

typealias BeforeHookContext = ClosureContext<BeforeResetHook>
typealias AfterHookContext = ClosureContext<AfterResetHook>
typealias ManualContext = ClosureContext<ManualResetHandler>
typealias ProgressContext = ClosureContext<(UInt64, UInt64) -> Void>

// The lent realms are detached when the hook returns: the library closes and frees them then.
let beforeHookTrampoline: driftsync_before_reset_v2_fn = { userData, before, result in
    let hook = BeforeHookContext.closure(userData)
    guard let before else { return false }
    let realm = Realm.lent(before)
    defer { realm.handle.detach() }
    do {
        try hook(realm)
        return true
    } catch {
        fail(result, with: error)
        return false
    }
}

let afterHookTrampoline: driftsync_after_reset_v2_fn = { userData, before, live, didRecover, result in
    let hook = AfterHookContext.closure(userData)
    guard let before, let live else { return false }
    let beforeRealm = Realm.lent(before), liveRealm = Realm.lent(live)
    defer {
        beforeRealm.handle.detach()
        liveRealm.handle.detach()
    }
    do {
        try hook(beforeRealm, liveRealm, didRecover)
        return true
    } catch {
        fail(result, with: error)
        return false
    }
}

let manualTrampoline: driftsync_manual_reset_fn = { userData, reset in
    guard let reset, let manual = try? ManualReset(borrowed: reset) else { return }
    ManualContext.closure(userData)(manual)
}

let progressTrampoline: driftsync_download_progress_fn = { userData, received, total in
    ProgressContext.closure(userData)(received, total)
}

extension Realm.Configuration {
    /// The native config (free it with `driftsync_config_free`). Each closure is handed over in
    /// its own retained context; the library releases each exactly once.
    func native() throws -> OpaquePointer {
        guard let b = driftsync_config_builder_new() else {
            throw DriftsyncError(code: .internal, message: "driftsync_config_builder_new failed")
        }
        do {
            let path = fileURL.path
            try check { driftsync_config_builder_set_path(b, path, path.utf8.count, $0) }
            let schema = try schema.native()
            defer { driftsync_schema_free(schema) }
            try check { driftsync_config_builder_set_schema(b, schema, $0) }
            if let t = writeTimeout {
                try check { driftsync_config_builder_set_write_timeout_ms(b, UInt64(max(0, t) * 1000), $0) }
            }
            if let sync = syncConfiguration { try sync.apply(to: b) }
        } catch {
            driftsync_config_builder_free(b)
            throw error
        }
        var config: OpaquePointer?
        try check { driftsync_config_builder_build(b, &config, $0) }
        return config!
    }
}

extension SyncConfiguration {
    func apply(to b: OpaquePointer) throws {
        try check { driftsync_config_builder_set_sync(b, url, url.utf8.count, token, token.utf8.count, realm, realm.utf8.count, $0) }
        try check { driftsync_config_builder_set_client_reset_mode(b, clientResetMode.kind.rawValue, $0) }
        if let dir = backupDirectory {
            try check { driftsync_config_builder_set_backup_dir(b, dir, dir.utf8.count, $0) }
        }
        try check { driftsync_config_builder_set_start_paused(b, startPaused, $0) }
        try check { driftsync_config_builder_set_keep_backup(b, keepBackup, $0) }
        for pem in trustedCAPEMs {
            try check { driftsync_config_builder_add_trusted_ca_pem(b, pem, pem.utf8.count, $0) }
        }
        try check { driftsync_config_builder_set_allow_cleartext(b, allowCleartext, $0) }
        let (before, after) = clientResetMode.hooks
        if let before {
            let ctx = BeforeHookContext(before)
            try check { driftsync_config_builder_set_before_reset_v2(b, beforeHookTrampoline, ctx.retainedPointer(), releaseCallbackContext, $0) }
        }
        if let after {
            let ctx = AfterHookContext(after)
            try check { driftsync_config_builder_set_after_reset_v2(b, afterHookTrampoline, ctx.retainedPointer(), releaseCallbackContext, $0) }
        }
        var manual = manualResetFallback
        if case .manual(let handler) = clientResetMode { manual = handler }
        if let manual {
            let ctx = ManualContext(manual)
            try check { driftsync_config_builder_set_manual_reset_handler(b, manualTrampoline, ctx.retainedPointer(), releaseCallbackContext, $0) }
        }
        if let progress = downloadProgress {
            let ctx = ProgressContext(progress)
            try check { driftsync_config_builder_set_download_progress(b, progressTrampoline, ctx.retainedPointer(), releaseCallbackContext, $0) }
        }
        if let handler = syncErrorHandler {
            let ctx = SyncErrorContext(handler)
            try check { driftsync_config_builder_set_sync_error_handler(b, syncErrorTrampoline, ctx.retainedPointer(), releaseCallbackContext, $0) }
        }
        if let handler = connectionStateHandler {
            let ctx = StateContext(handler)
            try check { driftsync_config_builder_set_connection_state_handler(b, stateTrampoline, ctx.retainedPointer(), releaseCallbackContext, $0) }
        }
    }
}
