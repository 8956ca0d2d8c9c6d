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
}
