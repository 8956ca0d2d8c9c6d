import Foundation
import XCTest
@testable import Driftsync

let localSchema = Schema([
    ObjectSchema("Dog", primaryKey: "id", properties: [
        Property("id", .int),
        Property("name", .string),
        Property("age", .int, optional: true),
        Property("weight", .double),
        Property("good", .bool),
        Property("photo", .binary, optional: true),
        Property("born", .timestamp, optional: true),
        Property("oid", .objectId, optional: true),
        Property("uid", .uuid, optional: true),
        Property("tags", .string, list: true),
        Property("owner", .link, optional: true, target: "Person"),
        Property("friends", .link, list: true, target: "Dog"),
    ]),
    ObjectSchema("Person", primaryKey: "name", properties: [Property("name", .string), Property("age", .int, optional: true)]),
])

final class RealmTests: XCTestCase {
    var dir: URL!

    override func setUp() { dir = makeTempDir() }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func openLocal(_ name: String = "local.realm", schema: Schema = localSchema) throws -> Realm {
        try Realm(configuration: .init(fileURL: dir.appendingPathComponent(name), schema: schema))
    }

    func testVersionMatchesHeader() {
        XCTAssertEqual(driftsyncVersion, "0.1.0")
        XCTAssertEqual(driftsyncABIVersion, driftsyncHeaderABIVersion)
    }

    func testPanicInsideTheLibraryIsATypedError() {
        XCTAssertThrowsError(try debugPanic()) {
            let e = $0 as? DriftsyncError
            XCTAssertEqual(e?.code, .panic)
            XCTAssertEqual(e?.status, 1002)
            XCTAssertFalse(e?.message.isEmpty ?? true)
        }
    }

    func testCreateGetSetDeleteEveryType() throws {
        let r = try openLocal()
        defer { r.close() }
        let oid = ObjectId(hex: "0102030405060708090a0b0c")!
        let uid = UUID()
        try r.write {
            try r.create("Person", primaryKey: "ann", ["age": 40])
            try r.create("Dog", primaryKey: 1, [
                "name": "Rex", "age": nil, "weight": 12.5, "good": true, "photo": .binary([0, 1, 255]),
                "born": .timestamp(nanoseconds: 1_700_000_000_123_456_789), "oid": .objectId(oid), "uid": .uuid(uid),
                "tags": ["a", "b"], "owner": .link("ann"),
            ])
        }
        let dog = try XCTUnwrap(try r.object("Dog", primaryKey: 1))
        XCTAssertEqual(dog.className, "Dog")
        XCTAssertEqual(dog.primaryKey, 1)
        XCTAssertEqual(dog["name"], "Rex")
        XCTAssertEqual(dog["age"], .null)
        XCTAssertEqual(dog["weight"], 12.5)
        XCTAssertEqual(dog["good"], true)
        XCTAssertEqual(dog["photo"], .binary([0, 1, 255]))
        XCTAssertEqual(dog["born"], .timestamp(nanoseconds: 1_700_000_000_123_456_789))
        XCTAssertEqual(dog["oid"], .objectId(oid))
        XCTAssertEqual(dog["uid"], .uuid(uid))
        XCTAssertEqual(dog["tags"], ["a", "b"])
        XCTAssertEqual(dog["owner"], .link("ann"))
        XCTAssertEqual(try r.count("Dog"), 1)

        try r.write {
            try r.set("Dog", primaryKey: 1, "name", "Max")
            try r.set("Dog", primaryKey: 1, "tags", ["z"])
            try r.upsert("Dog", primaryKey: 2, ["name": "Two", "friends": [.link(1)]])
        }
        XCTAssertEqual(try r.get("Dog", primaryKey: 1, "name"), "Max")
        XCTAssertEqual(try r.object("Dog", primaryKey: 1)?["tags"], ["z"])
        XCTAssertEqual(try r.objects("Dog").map(\.primaryKey), [1, 2])

        try r.write { try r.delete("Person", primaryKey: "ann") }
        XCTAssertEqual(try r.get("Dog", primaryKey: 1, "owner"), .null, "a link to a deleted object becomes null")
        try r.write { try r.delete("Dog", primaryKey: 1) }
        XCTAssertNil(try r.object("Dog", primaryKey: 1))
        XCTAssertEqual(try r.object("Dog", primaryKey: 2)?["friends"], [], "a deleted object leaves lists of links")
    }

    func testListOperations() throws {
        let r = try openLocal()
        defer { r.close() }
        try r.write { try r.create("Dog", primaryKey: 1) }
        let tags = r.list("Dog", primaryKey: 1, "tags")
        try r.write {
            try tags.append("b")
            try tags.insert("a", at: 0)
            try tags.append("c")
            try tags.set("C", at: 2)
            try tags.move(from: 0, to: 2)
        }
        XCTAssertEqual(try tags.elements(), ["b", "C", "a"])
        XCTAssertEqual(try tags.count(), 3)
        XCTAssertEqual(try tags.element(at: 1), "C")
        try r.write { try tags.remove(at: 0) }
        XCTAssertEqual(try tags.elements(), ["C", "a"])
        try r.write { try tags.removeAll() }
        XCTAssertEqual(try tags.count(), 0)
        XCTAssertThrowsError(try tags.element(at: 0)) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .indexOutOfRange) }
    }

    func testWriteThatThrowsRollsBack() throws {
        let r = try openLocal()
        defer { r.close() }
        struct Boom: Error {}
        XCTAssertThrowsError(try r.write {
            try r.create("Dog", primaryKey: 1, ["name": "never"])
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertFalse(r.isInWriteTransaction)
        XCTAssertNil(try r.object("Dog", primaryKey: 1))
        // A failed operation inside write: the library error is rethrown, nothing is kept.
        XCTAssertThrowsError(try r.write {
            try r.create("Dog", primaryKey: 2)
            try r.create("Dog", primaryKey: 2)
        }) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .duplicatePrimaryKey) }
        XCTAssertEqual(try r.count("Dog"), 0)
        // The write's result is returned.
        XCTAssertEqual(try r.write { try r.create("Dog", primaryKey: 3); return 42 }, 42)
    }

    func testBadInputThrowsTypedErrors() throws {
        let r = try openLocal()
        defer { r.close() }
        func code(_ body: () throws -> Void) -> ErrorCode? {
            do { try body(); return nil } catch let e as DriftsyncError {
                XCTAssertFalse(e.message.isEmpty, "\(e) has a message")
                return e.code
            } catch { XCTFail("not a DriftsyncError: \(error)"); return nil }
        }
        XCTAssertEqual(code { try r.create("Dog", primaryKey: 1) }, .notInWriteTransaction)
        try r.write {
            XCTAssertEqual(code { try r.create("Cat", primaryKey: 1) }, .unknownClass)
            XCTAssertEqual(code { try r.create("Dog", primaryKey: "one") }, .typeMismatch)
            XCTAssertEqual(code { try r.create("Dog", primaryKey: 1, ["name": 5]) }, .typeMismatch)
            XCTAssertEqual(code { try r.create("Dog", primaryKey: 1, ["nope": 5]) }, .unknownProperty)
            XCTAssertEqual(code { try r.create("Dog", primaryKey: 1, ["owner": .link(7)]) }, .typeMismatch)
            try r.create("Dog", primaryKey: 1)
            XCTAssertEqual(code { try r.set("Dog", primaryKey: 1, "weight", "heavy") }, .typeMismatch)
            XCTAssertEqual(code { try r.set("Dog", primaryKey: 99, "name", "x") }, .objectNotFound)
            XCTAssertEqual(code { try r.list("Dog", primaryKey: 1, "name").append("x") }, .typeMismatch)
            XCTAssertEqual(code { try r.list("Dog", primaryKey: 1, "tags").append(["nested"]) }, .typeMismatch)
            XCTAssertEqual(code { try r.delete("Dog", primaryKey: 5) }, .objectNotFound)
        }
        XCTAssertEqual(code { _ = try r.objects("Cat") }, .unknownClass)
        XCTAssertEqual(code { _ = try r.get("Dog", primaryKey: 1, "tags") }, .typeMismatch)
        XCTAssertEqual(try r.objects("Dog").count, 1, "only the valid create was kept")
        XCTAssertEqual(code { _ = try Realm(configuration: .init(fileURL: self.dir.appendingPathComponent("x.realm"), schema: Schema(json: "{nope"))) }, .invalidSchema)
        XCTAssertEqual(code { _ = try Realm(configuration: .init(fileURL: self.dir.appendingPathComponent("no/such/dir/x.realm"), schema: localSchema)) }, .fileIO)
        try "not a realm".write(to: dir.appendingPathComponent("text.realm"), atomically: true, encoding: .utf8)
        XCTAssertEqual(code { _ = try self.openLocal("text.realm") }, .fileNotRealm)
        XCTAssertEqual(code { _ = try r.previewReset(.discard) }, .invalidArgument, "a local realm has no sync")
        XCTAssertNil(r.syncSession)
        XCTAssertNil(try r.lastResetReport())
    }

    func testClosedRealmThrowsClosed() throws {
        let r = try openLocal()
        r.close()
        r.close()
        XCTAssertTrue(r.isClosed)
        XCTAssertThrowsError(try r.count("Dog")) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .closed) }
    }

    func testFreezeIsASnapshotAndReadOnly() throws {
        let r = try openLocal()
        defer { r.close() }
        try r.write { try r.create("Dog", primaryKey: 1, ["name": "old"]) }
        let frozen = try r.freeze()
        XCTAssertTrue(frozen.isFrozen)
        XCTAssertFalse(r.isFrozen)
        try r.write { try r.set("Dog", primaryKey: 1, "name", "new") }
        XCTAssertEqual(try frozen.get("Dog", primaryKey: 1, "name"), "old")
        XCTAssertEqual(try r.get("Dog", primaryKey: 1, "name"), "new")
        XCTAssertThrowsError(try frozen.write { try frozen.create("Dog", primaryKey: 2) }) {
            XCTAssertEqual(($0 as? DriftsyncError)?.code, .writeOnFrozen)
        }
        XCTAssertThrowsError(try frozen.freeze()) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .invalidArgument) }
        frozen.close()
    }

    func testObserveDeliversChangesUntilTokenInvalidated() throws {
        let r = try openLocal()
        defer { r.close() }
        let seen = Recorder<RealmChanges>()
        let token = try r.observe { seen.append($0) }
        let dogOnly = Recorder<RealmChanges>()
        let classToken = try r.observe(className: "Person") { dogOnly.append($0) }
        let one = Recorder<RealmChanges>()
        let objectToken = try r.observe("Dog", primaryKey: 1) { one.append($0) }
        try r.write {
            try r.create("Dog", primaryKey: 1, ["name": "a"])
            try r.create("Dog", primaryKey: 2)
        }
        try r.write {
            try r.set("Dog", primaryKey: 1, "name", "b")
            try r.delete("Dog", primaryKey: 2)
        }
        XCTAssertEqual(seen.all.count, 2)
        XCTAssertEqual(seen.all[0]["Dog"]?.inserted, [1, 2])
        XCTAssertEqual(seen.all[1]["Dog"]?.deleted, [2])
        XCTAssertEqual(seen.all[1]["Dog"]?.modified, [ModifiedObject(primaryKey: 1, properties: ["name"])])
        XCTAssertTrue(dogOnly.isEmpty, "the Person observer saw no Dog change")
        XCTAssertEqual(one.all.count, 2)
        token.invalidate()
        token.invalidate()
        try r.write { try r.create("Dog", primaryKey: 3) }
        XCTAssertEqual(seen.all.count, 2, "no call after invalidate")
        XCTAssertEqual(one.all.count, 2)
        try r.write { try r.create("Person", primaryKey: "p") }
        XCTAssertEqual(dogOnly.all.count, 1)
        classToken.invalidate()
        objectToken.invalidate()
    }

    func testObserverMayWriteToTheRealm() throws {
        let r = try openLocal()
        defer { r.close() }
        var nested: RealmChanges?
        let token = try r.observe(className: "Dog") { [unowned r] changes in
            guard changes["Dog"]?.inserted.contains(1) == true else { return }
            // Runs on the committing thread, with no library lock held: it may write.
            try? r.write { try r.create("Person", primaryKey: "from observer") }
            nested = changes
        }
        try r.write { try r.create("Dog", primaryKey: 1) }
        XCTAssertNotNil(nested)
        XCTAssertNotNil(try r.object("Person", primaryKey: "from observer"))
        token.invalidate()
    }

    func testAsyncStreamOfChanges() async throws {
        let r = try openLocal()
        defer { r.close() }
        let stream = try r.changes(className: "Dog")
        try r.write { try r.create("Dog", primaryKey: 1) }
        try r.write { try r.set("Dog", primaryKey: 1, "name", "x") }
        var got: [RealmChanges] = []
        for await c in stream {
            got.append(c)
            if got.count == 2 { break }
        }
        XCTAssertEqual(got[0]["Dog"]?.inserted, [1])
        XCTAssertEqual(got[1]["Dog"]?.modified.first?.properties, ["name"])
    }

    func testAsyncStreamFinishesWhenTheRealmCloses() async throws {
        let r = try openLocal()
        let stream = try r.changes()
        try r.write { try r.create("Dog", primaryKey: 1) }
        let consumer = Task { () -> Int in
            var n = 0
            for await _ in stream { n += 1 }
            return n
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        r.close()
        let n = await consumer.value  // returns: the stream finished
        XCTAssertEqual(n, 1)
    }

    func testRealmIsUsableFromSeveralThreadsAtOnce() throws {
        let r = try openLocal()
        defer { r.close() }
        let errors = Recorder<Error>()
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            do {
                for i in 0..<25 {
                    try r.write { try r.create("Dog", primaryKey: .int(Int64(t * 100 + i))) }
                    _ = try r.count("Dog")
                }
            } catch { errors.append(error) }
        }
        XCTAssertTrue(errors.isEmpty, "\(errors.all)")
        XCTAssertEqual(try r.count("Dog"), 100)
    }

    func testSchemaFromJSONAndAdditiveMigration() throws {
        let r1 = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("s.realm"), schema: syncSchema))
        try r1.write { try r1.create("Item", primaryKey: 1, ["name": "kept"]) }
        r1.close()
        let r2 = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("s.realm"), schema: schemaWithExtraClass))
        XCTAssertEqual(nameOf(r2, 1), "kept")
        try r2.write { try r2.create("Note", primaryKey: 1, ["text": "new class"]) }
        r2.close()
        XCTAssertThrowsError(try Realm(configuration: .init(fileURL: dir.appendingPathComponent("s.realm"), schema: breakingSchema))) {
            XCTAssertEqual(($0 as? DriftsyncError)?.code, .breakingSchemaChange)
        }
    }
}
