import Foundation
import XCTest
@testable import Driftsync

/// Nothing leaks and nothing is released twice: file descriptors across open/close cycles, and
/// every callback context handed to the library freed exactly once.
final class LifecycleTests: XCTestCase {
    var dir: URL!

    override func setUp() { dir = makeTempDir() }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testLifecycle_thousandOpenCloseCyclesDoNotGrowOpenFileDescriptors() throws {
        let config = Realm.Configuration(fileURL: dir.appendingPathComponent("cycle.realm"), schema: localSchema)
        func cycle(_ i: Int) throws {
            let r = try Realm(configuration: config)
            let token = try r.observe { _ in }
            try r.write { try r.upsert("Dog", primaryKey: .int(Int64(i % 10)), ["name": .string("n\(i)")]) }
            let frozen = try r.freeze()
            _ = try frozen.count("Dog")
            frozen.close()
            token.invalidate()
            r.close()
        }
        try cycle(0)  // warm-up: lazily created process-wide state
        let fds = openFileDescriptors()
        let contexts = CallbackContext.live
        XCTAssertGreaterThan(fds, 0, "/proc/self/fd is readable")
        for i in 1...1000 { try cycle(i) }
        // A leak grows the count; an earlier test's sync threads may still let go of theirs.
        XCTAssertLessThanOrEqual(openFileDescriptors(), fds, "file descriptors leaked")
        XCTAssertEqual(CallbackContext.live, contexts, "observer contexts leaked")
        let r = try Realm(configuration: config)
        XCTAssertEqual(try r.count("Dog"), 10)
        r.close()
    }

    func testLifecycle_syncedOpenCloseCyclesReleaseSessionsAndContexts() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let path = dir.appendingPathComponent("synced.realm")
        func cycle() throws {
            let r = try openClient(server, path, .recover, Seen())
            let s = try XCTUnwrap(r.syncSession)
            eventually("connected") { (try? s.state) == .connected }
            let t = try s.observeState { _, _ in }
            t.invalidate()
            r.close()
        }
        try cycle()
        let fds = openFileDescriptors()
        let contexts = CallbackContext.live
        for _ in 0..<30 { try cycle() }
        // The sync thread lets go of the hooks when it stops; give it a moment.
        eventually("contexts released") { CallbackContext.live == contexts }
        eventually("file descriptors back to \(fds)") { openFileDescriptors() <= fds }
    }

    func testLifecycle_eachCallbackContextIsFreedExactlyOnce() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let counter = DeinitCounter()
        let liveBefore = CallbackContext.live
        let releasesBefore = CallbackContext.releases
        do {
            // Four closures of the configuration (before, after, manual fallback, progress),
            // each the only owner of one tracked object.
            var sync = SyncConfiguration(url: server.url, token: "alice-token", realm: "default",
                                         clientResetMode: .recoverUnsyncedChanges(beforeReset: { [b = counter.make()] _ in _ = b },
                                                                                  afterReset: { [a = counter.make()] _, _, _ in _ = a }))
            sync.manualResetFallback = { [m = counter.make()] _ in _ = m }
            sync.downloadProgress = { [p = counter.make()] _, _ in _ = p }
            let r = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("ctx.realm"), schema: syncSchema, syncConfiguration: sync))
            // Observer, state and error callbacks, and an AsyncStream's observer.
            let t1 = try r.observe { [o = counter.make()] _ in _ = o }
            let t2 = try XCTUnwrap(r.syncSession).observeState { [st = counter.make()] _, _ in _ = st }
            let t3 = try XCTUnwrap(r.syncSession).observeErrors { [er = counter.make()] _ in _ = er }
            var stream: AsyncStream<RealmChanges>? = try r.changes()
            XCTAssertEqual(CallbackContext.live, liveBefore + 8)
            XCTAssertEqual(counter.count, 0, "nothing released while registered")
            t1.invalidate()
            t1.invalidate()
            XCTAssertEqual(counter.count, 1, "the observer's closure is released when its token is invalidated")
            t2.invalidate()
            _ = t3  // released with the realm below
            stream = nil
            _ = stream
            r.close()
        }
        eventually("every context released") { CallbackContext.live == liveBefore }
        XCTAssertEqual(CallbackContext.releases - releasesBefore, 8, "user_data_free ran once per context")
        XCTAssertEqual(counter.count, 7, "each captured object was released once")
    }

    func testLifecycle_failedRegistrationsReleaseTheirContexts() throws {
        let counter = DeinitCounter()
        let liveBefore = CallbackContext.live
        let releasesBefore = CallbackContext.releases
        do {
            let r = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("f.realm"), schema: localSchema))
            r.close()
            XCTAssertThrowsError(try r.observe { [o = counter.make()] _ in _ = o }) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .closed) }
            // The config is built (its hooks handed over), then opening fails: the config's
            // free releases them.
            let sync = SyncConfiguration(url: "ws://127.0.0.1:9", token: "t", realm: "default",
                                         clientResetMode: .discardUnsyncedChanges(beforeReset: { [h = counter.make()] _ in _ = h }))
            XCTAssertThrowsError(try Realm(configuration: .init(fileURL: dir.appendingPathComponent("no/such/dir/x.realm"), schema: syncSchema, syncConfiguration: sync)))
            // An unknown class: the library refuses the registration and frees the context itself.
            let r2 = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("g.realm"), schema: localSchema))
            XCTAssertThrowsError(try r2.observe(className: "Cat") { [c = counter.make()] _ in _ = c }) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .unknownClass) }
            r2.close()
        }
        XCTAssertEqual(CallbackContext.live, liveBefore)
        // The closed realm's observer never reached the library (the binding refused it first);
        // the config's hook and the refused class observer were freed by the library.
        XCTAssertEqual(CallbackContext.releases - releasesBefore, 2)
        XCTAssertEqual(counter.count, 3)
    }
}
