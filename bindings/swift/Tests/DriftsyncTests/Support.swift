import Driftsync
import Foundation
import XCTest

/// The schema the server and the clients share (as the other bindings' tests).
let syncSchemaClasses: [ObjectSchema] = [
    ObjectSchema("Item", primaryKey: "id", properties: [
        Property("id", .int),
        Property("name", .string),
        Property("count", .int),
        Property("tags", .string, list: true),
        Property("next", .link, optional: true, target: "Item"),
    ]),
    ObjectSchema("Person", primaryKey: "name", properties: [
        Property("name", .string),
        Property("items", .link, list: true, target: "Item"),
        Property("age", .int, optional: true),
    ]),
]
let syncSchema = Schema(syncSchemaClasses)
let schemaWithExtraClass = Schema(syncSchemaClasses + [
    ObjectSchema("Note", primaryKey: "id", properties: [Property("id", .int), Property("text", .string)]),
])
/// `Item.count` turned into a string: a breaking change.
let breakingSchema: Schema = {
    var classes = syncSchemaClasses
    classes[0].properties[2] = Property("count", .string)
    return Schema(classes)
}()

let adminToken = "admin-secret"
let appToml = """
admin_token = "\(adminToken)"
is_recovery_mode_disabled = false
client_max_offline_days = 30
schema_file = "schema.json"

[users.alice]
token = "alice-token"
role = "editor"

[users.bob]
token = "bob-token"
role = "editor"

[roles.editor]
realms = ["*"]
read = ["*"]
write = ["*"]

[roles.editor2]
realms = ["*"]
read = ["*"]
write = ["*"]

[roles.reader]
realms = ["*"]
read = ["*"]
write = []
"""

/// The repository root (above bindings/swift).
let repoRoot: URL = {
    var d = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while d.path != "/" {
        if FileManager.default.fileExists(atPath: d.appendingPathComponent("Cargo.toml").path),
           FileManager.default.fileExists(atPath: d.appendingPathComponent("server").path) {
            return d
        }
        d = d.deletingLastPathComponent()
    }
    fatalError("cannot find the driftsync repository above the tests")
}()

/// The reference server binary: DRIFTSYNC_SERVER_BIN (set by scripts/test-swift.sh), else the
/// cargo build tree.
let serverBinary: String = ProcessInfo.processInfo.environment["DRIFTSYNC_SERVER_BIN"]
    ?? repoRoot.appendingPathComponent("target/debug/driftsync-server").path

/// A fresh directory under the system's temporary directory.
func makeTempDir(_ prefix: String = "driftsync-swift") -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// A running `driftsync-server serve` child process on a loopback port of its choosing.
final class ServerProcess {
    let dir: URL
    let process = Process()
    private(set) var url = ""
    private(set) var adminUrl = ""
    private let logLock = NSLock()
    private var logText = ""

    /// With `tlsDir` (holding server.pem and server.key, see `TestPKI`) the server speaks wss://.
    init(tlsDir: URL? = nil) throws {
        dir = makeTempDir("driftsync-server")
        try syncSchema.json.write(to: dir.appendingPathComponent("schema.json"), atomically: true, encoding: .utf8)
        var toml = appToml
        if let tlsDir {
            toml += "\n[tls]\ncert_chain_file = \"\(tlsDir.appendingPathComponent("server.pem").path)\"\n"
                + "key_file = \"\(tlsDir.appendingPathComponent("server.key").path)\"\n"
        }
        try toml.write(to: dir.appendingPathComponent("app.toml"), atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: serverBinary)
        process.arguments = ["serve", "--config", dir.appendingPathComponent("app.toml").path,
                             "--data", dir.appendingPathComponent("data").path, "--listen", "127.0.0.1:0"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let found = DispatchSemaphore(value: 0)
        // Drains the output for the server's whole life (a full pipe would block it).
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let data = h.availableData
            guard let self else { return }
            if data.isEmpty { h.readabilityHandler = nil; return }
            self.logLock.lock()
            self.logText += String(decoding: data, as: UTF8.self)
            // Both lines: `listening on URL`, then `admin on URL` (the admin listener).
            let wasEmpty = self.adminUrl.isEmpty
            if self.url.isEmpty, let r = self.logText.range(of: #"listening on (wss?://\S+)"#, options: .regularExpression) {
                self.url = String(self.logText[r].dropFirst("listening on ".count))
            }
            if wasEmpty, let r = self.logText.range(of: #"admin on (wss?://\S+)"#, options: .regularExpression) {
                self.adminUrl = String(self.logText[r].dropFirst("admin on ".count))
            }
            let nowKnown = wasEmpty && !self.adminUrl.isEmpty && !self.url.isEmpty
            self.logLock.unlock()
            if nowKnown { found.signal() }
        }
        try process.run()
        if found.wait(timeout: .now() + 60) == .timedOut {
            stop()
            throw NSError(domain: "ServerProcess", code: 1, userInfo: [NSLocalizedDescriptionKey: "the server did not print its address: \(log)"])
        }
    }

    var log: String { logLock.lock(); defer { logLock.unlock() }; return logText }

    /// Runs `driftsync-server admin --url URL --admin-token T ARGS` and returns its output.
    @discardableResult
    func admin(_ args: String...) throws -> String {
        try runTool(serverBinary, ["admin", "--url", adminUrl, "--admin-token", adminToken] + args,
                    what: "admin \(args.joined(separator: " "))")
    }

    func apply(schema: Schema) throws {
        let f = dir.appendingPathComponent("schema-\(UUID().uuidString).json")
        try schema.json.write(to: f, atomically: true, encoding: .utf8)
        try admin("schema", "apply", f.path)
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dir)
    }

    deinit { stop() }
}

/// Runs a tool to its end and returns its output (stdout and stderr); a non-zero exit throws.
@discardableResult
func runTool(_ path: String, _ args: [String], what: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    if p.terminationStatus != 0 {
        throw NSError(domain: "runTool", code: Int(p.terminationStatus),
                      userInfo: [NSLocalizedDescriptionKey: "\(what) failed: \(text)"])
    }
    return text
}

/// The test CA tool: DRIFTSYNC_TEST_PKI (set by scripts/test-swift.sh), else the cargo build tree.
let testPKIBinary: String = ProcessInfo.processInfo.environment["DRIFTSYNC_TEST_PKI"]
    ?? repoRoot.appendingPathComponent("target/debug/examples/test_pki").path

/// A CA and a server certificate for localhost / 127.0.0.1 it signed, made fresh by
/// `examples/test_pki` into `dir` (ca.pem, server.pem, server.key).
final class TestPKI {
    let dir = makeTempDir("driftsync-pki")

    init() throws {
        try runTool(testPKIBinary, [dir.path], what: "test_pki")
    }

    var caPEM: String { get throws { try String(contentsOf: dir.appendingPathComponent("ca.pem"), encoding: .utf8) } }

    deinit { try? FileManager.default.removeItem(at: dir) }
}

/// Polls `condition` until it is true (or fails the test after `timeout` seconds).
@discardableResult
func eventually(_ what: String, timeout: TimeInterval = 30, file: StaticString = #filePath, line: UInt = #line,
                _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    XCTFail("timed out waiting for: \(what)", file: file, line: line)
    return false
}

/// The open file descriptors of this process.
func openFileDescriptors() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// A thread-safe list the callbacks of a test append to (they run on the sync thread).
final class Recorder<T> {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ x: T) { lock.lock(); items.append(x); lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
    var first: T? { all.first }
    var isEmpty: Bool { all.isEmpty }
    func removeAll() { lock.lock(); items.removeAll(); lock.unlock() }
}

/// Counts how often objects of a kind were deinitialized: each callback closure of the
/// lifecycle tests captures one, so its release is counted.
final class DeinitCounter {
    private let lock = NSLock()
    private var n = 0
    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
    func bump() { lock.lock(); n += 1; lock.unlock() }

    final class Tracked {
        let counter: DeinitCounter
        init(_ counter: DeinitCounter) { self.counter = counter }
        deinit { counter.bump() }
    }

    func make() -> Tracked { Tracked(self) }
}

struct HookFailure: Error, CustomStringConvertible {
    let text: String
    var description: String { "HookFailure: \(text)" }
}

func nameOf(_ r: Realm, _ id: Int64) -> String? {
    (try? r.object("Item", primaryKey: .int(id)))??["name"]?.stringValue
}
