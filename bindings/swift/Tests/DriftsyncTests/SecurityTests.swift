import Foundation
import XCTest
@testable import Driftsync

/// wss:// against the reference server with a CA made at test time (examples/test_pki), and the
/// refusal of cleartext to a host that is not loopback.
final class SecurityTests: XCTestCase {
    var dir: URL!
    var pki: TestPKI!
    /// A server speaking wss:// with `pki`'s certificate. Started here, on XCTest's main thread:
    /// a child started from an async test's thread inherits its blocked SIGTERM and never stops.
    var server: ServerProcess!

    override func setUpWithError() throws {
        dir = makeTempDir()
        pki = try TestPKI()
        server = try ServerProcess(tlsDir: pki.dir)
    }

    override func tearDown() {
        server?.stop()
        try? FileManager.default.removeItem(at: dir)
    }

    private func openTLS(_ server: ServerProcess, _ file: String, user: String = "alice", trusting pems: [String]) throws -> Realm {
        var sync = SyncConfiguration(url: server.url, token: "\(user)-token", realm: "default")
        sync.trustedCAPEMs = pems
        return try Realm(configuration: .init(fileURL: dir.appendingPathComponent(file), schema: syncSchema, syncConfiguration: sync))
    }

    func testSecurityWssSyncWithACAMadeAtTestTime() async throws {
        XCTAssertTrue(server.url.hasPrefix("wss://"), server.url)
        let a = try openTLS(server, "a.realm", trusting: [try pki.caPEM])
        let b = try openTLS(server, "b.realm", user: "bob", trusting: [try pki.caPEM])
        defer { a.close(); b.close() }
        try a.write { try a.create("Item", primaryKey: 1, ["name": "over tls"]) }
        try await syncAll(a)
        try await syncAll(b)
        XCTAssertEqual(nameOf(b, 1), "over tls")
    }

    func testSecurityWssWithAnUntrustedCAFailsAtOnceWithoutRetrying() async throws {
        let other = try TestPKI()
        let errors = Recorder<SyncErrorInfo>()
        var sync = SyncConfiguration(url: server.url, token: "alice-token", realm: "default")
        sync.trustedCAPEMs = [try other.caPEM]
        sync.syncErrorHandler = { errors.append($0) }
        let a = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("a.realm"), schema: syncSchema, syncConfiguration: sync))
        defer { a.close() }
        try a.write { try a.create("Item", primaryKey: 1, ["name": "never uploaded"]) }
        let s = try XCTUnwrap(a.syncSession)
        // The wait ends with the TLS failure, long before its own timeout.
        let started = Date()
        do {
            try await s.waitForUpload(timeout: T)
            XCTFail("the upload over an untrusted certificate was acknowledged")
        } catch let e as DriftsyncError {
            // A fatal sync error (not `.timeout`), naming the certificate problem.
            XCTAssertEqual(e.code, .sync, "\(e)")
            XCTAssertTrue(e.message.contains("certificate is not accepted"), e.message)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), T / 2)
        eventually("the session pauses with the TLS error") { ((try? s.isPaused) ?? false) && (try? s.lastError) != nil }
        let last = try XCTUnwrap(try s.lastError)
        XCTAssertFalse(last.isRetryable, "\(last)")
        XCTAssertEqual(last.action, .fatal)
        XCTAssertTrue(last.message.contains("certificate"), last.message)
        // Not retried: no second attempt follows the first failure.
        try await Task.sleep(nanoseconds: 500_000_000)
        XCTAssertEqual(errors.all.count, 1, "\(errors.all.map(\.message))")
    }

    func testSecurityCleartextToAHostThatIsNotLoopbackIsRefusedAtOpen() throws {
        var sync = SyncConfiguration(url: "ws://203.0.113.7:9", token: "t", realm: "default", startPaused: true)
        let config = Realm.Configuration(fileURL: dir.appendingPathComponent("a.realm"), schema: syncSchema, syncConfiguration: sync)
        XCTAssertThrowsError(try Realm(configuration: config)) { e in
            XCTAssertEqual((e as? DriftsyncError)?.code, .invalidArgument, "\(e)")
            XCTAssertTrue((e as? DriftsyncError)?.message.contains("cleartext") ?? false, "\(e)")
        }
        sync.allowCleartext = true
        try Realm(configuration: .init(fileURL: dir.appendingPathComponent("a.realm"), schema: syncSchema, syncConfiguration: sync)).close()
    }

    func testSecurityATrustedCAThatIsNotPEMIsRefusedAtOpen() throws {
        var sync = SyncConfiguration(url: "wss://localhost:1", token: "t", realm: "default", startPaused: true)
        sync.trustedCAPEMs = ["not a certificate"]
        let config = Realm.Configuration(fileURL: dir.appendingPathComponent("b.realm"), schema: syncSchema, syncConfiguration: sync)
        XCTAssertThrowsError(try Realm(configuration: config)) { e in
            XCTAssertEqual((e as? DriftsyncError)?.code, .invalidArgument, "\(e)")
        }
    }
}
