import Foundation
import XCTest
@testable import Driftsync

/// Hooks, the manual handler, preview, progress, the report and repeated resets, against the
/// reference server; and the sync session's own surface.
final class ResetHookTests: ServerTestCase {
    /// A client with unsynced changes and a server restored from a backup taken before them.
    func restoredClient(_ kind: ModeKind, _ seen: Seen, keepBackup: Bool = false,
                        before: BeforeResetHook? = nil, after: AfterResetHook? = nil) async throws -> Realm {
        try server.admin("backup", "early")
        let r = try openClient(server, dir.appendingPathComponent("c.realm"), kind, seen, keepBackup: keepBackup, before: before, after: after)
        try await prepareUnsyncedChanges(r)
        try server.admin("restore", "early")
        return r
    }

    func testHooks_beforeIsFrozenAfterGetsLiveRealmAndDidRecover() async throws {
        let seen = Seen()
        let frozenWriteError = Recorder<ErrorCode?>()
        let liveState = Recorder<(Bool, Bool, String?)>()  // before frozen, live frozen, live's Item 2
        let r = try await restoredClient(.recover, seen, before: { b in
            seen.before.append((try b.count("Item"), b.isFrozen))
            do { try b.write { try b.create("Item", primaryKey: 9) }; frozenWriteError.append(nil) } catch {
                frozenWriteError.append((error as? DriftsyncError)?.code)
            }
        }, after: { b, live, didRecover in
            liveState.append((b.isFrozen, live.isFrozen, nameOf(live, 2)))
            seen.after.append((nameOf(b, 1), nameOf(live, 1), didRecover))
        })
        try XCTUnwrap(r.syncSession).resume()
        eventually("after hook") { !seen.after.isEmpty }
        XCTAssertEqual(seen.before.first?.0, 2)
        XCTAssertEqual(seen.before.first?.1, true)
        XCTAssertEqual(frozenWriteError.first, .writeOnFrozen, "the before realm is read-only")
        XCTAssertEqual(liveState.first?.0, true, "after's before realm is frozen")
        XCTAssertEqual(liveState.first?.1, false, "after's live realm is live")
        XCTAssertEqual(liveState.first?.2, "offline", "the live realm has the recovered change")
        XCTAssertEqual(seen.after.first?.0, "local edit")
        XCTAssertEqual(seen.after.first?.1, "local edit")
        XCTAssertEqual(seen.after.first?.2, true)
        r.close()
    }

    func testHooks_discardPassesDidRecoverFalse() async throws {
        let seen = Seen()
        let r = try await restoredClient(.discard, seen)
        try XCTUnwrap(r.syncSession).resume()
        eventually("after hook") { !seen.after.isEmpty }
        XCTAssertEqual(seen.after.first?.2, false)
        XCTAssertEqual(seen.after.first?.0, "offline")
        XCTAssertNil(seen.after.first?.1)
        r.close()
    }

    func testHooks_throwingBeforeHookFallsBackToManualWithItsMessage() async throws {
        let seen = Seen()
        let r = try await restoredClient(.recover, seen, before: { _ in throw HookFailure(text: "not today") })
        try XCTUnwrap(r.syncSession).resume()
        let report = try waitForReport(r)
        XCTAssertEqual(report.decision, .manual, "the automatic reset was aborted")
        XCTAssertEqual(report.beforeHookError, "HookFailure: not today")
        eventually("the manual fallback handler") { !seen.manual.isEmpty }
        XCTAssertEqual(seen.manual.first?.report?.beforeHookError, "HookFailure: not today")
        XCTAssertEqual(nameOf(r, 2), "offline", "nothing was reset")
        XCTAssertTrue(seen.after.isEmpty)
        r.close()
    }

    func testHooks_throwingAfterHookIsRecordedInTheReport() async throws {
        struct Described: LocalizedError { var errorDescription: String? { "after failed" } }
        let seen = Seen()
        let r = try await restoredClient(.recover, seen, after: { _, _, _ in throw Described() })
        try XCTUnwrap(r.syncSession).resume()
        let report = try waitForReport(r, "the after hook's error in the report") { $0.afterHookError != nil }
        XCTAssertEqual(report.decision, .recover, "the reset itself happened")
        XCTAssertEqual(report.afterHookError, "after failed")
        XCTAssertNil(report.beforeHookError)
        try await syncAll(r)
        XCTAssertEqual(nameOf(r, 2), "offline")
        r.close()
    }

    func testHooks_afterHookWritesToLiveRealmAndLentRealmsCloseAfterTheCall() async throws {
        let seen = Seen()
        let kept = Recorder<Realm>()
        let r = try await restoredClient(.recover, seen, after: { b, live, _ in
            kept.append(b)
            kept.append(live)
            try live.write { try live.create("Item", primaryKey: 3, ["name": "after hook saw \(nameOf(b, 1) ?? "-")"]) }
        })
        try XCTUnwrap(r.syncSession).resume()
        eventually("item 3") { nameOf(r, 3) != nil }
        XCTAssertEqual(nameOf(r, 3), "after hook saw local edit")
        XCTAssertEqual(kept.all.count, 2)
        for k in kept.all {
            XCTAssertTrue(k.isClosed)
            XCTAssertThrowsError(try k.count("Item")) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .closed) }
        }
        try await syncAll(r)
        // The hook's write is uploaded like any other.
        let other = try openClient(server, dir.appendingPathComponent("other.realm"), .recoverOrDiscard, Seen(), user: "bob")
        try await syncAll(other)
        XCTAssertEqual(nameOf(other, 3), "after hook saw local edit")
        other.close()
        r.close()
    }

    func testHooks_hookCallsBackIntoTheAppsRealm() async throws {
        let seen = Seen()
        let appRealm = Recorder<Realm>()
        let countsSeen = Recorder<Int>()
        let r = try await restoredClient(.recover, seen, before: { _ in
            // The app's own handle of the same file, used from the sync thread inside the hook.
            if let app = appRealm.first { countsSeen.append(try app.count("Item")) }
        }, after: { _, _, _ in
            if let app = appRealm.first {
                try app.write { try app.create("Item", primaryKey: 4, ["name": "written through the app's realm"]) }
            }
        })
        appRealm.append(r)
        try XCTUnwrap(r.syncSession).resume()
        eventually("item 4") { nameOf(r, 4) != nil }
        XCTAssertEqual(countsSeen.first, 2)
        XCTAssertEqual(try r.lastResetReport()?.afterHookError, nil)
        r.close()
    }

    func testManualReset_handlerThenPerformResetAfterClosing() async throws {
        let seen = Seen()
        let r = try await restoredClient(.manual, seen)
        try XCTUnwrap(r.syncSession).resume()
        eventually("manual handler") { !seen.manual.isEmpty }
        let m = try XCTUnwrap(seen.manual.first)
        XCTAssertEqual(m.cause, .serverRestored)
        XCTAssertTrue(FileManager.default.fileExists(atPath: m.backupPath))
        XCTAssertThrowsError(try m.performReset(), "a realm of the file is still open") {
            XCTAssertEqual(($0 as? DriftsyncError)?.code, .busy)
        }
        r.close()
        try m.performReset()
        try m.performReset()  // more than once is fine
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("c.realm").path))
        // The next open starts from the server's state (the backup was taken before any write).
        let r2 = try openClient(server, dir.appendingPathComponent("c.realm"), .manual, Seen())
        try await syncAll(r2)
        XCTAssertNil(nameOf(r2, 2))
        XCTAssertEqual(seen.backupNames.first?[2], "offline", "the backup keeps the unsynced change")
        r2.close()
    }

    func testPreviewAndDownloadProgress() async throws {
        let seen = Seen()
        let r = try openClient(server, dir.appendingPathComponent("p.realm"), .recover, seen)
        try r.write { for i in 0..<20 { try r.create("Item", primaryKey: .int(Int64(i)), ["name": .string("n\(i)")]) } }
        try await syncAll(r)
        try XCTUnwrap(r.syncSession).pause()
        try r.write {
            try r.create("Item", primaryKey: 100, ["name": "local only"])
            try r.delete("Item", primaryKey: 0)
        }
        seen.progress.removeAll()
        let d = try r.previewReset(.discard)
        XCTAssertEqual(d.decision, .discard)
        XCTAssertEqual(d.cause, ResetCause.none)
        XCTAssertTrue(d.discarded.contains { $0.instruction.contains("Item[100]") }, "\(d.discarded)")
        XCTAssertFalse(d.serverMessage.isEmpty)
        XCTAssertEqual(d.timings.completedAtMs, 0)
        let rec = try r.previewReset(.recover)
        XCTAssertEqual(rec.decision, .recover)
        XCTAssertGreaterThanOrEqual(rec.recoveredChangesets, 1)
        XCTAssertEqual(nameOf(r, 100), "local only", "nothing was applied")
        XCTAssertNil(try r.object("Item", primaryKey: 0))
        let last = try XCTUnwrap(seen.progress.all.last)
        XCTAssertEqual(last.0, last.1, "progress ends at received == total")
        XCTAssertGreaterThanOrEqual(last.1, 20)
        XCTAssertThrowsError(try r.previewReset(.manual)) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .invalidArgument) }
        r.close()
    }

    func testReport_fieldsAndKeptBackup() async throws {
        let seen = Seen()
        let r = try await restoredClient(.discard, seen, keepBackup: true)
        try XCTUnwrap(r.syncSession).resume()
        let report = try waitForReport(r)
        XCTAssertEqual(report.cause, .serverRestored)
        XCTAssertEqual(report.mode, .discardUnsyncedChanges)
        XCTAssertEqual(report.decision, .discard)
        XCTAssertEqual(report.action, .clientReset)
        XCTAssertGreaterThanOrEqual(report.objectsDeleted, 1, "Item 2 (and Item 1, absent from the early backup)")
        XCTAssertGreaterThan(report.timings.completedAtMs, 0)
        XCTAssertEqual(report.recoveredChangesets, 0)
        XCTAssertTrue(report.dropped.isEmpty)
        XCTAssertGreaterThanOrEqual(report.discarded.count, 2)
        let backup = try XCTUnwrap(report.backupPath)
        XCTAssertTrue(FileManager.default.fileExists(atPath: backup))
        let b = try Realm(configuration: .init(fileURL: URL(fileURLWithPath: backup), schema: syncSchema))
        XCTAssertEqual(nameOf(b, 2), "offline")
        b.close()
        r.close()
    }

    func testReport_timingsHaveASummaryPhaseAndAddUpToTheTotal() async throws {
        let seen = Seen()
        let r = try await restoredClient(.recover, seen)
        try XCTUnwrap(r.syncSession).resume()
        // The final timings are stored just after the reset's commit: wait for them.
        let t = try waitForReport(r, "the reset's final timings") { $0.timings.commitUs > 0 }.timings
        XCTAssertEqual(t.downloadUs + t.diffUs + t.replayUs + t.summaryUs + t.commitUs, t.totalUs, "\(t)")
        XCTAssertGreaterThan(t.summaryUs, 0, "\(t)")
        // The older millisecond phases lack the summary: with it they make the total within rounding.
        let v1 = t.downloadMs + t.diffMs + t.replayMs + t.commitMs
        XCTAssertLessThanOrEqual(v1, t.totalUs / 1000, "\(t)")
        XCTAssertLessThanOrEqual(t.totalUs / 1000 - v1, t.summaryUs / 1000 + 1, "\(t)")
        r.close()
    }

    func testReport_saysWhatTheFreshCopyTransferred() async throws {
        let seen = Seen()
        let r = try await restoredClient(.discard, seen)
        try XCTUnwrap(r.syncSession).resume()
        let report = try waitForReport(r)
        // The restored server lacks what this client wrote after the backup: the reconciled
        // copy's messages travelled and at least the range of those objects differed.
        XCTAssertGreaterThan(report.transferredBytes, 0, "\(report)")
        XCTAssertGreaterThanOrEqual(report.rangesDiffered, 1, "\(report)")
        r.close()
    }

    func testTwoResetsInARow() async throws {
        let seen = Seen()
        let r = try await restoredClient(.recover, seen)
        let s = try XCTUnwrap(r.syncSession)
        try s.resume()
        let first = try waitForReport(r)
        eventually("reconnected") { (try? s.state) == .connected }
        try await syncAll(r)
        // A second backup, more work, and a second restore.
        try server.admin("backup", "late")
        try r.write { try r.create("Item", primaryKey: 5, ["name": "after first reset"]) }
        try await syncAll(r)
        try s.pause()
        eventually("paused") { (try? s.state) == .disconnected }
        try r.write { try r.create("Item", primaryKey: 6, ["name": "second offline"]) }
        try server.admin("restore", "late")
        try s.resume()
        let second = try waitForReport(r, "the second report") { $0.timings.completedAtMs > first.timings.completedAtMs }
        XCTAssertEqual(second.decision, .recover, "the first reset completed, so the cycle guard does not apply")
        eventually("second after hook") { seen.after.all.count == 2 }
        XCTAssertEqual(seen.before.all.count, 2)
        try await syncAll(r)
        XCTAssertEqual(nameOf(r, 5), "after first reset")
        XCTAssertEqual(nameOf(r, 6), "second offline")
        XCTAssertEqual(nameOf(r, 2), "offline")
        r.close()
    }

    func testSyncSession_statePauseResumeProgressAndWaits() async throws {
        let a = try openClient(server, dir.appendingPathComponent("a.realm"), .recoverOrDiscard, Seen())
        let b = try openClient(server, dir.appendingPathComponent("b.realm"), .recoverOrDiscard, Seen(), user: "bob")
        let s = try XCTUnwrap(a.syncSession)
        let states = Recorder<(ConnectionState, ConnectionState)>()
        let token = try s.observeState { states.append(($0, $1)) }
        eventually("connected") { (try? s.state) == .connected }
        try a.write {
            try a.create("Item", primaryKey: 1, ["name": "from a", "tags": ["x"]])
            try a.create("Person", primaryKey: "ann", ["items": [.link(1)]])
        }
        try await syncAll(a)
        let p = try s.progress
        XCTAssertGreaterThanOrEqual(p.uploadable, 1)
        XCTAssertTrue(p.isUploadComplete)
        try await syncAll(b)
        XCTAssertEqual(nameOf(b, 1), "from a")
        XCTAssertEqual(try b.object("Person", primaryKey: "ann")?["items"], [.link(1)])
        try s.pause()
        XCTAssertTrue(try s.isPaused)
        eventually("disconnected") { (try? s.state) == .disconnected }
        try a.write { try a.set("Item", primaryKey: 1, "name", "offline") }
        do {
            try await s.waitForUpload(timeout: 0.2)
            XCTFail("a paused session cannot upload")
        } catch let e as DriftsyncError {
            XCTAssertEqual(e.code, .timeout)
        }
        try s.resume()
        XCTAssertFalse(try s.isPaused)
        try await syncAll(a)
        try await syncAll(b)
        XCTAssertEqual(nameOf(b, 1), "offline")
        XCTAssertTrue(states.all.contains { $0 == (.connecting, .connected) }, "\(states.all)")
        token.invalidate()
        a.close()
        XCTAssertThrowsError(try s.state) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .closed) }
        b.close()
    }

    func testSyncSession_badTokenReportsASyncError() throws {
        let errors = Recorder<SyncErrorInfo>()
        let sync = SyncConfiguration(url: server.url, token: "wrong-token", realm: "default", startPaused: true)
        let r = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("x.realm"), schema: syncSchema, syncConfiguration: sync))
        let s = try XCTUnwrap(r.syncSession)
        XCTAssertTrue(try s.isPaused)
        let token = try s.observeErrors { errors.append($0) }
        try s.resume()
        eventually("an error") { !errors.isEmpty }
        XCTAssertEqual(errors.first?.serverCode, .badToken)
        XCTAssertEqual(errors.first?.isClientReset, false)
        XCTAssertEqual(try s.lastError?.serverCode, .badToken)
        token.invalidate()
        r.close()
    }

    func testSyncSession_waitEndsWithClosedWhenTheRealmCloses() async throws {
        let r = try openClient(server, dir.appendingPathComponent("w.realm"), .discard, Seen(), startPaused: true)
        try r.write { try r.create("Item", primaryKey: 1) }
        let s = try XCTUnwrap(r.syncSession)
        let waiter = Task { try await s.waitForUpload(timeout: 60) }
        try await Task.sleep(nanoseconds: 300_000_000)
        let started = Date()
        r.close()
        do {
            try await waiter.value
            XCTFail("the wait cannot succeed on a paused session")
        } catch let e as DriftsyncError {
            XCTAssertEqual(e.code, .closed)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "the wait ends when the session stops, not at its timeout")
    }
}
