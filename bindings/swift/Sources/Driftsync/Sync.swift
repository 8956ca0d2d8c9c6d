import CDriftsync
import Foundation

/// Sync settings of a realm: the server, the user's token and the server-side realm name, and
/// what to do on a client reset.
///
/// Threads: the reset hooks, the manual handler, `downloadProgress` and the session's state and
/// error callbacks run on the realm's **sync thread** (a library thread; for
/// `Realm.previewReset` the progress runs on the calling thread). No library lock is held, so
/// they may call back into any realm (read, write), but must not wait for upload or download.
public struct SyncConfiguration {
    public var url: String
    public var token: String
    public var realm: String
    public var clientResetMode: ClientResetMode
    /// Called when an automatic mode cannot reset by itself (recovery not allowed in
    /// `.recoverUnsyncedChanges`, a breaking schema change, a before hook that threw, the cycle
    /// guard). `.manual` carries its own handler.
    public var manualResetFallback: ManualResetHandler?
    /// Progress of a reset's fresh copy (and of a new file's first download): (received, total) objects.
    public var downloadProgress: ((UInt64, UInt64) -> Void)?
    /// Where a manual reset keeps the backup (nil: the library's default, beside the realm).
    public var backupDirectory: String?
    /// Keep a copy of the realm as it was before each automatic reset (its path is in the report).
    public var keepBackup: Bool
    /// The session does not connect until `SyncSession.resume()`.
    public var startPaused: Bool
    /// Called with every sync error of the session from the first connection on (a refused
    /// token, a server that cannot be reached, reset demands); unlike
    /// `SyncSession.observeErrors` it is in place before `Realm(configuration:)` returns.
    public var syncErrorHandler: ((SyncErrorInfo) -> Void)?
    /// Called with every connection state change (old, new) from the first connection on.
    public var connectionStateHandler: ((ConnectionState, ConnectionState) -> Void)?
    /// Extra CA certificates (PEM text, one CA per element) trusted for a `wss://` server, on
    /// top of the system's roots. Text holding no certificate makes `Realm(configuration:)`
    /// throw `.invalidArgument`. A server certificate that is not trusted ends the session at
    /// once with a non-retryable error (waits throw `.sync`).
    public var trustedCAPEMs: [String]
    /// Allows a `ws://` (cleartext) URL whose host is not loopback; without it such a URL makes
    /// `Realm(configuration:)` throw `.invalidArgument`. `ws://` to loopback is always allowed.
    public var allowCleartext: Bool

    public init(url: String, token: String, realm: String,
                clientResetMode: ClientResetMode = .recoverOrDiscardUnsyncedChanges(),
                manualResetFallback: ManualResetHandler? = nil,
                downloadProgress: ((UInt64, UInt64) -> Void)? = nil,
                backupDirectory: String? = nil, keepBackup: Bool = false, startPaused: Bool = false,
                syncErrorHandler: ((SyncErrorInfo) -> Void)? = nil,
                connectionStateHandler: ((ConnectionState, ConnectionState) -> Void)? = nil,
                trustedCAPEMs: [String] = [], allowCleartext: Bool = false) {
        self.url = url
        self.token = token
        self.realm = realm
        self.clientResetMode = clientResetMode
        self.manualResetFallback = manualResetFallback
        self.downloadProgress = downloadProgress
        self.backupDirectory = backupDirectory
        self.keepBackup = keepBackup
        self.startPaused = startPaused
        self.syncErrorHandler = syncErrorHandler
        self.connectionStateHandler = connectionStateHandler
        self.trustedCAPEMs = trustedCAPEMs
        self.allowCleartext = allowCleartext
    }
}

/// The connection state of a sync session.
public enum ConnectionState: Int32, Sendable {
    case disconnected = 0, connecting = 1, connected = 2
}

/// Upload and download progress, in versions.
public struct SyncProgress: Equatable, Sendable {
    /// The newest local version the server acknowledged.
    public let uploaded: UInt64
    /// The newest local version (everything up to it is to be uploaded).
    public let uploadable: UInt64
    /// The newest server version integrated locally.
    public let downloaded: UInt64
    /// The newest server version known to exist.
    public let downloadable: UInt64
    public var isUploadComplete: Bool { uploaded >= uploadable }
    public var isDownloadComplete: Bool { downloaded >= downloadable }
}

/// The server's error code of a sync error (`.none` for a connection error).
public enum ServerErrorCode: Int32, Sendable {
    case none = 0, unsupportedProtocolVersion, badToken, unknownRealm, badMessage, badChangeset,
         permissionDenied, clientResetRequired, syncTerminated, `internal`, unknown = -1
}

/// A sync error: from the server, or from the connection.
public struct SyncErrorInfo: Sendable {
    public let serverCode: ServerErrorCode
    public let action: ErrorAction
    public let cause: ResetCause
    public let message: String
    public let isRetryable: Bool
    public var isClientReset: Bool { action == .clientReset || action == .clientResetNoRecovery }

    init(native e: OpaquePointer) throws {
        var code = driftsync_server_error_code_t(0)
        var action = driftsync_error_action_t(0)
        var cause = driftsync_reset_cause_t(0)
        var message = driftsync_string_t()
        var retry = false
        try check { driftsync_sync_error_server_code(e, &code, $0) }
        try check { driftsync_sync_error_action(e, &action, $0) }
        try check { driftsync_sync_error_reset_cause(e, &cause, $0) }
        try check { driftsync_sync_error_message(e, &message, $0) }
        try check { driftsync_sync_error_is_retryable(e, &retry, $0) }
        serverCode = ServerErrorCode(rawValue: Int32(bitPattern: code.rawValue)) ?? .unknown
        self.action = ErrorAction(rawValue: Int32(bitPattern: action.rawValue)) ?? .unknown
        self.cause = ResetCause(rawValue: Int32(bitPattern: cause.rawValue)) ?? .unknown
        self.message = swiftString(message)
        isRetryable = retry
    }
}

/// The sync session of a synced realm (`Realm.syncSession`). Its calls throw `.closed` once the
/// realm is closed.
public final class SyncSession {
    public let realm: Realm

    init(realm: Realm) { self.realm = realm }

    public var state: ConnectionState {
        get throws {
            var s = driftsync_connection_state_t(0)
            try realm.with { h in try check { driftsync_realm_sync_state(h, &s, $0) } }
            return ConnectionState(rawValue: Int32(bitPattern: s.rawValue)) ?? .disconnected
        }
    }

    public var progress: SyncProgress {
        get throws {
            var p = driftsync_sync_progress_t()
            try realm.with { h in try check { driftsync_realm_sync_progress(h, &p, $0) } }
            return SyncProgress(uploaded: p.uploaded, uploadable: p.uploadable, downloaded: p.downloaded, downloadable: p.downloadable)
        }
    }

    /// Paused by `pause()`, by `startPaused`, after a fatal error or a manual reset.
    public var isPaused: Bool {
        get throws {
            var paused = false
            try realm.with { h in try check { driftsync_realm_sync_is_paused(h, &paused, $0) } }
            return paused
        }
    }

    /// The last sync error (nil if there was none).
    public var lastError: SyncErrorInfo? {
        get throws {
            try realm.with { h in
                var out: OpaquePointer?
                try check { driftsync_realm_sync_last_error(h, &out, $0) }
                guard let e = out else { return nil }
                defer { driftsync_sync_error_free(e) }
                return try SyncErrorInfo(native: e)
            }
        }
    }

    /// Disconnects until `resume()`; local writes go on and are uploaded after.
    public func pause() throws { try realm.with { h in try check { driftsync_realm_sync_pause(h, $0) } } }

    public func resume() throws { try realm.with { h in try check { driftsync_realm_sync_resume(h, $0) } } }

    /// Waits (on a background thread) until every change committed before the call is
    /// acknowledged by the server. Throws `.timeout`, `.closed` when the session stops, and at
    /// once the error that ends the session: `.authentication` (token refused),
    /// `.permissionDenied`, `.protocolError`, `.sync` (another fatal server error), `.clientReset`
    /// (a reset handed to the manual handler, or an automatic reset that failed; `cause` names
    /// the reset cause). A retryable error (server down) leaves it waiting.
    /// `timeout` in seconds; `.infinity` (the default) waits without limit.
    public func waitForUpload(timeout: TimeInterval = .infinity) async throws {
        try await wait(timeout) { h, ms, e in driftsync_realm_sync_wait_for_upload(h, ms, e) }
    }

    /// Waits (on a background thread) until everything the server had at the call is
    /// integrated locally. Throws as `waitForUpload`.
    public func waitForDownload(timeout: TimeInterval = .infinity) async throws {
        try await wait(timeout) { h, ms, e in driftsync_realm_sync_wait_for_download(h, ms, e) }
    }

    private func wait(_ timeout: TimeInterval, _ call: @escaping (OpaquePointer, UInt64, ErrorOut) -> driftsync_status_t) async throws {
        // UINT64_MAX is the C ABI's "no limit"; a timeout too long for milliseconds is no limit too.
        let millis = max(0, timeout) * 1000
        let ms = millis < Double(UInt64.max) ? UInt64(millis) : UInt64.max
        let realm = self.realm
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<Void, Error>) in
            // The C call blocks: it gets a thread of its own, not one of Swift's cooperative pool.
            Thread.detachNewThread {
                do {
                    try realm.with { h in try check { call(h, ms, $0) } }
                    k.resume()
                } catch {
                    k.resume(throwing: error)
                }
            }
        }
    }

    /// Calls `block(old, new)` on every connection state change (on the sync thread).
    public func observeState(_ block: @escaping (ConnectionState, ConnectionState) -> Void) throws -> NotificationToken {
        let ctx = StateContext(block)
        return try realm.register { h, out, err in
            driftsync_realm_sync_on_state_change(h, stateTrampoline, ctx.retainedPointer(), releaseCallbackContext, out, err)
        }
    }

    /// Calls `block` with every sync error, reset demands included (on the sync thread, before
    /// the reset runs).
    public func observeErrors(_ block: @escaping (SyncErrorInfo) -> Void) throws -> NotificationToken {
        let ctx = SyncErrorContext(block)
        return try realm.register { h, out, err in
            driftsync_realm_sync_on_error(h, syncErrorTrampoline, ctx.retainedPointer(), releaseCallbackContext, out, err)
        }
    }
}

typealias StateContext = ClosureContext<(ConnectionState, ConnectionState) -> Void>

let stateTrampoline: driftsync_sync_state_fn = { userData, old, new in
    StateContext.closure(userData)(ConnectionState(rawValue: Int32(bitPattern: old.rawValue)) ?? .disconnected,
              ConnectionState(rawValue: Int32(bitPattern: new.rawValue)) ?? .disconnected)
}

typealias SyncErrorContext = ClosureContext<(SyncErrorInfo) -> Void>

let syncErrorTrampoline: driftsync_sync_error_fn = { userData, error in
    guard let error, let info = try? SyncErrorInfo(native: error) else { return }
    SyncErrorContext.closure(userData)(info)
}
