import Foundation
import XCTest
@testable import Driftsync

let T: TimeInterval = 30

/// A test case with a fresh reference server (a child process) and a temporary directory.
class ServerTestCase: XCTestCase {
    var server: ServerProcess!
    var dir: URL!

    override func setUpWithError() throws {
        server = try ServerProcess()
        dir = makeTempDir()
    }

    override func tearDown() {
        server?.stop()
        try? FileManager.default.removeItem(at: dir)
    }
}

/// What the callbacks of one client saw (they run on the sync thread).
final class Seen {
    /// (Item count, frozen) of the before hook's realm.
    let before = Recorder<(Int, Bool)>()
    /// (before's Item 2 name, live's Item 2 name, didRecover) of the after hook.
    let after = Recorder<(String?, String?, Bool)>()
    let manual = Recorder<ManualReset>()
    /// The Item names of the manual reset's backup, opened inside the handler.
    let backupNames = Recorder<[Int64: String]>()
    let progress = Recorder<(UInt64, UInt64)>()
    let changes = Recorder<RealmChanges>()
    let errors = Recorder<SyncErrorInfo>()
}

enum ModeKind: CaseIterable { case manual, discard, recover, recoverOrDiscard }

/// The hooks every reset test uses by default, recording into `seen`.
func recordingHooks(_ seen: Seen, schema: Schema) -> (BeforeResetHook, AfterResetHook, ManualResetHandler) {
    let before: BeforeResetHook = { b in seen.before.append((try b.count("Item"), b.isFrozen)) }
    let after: AfterResetHook = { b, live, didRecover in
        XCTAssertFalse(live.isFrozen)
        seen.after.append((nameOf(b, 2), nameOf(live, 2), didRecover))
    }
    let manual: ManualResetHandler = { m in
        // The backup is a complete realm: open it (without sync) right in the handler.
        do {
            let b = try Realm(configuration: .init(fileURL: URL(fileURLWithPath: m.backupPath), schema: schema))
            var names: [Int64: String] = [:]
            for o in try b.objects("Item") {
                if case .int(let id) = o.primaryKey { names[id] = o["name"]?.stringValue }
            }
            seen.backupNames.append(names)
            b.close()
        } catch {
            XCTFail("opening the backup \(m.backupPath) failed: \(error)")
        }
        seen.manual.append(m)
    }
    return (before, after, manual)
}

func mode(_ kind: ModeKind, before: BeforeResetHook?, after: AfterResetHook?, manual: ManualResetHandler?) -> ClientResetMode {
    switch kind {
    case .manual: return .manual(errorHandler: manual)
    case .discard: return .discardUnsyncedChanges(beforeReset: before, afterReset: after)
    case .recover: return .recoverUnsyncedChanges(beforeReset: before, afterReset: after)
    case .recoverOrDiscard: return .recoverOrDiscardUnsyncedChanges(beforeReset: before, afterReset: after)
    }
}

/// Opens a synced client of `server` whose callbacks record into `seen`; `before`/`after`
/// replace the recording hooks.
func openClient(_ server: ServerProcess, _ url: URL, _ kind: ModeKind, _ seen: Seen, schema: Schema = syncSchema,
                user: String = "alice", startPaused: Bool = false, keepBackup: Bool = false,
                before: BeforeResetHook? = nil, after: AfterResetHook? = nil) throws -> Realm {
    let (b, a, m) = recordingHooks(seen, schema: schema)
    var sync = SyncConfiguration(url: server.url, token: "\(user)-token", realm: "default",
                                 clientResetMode: mode(kind, before: before ?? b, after: after ?? a, manual: m))
    sync.manualResetFallback = m
    sync.downloadProgress = { seen.progress.append(($0, $1)) }
    sync.backupDirectory = url.deletingLastPathComponent().appendingPathComponent("backups").path
    sync.startPaused = startPaused
    sync.keepBackup = keepBackup
    return try Realm(configuration: .init(fileURL: url, schema: schema, syncConfiguration: sync))
}

func syncAll(_ r: Realm) async throws {
    let s = try XCTUnwrap(r.syncSession)
    try await s.waitForUpload(timeout: T)
    try await s.waitForDownload(timeout: T)
}

/// The last reset report, once there is one.
func waitForReport(_ r: Realm, _ what: String = "the reset report", until: (ResetReport) -> Bool = { _ in true }) throws -> ResetReport {
    var report: ResetReport?
    try eventually(what) {
        report = try r.lastResetReport()
        return report.map(until) ?? false
    }
    return try XCTUnwrap(report)
}

/// Syncs Item 1 "synced", pauses, then edits offline: Item 1 "local edit", Item 2 "offline".
func prepareUnsyncedChanges(_ r: Realm) async throws {
    try r.write { try r.create("Item", primaryKey: 1, ["name": "synced"]) }
    try await syncAll(r)
    let s = try XCTUnwrap(r.syncSession)
    try s.pause()
    eventually("paused") { (try? s.state) == .disconnected }
    try r.write {
        try r.set("Item", primaryKey: 1, "name", "local edit")
        try r.create("Item", primaryKey: 2, ["name": "offline"])
    }
}
