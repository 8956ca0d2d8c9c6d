import Foundation
import XCTest
@testable import Driftsync

/// Failures that reach the app at once (issue 11), against the reference server: waits throw the
/// error that ends the session, handlers on the configuration see the first connection, progress
/// counts offline changes, the library's log reaches a Swift closure; and every closure handed
/// over for these is released exactly once.
final class FailuresTests: ServerTestCase {
    /// How soon a session-ending error must reach a pending wait.
    let atOnce: TimeInterval = 1

    private func open(_ name: String, token: String = "alice-token", url: String? = nil,
                      _ configure: (inout SyncConfiguration) -> Void = { _ in }) throws -> Realm {
        var sync = SyncConfiguration(url: url ?? server.url, token: token, realm: "default")
        configure(&sync)
        return try Realm(configuration: .init(fileURL: dir.appendingPathComponent(name), schema: syncSchema, syncConfiguration: sync))
    }

    private func item(_ r: Realm, _ id: Int64, _ name: String) throws {
        try r.write { try r.create("Item", primaryKey: .int(id), ["name": .string(name)]) }
    }

    private func goOffline(_ s: SyncSession) throws {
        try s.pause()
        eventually("disconnected") { (try? s.state) == .disconnected }
    }

    private func demandReset() throws {
        try server.admin("terminate")
        try server.admin("enable")
    }

    func testVisibleWaitWithoutTimeoutOnAWrongTokenThrowsTheAuthenticationErrorWithin1s() throws {
        let r = try open("a.realm", token: "wrong-token")
        defer { r.close() }
        try item(r, 1, "pending")
        let s = try XCTUnwrap(r.syncSession)
        let up = PendingCall { try await s.waitForUpload() }  // no timeout
        let outcome = try XCTUnwrap(up.wait(within: atOnce), "waitForUpload did not return within 1 s")
        let e = try XCTUnwrap(outcome.error as? DriftsyncError, "\(String(describing: outcome.error))")
        XCTAssertEqual(e.code, .authentication, "\(e)")
        XCTAssertEqual(e.status, 26)
        XCTAssertTrue(e.message.contains("token"), e.message)
        // A later wait, of either kind, throws at once too.
        let down = PendingCall { try await s.waitForDownload() }
        let later = try XCTUnwrap(down.wait(within: atOnce), "waitForDownload did not return within 1 s")
        XCTAssertEqual((later.error as? DriftsyncError)?.code, .authentication)
        XCTAssertTrue(try s.isPaused, "a fatal error stops the session")
    }

    func testVisibleWaitForDownloadPendingWhenAResetGoesToTheManualHandlerThrowsTheResetError() throws {
        let handled = Recorder<Date>()
        let r = try open("m.realm") { $0.clientResetMode = .manual(errorHandler: { _ in handled.append(Date()) }) }
        defer { r.close() }
        try item(r, 1, "synced")
        try blocking { try await syncAll(r) }
        let s = try XCTUnwrap(r.syncSession)
        try goOffline(s)
        try item(r, 2, "offline")
        let down = PendingCall { try await s.waitForDownload() }  // no timeout
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertNil(down.wait(within: 0), "the wait is pending while offline")
        try demandReset()
        try s.resume()
        let outcome = try XCTUnwrap(down.wait(within: T), "the pending wait never returned")
        let e = try XCTUnwrap(outcome.error as? DriftsyncError, "\(String(describing: outcome.error))")
        XCTAssertEqual(e.code, .clientReset, "\(e)")
        XCTAssertEqual(e.cause, "sync_reenabled")
        eventually("the manual handler ran") { !handled.isEmpty }
        let handledAt = try XCTUnwrap(handled.first)
        XCTAssertLessThan(abs(outcome.at.timeIntervalSince(handledAt)), atOnce, "the wait returned far from the handler call")
    }

    func testVisibleFailedAutomaticResetEndsTheWaits() throws {
        let r = try open("f.realm") { $0.clientResetMode = .discardUnsyncedChanges() }
        defer { r.close() }
        try blocking { try await syncAll(r) }
        let s = try XCTUnwrap(r.syncSession)
        try goOffline(s)
        try item(r, 1, "offline")
        // A directory in the way of the fresh copy makes the automatic reset fail.
        let fresh = dir.appendingPathComponent("f.realm.fresh").appendingPathComponent("in-the-way")
        try FileManager.default.createDirectory(at: fresh, withIntermediateDirectories: true)
        try demandReset()
        try s.resume()
        let up = PendingCall { try await s.waitForUpload(timeout: T) }
        let outcome = try XCTUnwrap(up.wait(within: T + 5), "the wait never returned")
        let e = try XCTUnwrap(outcome.error as? DriftsyncError, "\(String(describing: outcome.error))")
        XCTAssertEqual(e.code, .clientReset, "\(e)")
        XCTAssertTrue(e.message.contains("automatic client reset failed"), e.message)
        XCTAssertEqual(nameOf(r, 1), "offline", "nothing is lost")
    }

    func testVisibleRetryableErrorKeepsTheWaitWaiting() throws {
        let url = server.url
        server.stop()  // the server is down
        let errors = Recorder<SyncErrorInfo>()
        let r = try open("d.realm", url: url) { $0.syncErrorHandler = { errors.append($0) } }
        defer { r.close() }
        try item(r, 1, "pending")
        let s = try XCTUnwrap(r.syncSession)
        let up = PendingCall { try await s.waitForUpload(timeout: 1.5) }
        XCTAssertNil(up.wait(within: 1), "a retryable error does not end the wait")
        let outcome = try XCTUnwrap(up.wait(within: T), "the bounded wait returned")
        XCTAssertEqual((outcome.error as? DriftsyncError)?.code, .timeout, "\(String(describing: outcome.error))")
        XCTAssertFalse(errors.isEmpty, "the error handler saw the refused connections")
        XCTAssertTrue(errors.all.allSatisfy { $0.isRetryable && $0.serverCode == ServerErrorCode.none }, "\(errors.all)")
        XCTAssertFalse(try s.isPaused)
    }

    func testVisibleUnusableURLFailsOpen() throws {
        for url in ["http://127.0.0.1:1", "ws://", "ws://host:notaport"] {
            XCTAssertThrowsError(try open("u.realm", url: url), url) { e in
                XCTAssertEqual((e as? DriftsyncError)?.code, .invalidArgument, "\(url): \(e)")
            }
        }
    }

    func testVisibleHandlersOnTheConfigurationSeeTheFirstConnection() throws {
        let errors = Recorder<SyncErrorInfo>()
        let states = Recorder<(ConnectionState, ConnectionState)>()
        let r = try open("h.realm", token: "wrong-token") {
            $0.syncErrorHandler = { errors.append($0) }
            $0.connectionStateHandler = { states.append(($0, $1)) }
        }
        defer { r.close() }
        eventually("the error handler ran") { !errors.isEmpty }
        let first = try XCTUnwrap(errors.first)
        XCTAssertEqual(first.serverCode, .badToken)
        XCTAssertFalse(first.isRetryable)
        let firstState = try XCTUnwrap(states.first)
        XCTAssertEqual(firstState.0, .disconnected)
        XCTAssertEqual(firstState.1, .connecting)
    }

    func testVisibleProgressCountsLocalChangesWhileOffline() throws {
        let r = try open("p.realm") { $0.startPaused = true }
        defer { r.close() }
        let s = try XCTUnwrap(r.syncSession)
        let base = try s.progress
        try item(r, 1, "a")
        try item(r, 2, "b")
        let p = try s.progress
        XCTAssertEqual(p.uploadable, base.uploadable + 2)
        XCTAssertFalse(p.isUploadComplete, "changes are pending")
        try s.resume()
        try blocking { try await s.waitForUpload(timeout: T) }
        XCTAssertTrue(try s.progress.isUploadComplete)
    }

    func testVisibleLibraryLogReachesTheSwiftHandlerByCategory() throws {
        let lines = Recorder<(LogLevel, String, String)>()
        try DriftsyncLog.setHandler(level: .debug) { lines.append(($0, $1, $2)) }
        defer { try? DriftsyncLog.removeHandler() }
        let r = try open("log.realm") { $0.clientResetMode = .discardUnsyncedChanges() }
        try blocking { try await syncAll(r) }
        let s = try XCTUnwrap(r.syncSession)
        try goOffline(s)
        try item(r, 1, "offline")
        try demandReset()
        try s.resume()
        _ = try waitForReport(r)
        try blocking { try await syncAll(r) }
        r.close()
        let byCategory = Dictionary(grouping: lines.all, by: { $0.1 }).mapValues { $0.map { $0.2 } }
        XCTAssertTrue(byCategory["storage", default: []].contains { $0.contains("log.realm") }, "\(byCategory.keys)")
        XCTAssertTrue(byCategory["sync", default: []].contains { $0.hasPrefix("bound ") }, "\(byCategory["sync", default: []])")
        let reset = byCategory["reset", default: []]
        for step in ["decide: Discard", "download: ", "diff: ", "replay: ", "commit: "] {
            XCTAssertTrue(reset.contains { $0.hasPrefix(step) }, "\(step) in \(reset)")
        }
        XCTAssertTrue(lines.all.allSatisfy { $0.0 != .off && $0.0 <= .debug }, "every line is at the threshold or more severe")
    }

    func testVisibleLogThresholdLeavesOutLessSevereLines() throws {
        let lines = Recorder<(LogLevel, String, String)>()
        try DriftsyncLog.setHandler(level: .warn) { lines.append(($0, $1, $2)) }
        defer { try? DriftsyncLog.removeHandler() }
        // Opening logs "opened …" at info: below the threshold.
        let r = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("quiet.realm"), schema: localSchema))
        r.close()
        XCTAssertFalse(lines.all.contains { $0.2.contains("quiet.realm") }, "\(lines.all.map { $0.2 })")
        XCTAssertTrue(lines.all.allSatisfy { $0.0 <= .warn }, "\(lines.all.map { ($0.0, $0.2) })")
        // The same open at info is logged, so the line exists and only the threshold kept it out.
        try DriftsyncLog.setHandler(level: .info) { lines.append(($0, $1, $2)) }
        let r2 = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("quiet.realm"), schema: localSchema))
        r2.close()
        XCTAssertTrue(lines.all.contains { $0.1 == "storage" && $0.2.contains("quiet.realm") && $0.0 == .info }, "\(lines.all.map { $0.2 })")
    }

    func testVisibleReplacingTheLogHandlerReleasesTheOldOneOnce() throws {
        let counter = DeinitCounter()
        let liveBefore = CallbackContext.live
        let releasesBefore = CallbackContext.releases
        do {
            try DriftsyncLog.setHandler(level: .info) { [a = counter.make()] _, _, _ in _ = a }
            XCTAssertEqual(counter.count, 0, "nothing released while installed")
            try DriftsyncLog.setHandler(level: .info) { [b = counter.make()] _, _, _ in _ = b }
            eventually("the first handler released") { counter.count == 1 }
            XCTAssertEqual(CallbackContext.releases - releasesBefore, 1, "replacing released exactly the old one")
            try DriftsyncLog.removeHandler()
            eventually("the second handler released") { counter.count == 2 }
            try DriftsyncLog.removeHandler()  // removing nothing is fine and releases nothing
        }
        XCTAssertEqual(CallbackContext.releases - releasesBefore, 2, "user_data_free ran once per handler")
        XCTAssertEqual(CallbackContext.live, liveBefore)
        XCTAssertEqual(counter.count, 2)
    }

    func testVisibleConfigurationHandlersAreReleasedOnce() throws {
        let counter = DeinitCounter()
        let liveBefore = CallbackContext.live
        let releasesBefore = CallbackContext.releases
        do {
            let r = try open("ctx.realm") {
                $0.syncErrorHandler = { [e = counter.make()] _ in _ = e }
                $0.connectionStateHandler = { [s = counter.make()] _, _ in _ = s }
            }
            eventually("connected") { (try? r.syncSession?.state) == .connected }
            XCTAssertEqual(counter.count, 0, "nothing released while the session runs")
            r.close()
            // A refused open releases the handlers its built configuration took.
            XCTAssertThrowsError(try open("bad.realm", url: "ws://") {
                $0.syncErrorHandler = { [e = counter.make()] _ in _ = e }
                $0.connectionStateHandler = { [s = counter.make()] _, _ in _ = s }
            })
        }
        eventually("every context released") { CallbackContext.live == liveBefore }
        XCTAssertEqual(CallbackContext.releases - releasesBefore, 4, "user_data_free ran once per handler")
        XCTAssertEqual(counter.count, 4, "each captured object was released once")
    }

    /// A realm closed from inside its own observer is closed but not yet freed (a call is in
    /// flight); reopening the file then must use the new configuration, not the first one's.
    func testVisibleReopenAfterACloseInsideAnObserverUsesTheNewConfiguration() throws {
        let firstErrors = Recorder<SyncErrorInfo>()
        let first = try open("re.realm") { $0.syncErrorHandler = { firstErrors.append($0) } }
        let token = try first.observe { _ in first.close() }
        try item(first, 1, "closes the realm")
        XCTAssertTrue(first.isClosed)
        let secondErrors = Recorder<SyncErrorInfo>()
        let second = try open("re.realm", token: "wrong-token") { $0.syncErrorHandler = { secondErrors.append($0) } }
        defer { second.close() }
        eventually("the new handler sees the refused token") { !secondErrors.isEmpty }
        XCTAssertEqual(secondErrors.first?.serverCode, .badToken)
        XCTAssertTrue(firstErrors.isEmpty, "the first configuration's handler is not used: \(firstErrors.all)")
        // While `second` is open, an open with other sync settings is refused, not ignored.
        XCTAssertThrowsError(try open("re.realm")) { e in
            XCTAssertEqual((e as? DriftsyncError)?.code, .invalidArgument, "\(e)")
            XCTAssertTrue((e as? DriftsyncError)?.message.contains("user token") ?? false, "\(e)")
        }
        token.invalidate()
    }
}

/// An async call running on a task; `wait(within:)` gives its outcome (the error, or nil, and
/// when it returned), or nil while it is still running.
final class PendingCall: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var outcome: (error: Error?, at: Date)?

    init(_ body: @escaping () async throws -> Void) {
        Task.detached { [self] in
            var failure: Error?
            do { try await body() } catch { failure = error }
            finish(failure)
        }
    }

    private func finish(_ failure: Error?) {
        lock.lock()
        outcome = (failure, Date())
        lock.unlock()
        done.signal()
    }

    func wait(within seconds: TimeInterval) -> (error: Error?, at: Date)? {
        lock.lock()
        if let o = outcome { lock.unlock(); return o }
        lock.unlock()
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        done.signal()  // later calls see it too
        lock.lock(); defer { lock.unlock() }
        return outcome
    }
}

/// Runs an async call to its end from a synchronous test.
func blocking(_ body: @escaping () async throws -> Void) throws {
    let call = PendingCall(body)
    guard let outcome = call.wait(within: 3 * T) else { throw DriftsyncError(code: .timeout, message: "the call did not end") }
    if let e = outcome.error { throw e }
}
