import Foundation
import XCTest
@testable import Driftsync

/// The mixed kind (issue 15) through the Swift binding: values, typed links and nested
/// collections locally, bad input, and a merge across two clients through the reference server.
final class MixedTests: ServerTestCase {
    let boxSchema = Schema([
        ObjectSchema("Box", primaryKey: "id", properties: [
            Property("id", .int),
            Property("any", .mixed, optional: true),
            .set("bag", .mixed, optional: true),
        ]),
        ObjectSchema("Tag", primaryKey: "name", properties: [Property("name", .string)]),
    ])

    func openBoxes() throws -> Realm {
        try Realm(configuration: .init(fileURL: dir.appendingPathComponent("mixed.realm"), schema: boxSchema))
    }

    func testMixedHoldsValuesTypedLinksAndNestedCollections() throws {
        let r = try openBoxes()
        defer { r.close() }
        let red = Value.typedLink(className: "Tag", .string("red"))
        try r.write {
            try r.create("Box", primaryKey: 1, ["any": 5])
            try r.create("Box", primaryKey: 2, [:])
            try r.create("Tag", primaryKey: "red", [:])
        }
        XCTAssertEqual(try r.mixed("Box", primaryKey: 1, "any"), .int(5))
        var seen: [RealmChanges] = []
        let token = try r.observe { seen.append($0) }
        try r.write {
            try r.mixedSet("Box", primaryKey: 2, "any", .dictionary(["l": [1, .dictionary(["who": red])], "n": nil]))
            try r.mixedInsert("Box", primaryKey: 2, "any", path: ["l"], at: 0, "first")
            try r.mixedSet("Box", primaryKey: 2, "any", path: ["l", 1], 2.5)
            try r.mixedErase("Box", primaryKey: 2, "any", path: ["n"])
            try r.setAdd("Box", primaryKey: 2, "bag", red)
        }
        XCTAssertEqual(try r.mixed("Box", primaryKey: 2, "any"), .dictionary(["l": ["first", 2.5, .dictionary(["who": red])]]))
        XCTAssertFalse(seen.isEmpty, "the observer saw the mixed change")
        token.invalidate()
        try r.write { try r.delete("Tag", primaryKey: "red") }
        XCTAssertEqual(try r.mixed("Box", primaryKey: 2, "any"), .dictionary(["l": ["first", 2.5, .dictionary(["who": nil])]]),
                       "a link to an erased object becomes null")
        XCTAssertEqual(try r.object("Box", primaryKey: 2)?["bag"], .list([]), "and leaves a set of mixed")
    }

    func testMixedBadInputIsATypedErrorAndChangesNothing() throws {
        let r = try openBoxes()
        defer { r.close() }
        try r.write {
            try r.create("Box", primaryKey: 1, [:])
            try r.mixedSet("Box", primaryKey: 1, "any", [1])
        }
        try r.write {
            XCTAssertThrowsError(try r.mixedSet("Box", primaryKey: 1, "bag", [1])) { e in
                XCTAssertEqual((e as? DriftsyncError)?.code, .typeMismatch)
                XCTAssertTrue("\(e)".contains("hashable"), "\(e)")
            }
            XCTAssertThrowsError(try r.mixedSet("Box", primaryKey: 1, "any", path: [0, "k"], 1)) { e in
                XCTAssertEqual((e as? DriftsyncError)?.code, .typeMismatch)
            }
            XCTAssertThrowsError(try r.set("Box", primaryKey: 1, "any", .link(.int(1)))) { e in
                XCTAssertEqual((e as? DriftsyncError)?.code, .typeMismatch)
            }
            XCTAssertThrowsError(try r.mixedInsert("Box", primaryKey: 1, "any", at: 5, 1)) { e in
                XCTAssertEqual((e as? DriftsyncError)?.code, .indexOutOfRange)
            }
            XCTAssertThrowsError(try r.mixedSet("Box", primaryKey: 1, "any", path: [0], .typedLink(className: "Tag", .string("none")))) { e in
                XCTAssertEqual((e as? DriftsyncError)?.code, .objectNotFound)
            }
        }
        XCTAssertEqual(try r.mixed("Box", primaryKey: 1, "any"), [1])
    }

    func testMixedLaterWholeValueSetWinsAndAnEditInsideTheReplacedListIsDropped() async throws {
        var classes = syncSchemaClasses
        classes[0].properties.append(Property("any", .mixed, optional: true))
        let schema = Schema(classes)
        try server.apply(schema: schema)
        let a = try openClient(server, dir.appendingPathComponent("a.realm"), .recover, Seen(), schema: schema)
        let b = try openClient(server, dir.appendingPathComponent("b.realm"), .recover, Seen(), schema: schema, user: "bob")
        defer { a.close(); b.close() }
        try a.write {
            try a.create("Item", primaryKey: 1, ["name": "one"])
            try a.mixedSet("Item", primaryKey: 1, "any", .dictionary(["l": [1]]))
        }
        try await syncAll(a)
        try await syncAll(b)
        XCTAssertEqual(try b.mixed("Item", primaryKey: 1, "any"), .dictionary(["l": [1]]))
        try XCTUnwrap(a.syncSession).pause()
        try XCTUnwrap(b.syncSession).pause()
        try a.write {
            try a.mixedInsert("Item", primaryKey: 1, "any", path: ["l"], at: 1, 2)
            try a.mixedSet("Item", primaryKey: 1, "any", path: ["k"], "kept")
        }
        try b.write { try b.mixedSet("Item", primaryKey: 1, "any", path: ["l"], ["new"]) }
        for r in [b, a, b] {
            try XCTUnwrap(r.syncSession).resume()
            try await syncAll(r)
        }
        let want: Value = .dictionary(["k": "kept", "l": ["new"]])
        _ = try eventually("both converge") {
            try a.mixed("Item", primaryKey: 1, "any") == want && b.mixed("Item", primaryKey: 1, "any") == want
        }
    }
}
