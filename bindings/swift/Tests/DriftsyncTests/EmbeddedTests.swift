import Foundation
import XCTest
@testable import Driftsync

/// The sync schema plus `Item.address` (one embedded Address) and `Item.parts` (a list of Parts).
let embeddedSchema: Schema = {
    var classes = syncSchemaClasses
    classes[0].properties += [
        Property("address", .link, optional: true, target: "Address"),
        Property("parts", .link, list: true, target: "Part"),
    ]
    classes += [
        .embedded("Address", properties: [Property("street", .string), Property("city", .string, optional: true)]),
        .embedded("Part", properties: [Property("name", .string), Property("qty", .int)]),
    ]
    return Schema(classes)
}()

/// Embedded objects (issue 15) through the Swift binding: local use by path, bad input, and a
/// merge across two clients through the reference server.
final class EmbeddedTests: ServerTestCase {
    private func code(_ e: Error) -> ErrorCode? { (e as? DriftsyncError)?.code }

    func testEmbeddedObjectsAreWrittenAndReadByPathAndNotifyTheirParent() throws {
        let r = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("e.realm"), schema: embeddedSchema))
        defer { r.close() }
        try r.write {
            try r.create("Item", primaryKey: 1, ["name": "one"])
            try r.setEmbedded("Item", primaryKey: 1, "address", ["street": "Main"])
            try r.appendEmbedded("Item", primaryKey: 1, "parts", ["name": "bolt", "qty": .int(1)])
            try r.insertEmbedded("Item", primaryKey: 1, "parts", at: 0, ["name": "washer", "qty": .int(3)])
        }
        var seen: [RealmChanges] = []
        let token = try r.observe { seen.append($0) }
        try r.write {
            try r.setEmbeddedValue("Item", primaryKey: 1, "address.city", "Springfield")
            try r.setEmbeddedValue("Item", primaryKey: 1, "parts[1].qty", .int(5))
        }
        token.invalidate()
        XCTAssertEqual(try r.embeddedValue("Item", primaryKey: 1, "address.street"), "Main")
        XCTAssertEqual(try r.embeddedValue("Item", primaryKey: 1, "address.city"), "Springfield")
        XCTAssertEqual(try r.embeddedCount("Item", primaryKey: 1, "parts"), 2)
        XCTAssertEqual(try r.embeddedValue("Item", primaryKey: 1, "parts[0].name"), "washer")
        XCTAssertEqual(try r.embeddedValue("Item", primaryKey: 1, "parts[1].qty"), .int(5))
        XCTAssertTrue(seen.contains { "\($0)".contains("address") && "\($0)".contains("parts") }, "\(seen)")
        try r.write {
            try r.removeEmbedded("Item", primaryKey: 1, "parts[0]")
            try r.removeEmbedded("Item", primaryKey: 1, "address")
        }
        XCTAssertFalse(try r.embeddedExists("Item", primaryKey: 1, "address"))
        XCTAssertEqual(try r.embeddedValue("Item", primaryKey: 1, "parts[0].name"), "bolt")
        try r.write { try r.delete("Item", primaryKey: 1) }
        XCTAssertEqual(try r.count("Address"), 0)
    }

    func testEmbeddedBadInputIsATypedErrorAndChangesNothing() throws {
        let withKey = Schema([ObjectSchema("Address", primaryKey: "street", properties: [Property("street", .string)], embedded: true)])
        XCTAssertThrowsError(try Realm(configuration: .init(fileURL: dir.appendingPathComponent("bad.realm"), schema: withKey))) {
            XCTAssertEqual(self.code($0), .invalidSchema)
        }
        let r = try Realm(configuration: .init(fileURL: dir.appendingPathComponent("e.realm"), schema: embeddedSchema))
        defer { r.close() }
        try r.write {
            try r.create("Item", primaryKey: 1)
            try r.setEmbedded("Item", primaryKey: 1, "address", ["street": "Main"])
        }
        try r.write {
            XCTAssertThrowsError(try r.create("Address", primaryKey: 1, ["street": "x"])) { XCTAssertEqual(self.code($0), .invalidArgument) }
            XCTAssertThrowsError(try r.setEmbeddedValue("Item", primaryKey: 1, "address.street", .int(5))) { XCTAssertEqual(self.code($0), .typeMismatch) }
            XCTAssertThrowsError(try r.appendEmbedded("Item", primaryKey: 1, "parts", ["qty": "many"])) { XCTAssertEqual(self.code($0), .typeMismatch) }
            XCTAssertThrowsError(try r.set("Item", primaryKey: 1, "address", .link(.int(1)))) { XCTAssertEqual(self.code($0), .typeMismatch) }
            XCTAssertThrowsError(try r.setEmbeddedValue("Item", primaryKey: 1, "parts[3].qty", .int(1))) { XCTAssertEqual(self.code($0), .indexOutOfRange) }
        }
        XCTAssertEqual(try r.embeddedValue("Item", primaryKey: 1, "address.street"), "Main")
        XCTAssertEqual(try r.embeddedCount("Item", primaryKey: 1, "parts"), 0)
    }

    func testEmbeddedChangesMergeAcrossTwoClientsAndDieWithTheirParent() async throws {
        try server.apply(schema: embeddedSchema)
        func open(_ name: String, _ user: String) throws -> Realm {
            let sync = SyncConfiguration(url: server.url, token: "\(user)-token", realm: "default")
            return try Realm(configuration: .init(fileURL: dir.appendingPathComponent(name), schema: embeddedSchema, syncConfiguration: sync))
        }
        let a = try open("a.realm", "alice")
        let b = try open("b.realm", "bob")
        defer { a.close(); b.close() }
        try a.write {
            try a.create("Item", primaryKey: 1, ["name": "one"])
            try a.setEmbedded("Item", primaryKey: 1, "address", ["street": "Main"])
            try a.create("Item", primaryKey: 2, ["name": "two"])
            try a.appendEmbedded("Item", primaryKey: 2, "parts", ["name": "bolt", "qty": .int(1)])
        }
        try await syncAll(a)
        try await syncAll(b)
        for r in [a, b] {
            let s = try XCTUnwrap(r.syncSession)
            try s.pause()
            eventually("disconnected") { (try? s.state) == .disconnected }
        }
        try a.write {
            try a.setEmbeddedValue("Item", primaryKey: 1, "address.street", "A street")
            try a.delete("Item", primaryKey: 2)
        }
        try b.write {
            try b.setEmbeddedValue("Item", primaryKey: 1, "address.street", "B street")
            try b.setEmbeddedValue("Item", primaryKey: 2, "parts[0].qty", .int(9))
        }
        for r in [a, b, a] {
            try XCTUnwrap(r.syncSession).resume()
            try await syncAll(r)
        }
        for r in [a, b] {
            XCTAssertEqual(try r.embeddedValue("Item", primaryKey: 1, "address.street"), "B street", "rule 4: the later set wins")
            XCTAssertNil(try r.object("Item", primaryKey: 2), "the erase wins; its embedded objects went with it")
        }
    }
}
