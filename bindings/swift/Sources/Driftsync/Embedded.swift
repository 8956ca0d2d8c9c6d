import CDriftsync
import Foundation

// Embedded objects (issue 15): objects of an embedded class (no primary key), each owned by one
// parent object and addressed by a path from it: property names separated by ".", a list element
// as "name[index]" ("address", "address.street", "parts[2].qty"). Erasing the parent erases them;
// a change under an object another client replaced or erased is dropped by the merge rules.
extension Realm {
    private func pathCall<R>(
        _ className: String, _ primaryKey: PrimaryKey, _ path: String,
        _ body: (OpaquePointer, UnsafePointer<driftsync_pk_t>, CArena) throws -> R
    ) throws -> R {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                return try body(h, &pk, arena)
            }
        }
    }

    private func withFields<R>(_ values: [String: Value], _ arena: CArena, _ body: (UnsafePointer<driftsync_field_t>?, Int) throws -> R) throws -> R {
        let fields = try values.map { k, v in driftsync_field_t(name: arena.string(k), value: try v.native(arena)) }
        return try fields.withUnsafeBufferPointer { try body($0.baseAddress, $0.count) }
    }

    /// Sets the property at `path` ("address"), which holds one embedded object, to a new embedded
    /// object with `values`; the one it held, and all inside it, is gone. Needs a write transaction.
    public func setEmbedded(_ className: String, primaryKey: PrimaryKey, _ path: String, _ values: [String: Value] = [:]) throws {
        try pathCall(className, primaryKey, path) { h, pk, arena in
            try withFields(values, arena) { f, n in
                try check { driftsync_realm_set_embedded(h, className, className.utf8.count, pk, path, path.utf8.count, f, n, $0) }
            }
        }
    }

    /// Inserts a new embedded object at `index` of the list at `path` ("parts").
    public func insertEmbedded(_ className: String, primaryKey: PrimaryKey, _ path: String, at index: Int, _ values: [String: Value] = [:]) throws {
        try pathCall(className, primaryKey, path) { h, pk, arena in
            try withFields(values, arena) { f, n in
                try check { driftsync_realm_insert_embedded(h, className, className.utf8.count, pk, path, path.utf8.count, index, f, n, $0) }
            }
        }
    }

    /// Appends a new embedded object to the list at `path`.
    public func appendEmbedded(_ className: String, primaryKey: PrimaryKey, _ path: String, _ values: [String: Value] = [:]) throws {
        try pathCall(className, primaryKey, path) { h, pk, arena in
            try withFields(values, arena) { f, n in
                try check { driftsync_realm_push_embedded(h, className, className.utf8.count, pk, path, path.utf8.count, f, n, $0) }
            }
        }
    }

    /// Removes the embedded object at `path`: "address" becomes null, "parts[2]" leaves its list.
    public func removeEmbedded(_ className: String, primaryKey: PrimaryKey, _ path: String) throws {
        try pathCall(className, primaryKey, path) { h, pk, _ in
            try check { driftsync_realm_remove_embedded(h, className, className.utf8.count, pk, path, path.utf8.count, $0) }
        }
    }

    /// Sets a scalar inside an embedded object ("address.street").
    public func setEmbeddedValue(_ className: String, primaryKey: PrimaryKey, _ path: String, _ value: Value) throws {
        try pathCall(className, primaryKey, path) { h, pk, arena in
            var v = try value.native(arena)
            try check { driftsync_realm_set_embedded_value(h, className, className.utf8.count, pk, path, path.utf8.count, &v, $0) }
        }
    }

    /// A scalar inside an embedded object ("parts[1].qty").
    public func embeddedValue(_ className: String, primaryKey: PrimaryKey, _ path: String) throws -> Value {
        try pathCall(className, primaryKey, path) { h, pk, _ in
            var out: OpaquePointer?
            try check { driftsync_realm_get_embedded_value(h, className, className.utf8.count, pk, path, path.utf8.count, &out, $0) }
            defer { driftsync_owned_value_free(out) }
            return try ownedValue(out!)
        }
    }

    /// Whether the embedded object at `path` ("address", "parts[1]") is there.
    public func embeddedExists(_ className: String, primaryKey: PrimaryKey, _ path: String) throws -> Bool {
        try pathCall(className, primaryKey, path) { h, pk, _ in
            var out = false
            try check { driftsync_realm_embedded_exists(h, className, className.utf8.count, pk, path, path.utf8.count, &out, $0) }
            return out
        }
    }

    /// The number of embedded objects in the list at `path` ("parts").
    public func embeddedCount(_ className: String, primaryKey: PrimaryKey, _ path: String) throws -> Int {
        try pathCall(className, primaryKey, path) { h, pk, _ in
            var out = 0
            try check { driftsync_realm_embedded_len(h, className, className.utf8.count, pk, path, path.utf8.count, &out, $0) }
            return out
        }
    }
}
