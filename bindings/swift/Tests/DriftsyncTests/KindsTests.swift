import Foundation
import XCTest
@testable import Driftsync

/// Realm's data kinds beyond scalars and lists (issue 15) through the Swift binding.
final class KindsTests: XCTestCase {
    var dir: URL!

    override func setUp() { dir = makeTempDir() }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    let pageSchema = Schema([
        ObjectSchema("Page", primaryKey: "id", properties: [
            Property("id", .int),
            Property("title", .string),
            .counter("visits"),
            .counter("likes", optional: true),
            .set("tags", .string),
            .set("related", .link, target: "Page"),
            .dictionary("meta", .string),
            .dictionary("refs", .link, target: "Page"),
        ]),
    ])

    func openPages() throws -> Realm {
        try Realm(configuration: .init(fileURL: dir.appendingPathComponent("kinds.realm"), schema: pageSchema))
    }

    func testCounterAddsReadBackNotifyAndASetReplacesTheValue() throws {
        let r = try openPages()
        defer { r.close() }
        try r.write { try r.create("Page", primaryKey: 1, ["title": "home"]) }
        var seen: [RealmChanges] = []
        let token = try r.observe { seen.append($0) }
        try r.write {
            try r.counterAdd("Page", primaryKey: 1, "visits", 5)
            try r.counterAdd("Page", primaryKey: 1, "visits", -2)
            try r.counterAdd("Page", primaryKey: 1, "likes", 1)
        }
        XCTAssertEqual(try r.get("Page", primaryKey: 1, "visits"), .int(3))
        XCTAssertEqual(try r.get("Page", primaryKey: 1, "likes"), .int(1), "a null counter counts from 0")
        XCTAssertTrue(seen.contains { "\($0)".contains("visits") && "\($0)".contains("likes") }, "\(seen)")
        token.invalidate()
        try r.write {
            try r.set("Page", primaryKey: 1, "visits", .int(10))
            try r.counterAdd("Page", primaryKey: 1, "visits", 1)
        }
        XCTAssertEqual(try r.get("Page", primaryKey: 1, "visits"), .int(11))
    }

    func testCounterBadInputIsATypedErrorAndChangesNothing() throws {
        let r = try openPages()
        defer { r.close() }
        try r.write { try r.create("Page", primaryKey: 1, ["title": "home", "visits": .int(2)]) }
        try r.write {
            XCTAssertThrowsError(try r.counterAdd("Page", primaryKey: 1, "title", 1)) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .typeMismatch) }
            XCTAssertThrowsError(try r.set("Page", primaryKey: 1, "visits", "many")) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .typeMismatch) }
            XCTAssertThrowsError(try r.counterAdd("Page", primaryKey: 9, "visits", 1)) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .objectNotFound) }
        }
        XCTAssertEqual(try r.get("Page", primaryKey: 1, "visits"), .int(2))
        let bad = Schema([ObjectSchema("A", primaryKey: "id", properties: [Property("id", .int), Property("s", .string, counter: true)])])
        XCTAssertThrowsError(try Realm(configuration: .init(fileURL: dir.appendingPathComponent("bad.realm"), schema: bad))) {
            XCTAssertEqual(($0 as? DriftsyncError)?.code, .invalidSchema)
        }
    }

    func testSetAddRemoveClearAndAnErasedLinkLeavesTheSet() throws {
        let r = try openPages()
        defer { r.close() }
        try r.write {
            try r.create("Page", primaryKey: 1, ["title": "home"])
            try r.create("Page", primaryKey: 2, ["title": "other"])
        }
        var seen: [RealmChanges] = []
        let token = try r.observe { seen.append($0) }
        try r.write {
            try r.setAdd("Page", primaryKey: 1, "tags", "b")
            try r.setAdd("Page", primaryKey: 1, "tags", "a")
            try r.setAdd("Page", primaryKey: 1, "tags", "b")
            try r.setRemove("Page", primaryKey: 1, "tags", "missing")
            try r.setAdd("Page", primaryKey: 1, "related", .link(2))
        }
        XCTAssertEqual(try r.setElements("Page", primaryKey: 1, "tags"), ["a", "b"])
        XCTAssertEqual(try r.setElements("Page", primaryKey: 1, "related"), [.link(2)])
        XCTAssertTrue(seen.contains { "\($0)".contains("tags") && "\($0)".contains("related") }, "\(seen)")
        token.invalidate()
        try r.write { try r.delete("Page", primaryKey: 2) }
        XCTAssertEqual(try r.setElements("Page", primaryKey: 1, "related"), [], "the erased page left the set")
        try r.write { try r.setClear("Page", primaryKey: 1, "tags") }
        XCTAssertEqual(try r.setElements("Page", primaryKey: 1, "tags"), [])
    }

    func testSetBadInputIsATypedErrorAndChangesNothing() throws {
        let r = try openPages()
        defer { r.close() }
        try r.write {
            try r.create("Page", primaryKey: 1, ["title": "home"])
            try r.setAdd("Page", primaryKey: 1, "tags", "a")
        }
        try r.write {
            XCTAssertThrowsError(try r.setAdd("Page", primaryKey: 1, "tags", .int(5))) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .typeMismatch) }
            XCTAssertThrowsError(try r.setAdd("Page", primaryKey: 1, "tags", .null)) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .typeMismatch) }
            XCTAssertThrowsError(try r.setAdd("Page", primaryKey: 1, "title", "x")) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .typeMismatch) }
            XCTAssertThrowsError(try r.setAdd("Page", primaryKey: 1, "related", .link(9))) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .objectNotFound) }
        }
        XCTAssertEqual(try r.setElements("Page", primaryKey: 1, "tags"), ["a"])
        let bad = Schema([ObjectSchema("A", primaryKey: "id", properties: [Property("id", .int), Property("s", .string, list: true, set: true)])])
        XCTAssertThrowsError(try Realm(configuration: .init(fileURL: dir.appendingPathComponent("bad.realm"), schema: bad))) {
            XCTAssertEqual(($0 as? DriftsyncError)?.code, .invalidSchema)
        }
    }

    func testDictionarySetEraseClearAndALinkToAnErasedObjectBecomesNull() throws {
        let r = try openPages()
        defer { r.close() }
        try r.write {
            try r.create("Page", primaryKey: 1, ["title": "home"])
            try r.create("Page", primaryKey: 2, ["title": "other"])
        }
        var seen: [RealmChanges] = []
        let token = try r.observe { seen.append($0) }
        try r.write {
            try r.dictSet("Page", primaryKey: 1, "meta", key: "b", "one")
            try r.dictSet("Page", primaryKey: 1, "meta", key: "a", "two")
            try r.dictErase("Page", primaryKey: 1, "meta", key: "absent")
            try r.dictSet("Page", primaryKey: 1, "refs", key: "r", .link(2))
        }
        XCTAssertEqual(try r.dictionary("Page", primaryKey: 1, "meta"), ["a": "two", "b": "one"])
        XCTAssertTrue(seen.contains { "\($0)".contains("meta") && "\($0)".contains("refs") }, "\(seen)")
        token.invalidate()
        try r.write {
            try r.delete("Page", primaryKey: 2)
            try r.dictErase("Page", primaryKey: 1, "meta", key: "a")
        }
        XCTAssertEqual(try r.dictionary("Page", primaryKey: 1, "refs"), ["r": .null], "a link to an erased page becomes null")
        XCTAssertEqual(try r.dictionary("Page", primaryKey: 1, "meta"), ["b": "one"])
        try r.write { try r.dictClear("Page", primaryKey: 1, "meta") }
        XCTAssertEqual(try r.dictionary("Page", primaryKey: 1, "meta"), [:])
    }

    func testDictionaryBadInputIsATypedErrorAndChangesNothing() throws {
        let r = try openPages()
        defer { r.close() }
        try r.write {
            try r.create("Page", primaryKey: 1, ["title": "home"])
            try r.dictSet("Page", primaryKey: 1, "meta", key: "k", "v")
        }
        try r.write {
            XCTAssertThrowsError(try r.dictSet("Page", primaryKey: 1, "meta", key: "k", .int(5))) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .typeMismatch) }
            XCTAssertThrowsError(try r.dictSet("Page", primaryKey: 1, "meta", key: "k", .null)) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .typeMismatch) }
            XCTAssertThrowsError(try r.dictSet("Page", primaryKey: 1, "tags", key: "k", "a set")) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .typeMismatch) }
            XCTAssertThrowsError(try r.dictSet("Page", primaryKey: 1, "refs", key: "k", .link(9))) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .objectNotFound) }
        }
        XCTAssertEqual(try r.dictionary("Page", primaryKey: 1, "meta"), ["k": "v"])
        XCTAssertThrowsError(try r.dictionary("Page", primaryKey: 1, "title")) { XCTAssertEqual(($0 as? DriftsyncError)?.code, .typeMismatch) }
    }

    func testNotifyCollectionsReportListIndicesSetElementsAndDictionaryKeys() throws {
        let schema = Schema([
            ObjectSchema("Box", primaryKey: "id", properties: [
                Property("id", .int),
                Property("l", .string, list: true),
                .set("s", .string),
                .dictionary("d", .string),
                .counter("n"),
            ]),
        ])
        let r = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("n.realm"), schema: schema))
        defer { r.close() }
        let l = r.list("Box", primaryKey: 1, "l")
        try r.write {
            try r.create("Box", primaryKey: 1)
            for x in ["a", "b", "c", "d"] { try l.append(.string(x)) }
            for x in ["a", "b"] { try r.setAdd("Box", primaryKey: 1, "s", .string(x)) }
            for x in ["a", "b", "c"] { try r.dictSet("Box", primaryKey: 1, "d", key: x, .string(x)) }
        }
        var seen: [RealmChanges] = []
        let token = try r.observe("Box", primaryKey: 1) { seen.append($0) }
        defer { token.invalidate() }
        try r.write {
            try l.remove(at: 1) // a c d
            try l.set("D", at: 2) // a c D
            try l.insert("z", at: 0) // z a c D
            try r.setRemove("Box", primaryKey: 1, "s", "b")
            try r.setAdd("Box", primaryKey: 1, "s", "c")
            try r.dictSet("Box", primaryKey: 1, "d", key: "b", "B")
            try r.dictErase("Box", primaryKey: 1, "d", key: "c")
            try r.dictSet("Box", primaryKey: 1, "d", key: "e", "e")
            try r.counterAdd("Box", primaryKey: 1, "n", 1)
        }
        XCTAssertEqual(seen.count, 1)
        let box = try XCTUnwrap(seen.first?["Box"])
        // Lists: deletions are positions before the commit, insertions and modifications after it.
        XCTAssertEqual(box.collection(1, "l"), .list(deletions: [1], insertions: [0], modifications: [3]))
        XCTAssertEqual(box.collection(1, "s"), .set(removed: ["b"], added: ["c"]))
        XCTAssertEqual(box.collection(1, "d"), .dictionary(deleted: ["c"], inserted: ["e"], modified: ["b"]))
        XCTAssertNil(box.collection(1, "n"), "a counter names only the property")
        XCTAssertEqual(box.modified.first?.properties, ["d", "l", "n", "s"])
    }
}
