import CDriftsync
import Foundation

/// One step of a path into a mixed value: a list index or a dictionary key (literals work:
/// `["l", 0, "who"]`).
public enum MixedKey: Sendable, Equatable, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    case index(Int)
    case key(String)

    public init(integerLiteral value: Int) { self = .index(value) }
    public init(stringLiteral value: String) { self = .key(value) }
}

/// The C form of a path; the arena keeps its strings alive.
private func nativePath(_ path: [MixedKey], _ arena: CArena) -> [driftsync_mixed_key_t] {
    path.map { step in
        var k = driftsync_mixed_key_t()
        switch step {
        case .index(let i): k.is_index = true; k.index = i
        case .key(let s): k.key = arena.string(s)
        }
        return k
    }
}

/// Reads a mixed field of a native object copy at `path`: a value, or nested `.list` /
/// `.dictionary` values.
func readMixed(_ o: OpaquePointer, _ property: String, _ path: [MixedKey]) throws -> Value {
    try withArena { arena in
        let steps = nativePath(path, arena)
        var kind = DRIFTSYNC_MIXED_VALUE
        var v = driftsync_value_t()
        var n = 0
        try steps.withUnsafeBufferPointer { p in
            try check { driftsync_object_mixed_get(o, property, property.utf8.count, p.baseAddress, p.count, &kind, &v, &n, $0) }
        }
        switch kind {
        case DRIFTSYNC_MIXED_LIST:
            return .list(try (0..<n).map { try readMixed(o, property, path + [.index($0)]) })
        case DRIFTSYNC_MIXED_DICTIONARY:
            var out: [String: Value] = [:]
            for i in 0..<n {
                var key = driftsync_string_t()
                try steps.withUnsafeBufferPointer { p in
                    try check { driftsync_object_mixed_key(o, property, property.utf8.count, p.baseAddress, p.count, i, &key, $0) }
                }
                let k = swiftString(key)
                out[k] = try readMixed(o, property, path + [.key(k)])
            }
            return .dictionary(out)
        default:
            return try Value(native: v)
        }
    }
}

extension Realm {
    /// A mixed property's value: a scalar, a `.typedLink`, or nested `.list` / `.dictionary`.
    public func mixed(_ className: String, primaryKey: PrimaryKey, _ property: String) throws -> Value {
        guard let o = try object(className, primaryKey: primaryKey) else {
            throw DriftsyncError(code: .objectNotFound, message: "no \(className) with primary key \(primaryKey)")
        }
        guard let v = o[property] else {
            throw DriftsyncError(code: .unknownProperty, message: "'\(className)' has no property '\(property)'")
        }
        return v
    }

    /// Puts `value` at `path` of a mixed property: the property itself when `path` is empty,
    /// else a list element or dictionary key of the nested collection the rest of the path leads
    /// to. A `.list` or `.dictionary` value becomes a new nested collection (filled element by
    /// element); another client's edit inside the collection it replaces is dropped when they
    /// merge. Needs a write transaction.
    public func mixedSet(_ className: String, primaryKey: PrimaryKey, _ property: String, path: [MixedKey] = [], _ value: Value) throws {
        try mixedPut(className, primaryKey, property, path, nil, value)
    }

    /// Inserts `value` (as in `mixedSet`) at `index` of the nested list at `path`.
    public func mixedInsert(_ className: String, primaryKey: PrimaryKey, _ property: String, path: [MixedKey] = [], at index: Int, _ value: Value) throws {
        try mixedPut(className, primaryKey, property, path, index, value)
    }

    /// Erases the list element or dictionary key at `path` (not empty) of a mixed property.
    public func mixedErase(_ className: String, primaryKey: PrimaryKey, _ property: String, path: [MixedKey]) throws {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                let steps = nativePath(path, arena)
                try steps.withUnsafeBufferPointer { p in
                    try check { driftsync_realm_mixed_erase(h, className, className.utf8.count, &pk, property, property.utf8.count, p.baseAddress, p.count, $0) }
                }
            }
        }
    }

    private func mixedPut(_ className: String, _ primaryKey: PrimaryKey, _ property: String, _ path: [MixedKey], _ insertAt: Int?, _ value: Value) throws {
        if let i = insertAt, i < 0 {
            throw DriftsyncError(code: .indexOutOfRange, message: "a list index is not negative")
        }
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                let steps = nativePath(path, arena)
                let kind: driftsync_mixed_kind_t
                var v = driftsync_value_t()
                switch value {
                case .list: kind = DRIFTSYNC_MIXED_LIST
                case .dictionary: kind = DRIFTSYNC_MIXED_DICTIONARY
                default: kind = DRIFTSYNC_MIXED_VALUE; v = try value.native(arena)
                }
                let k = Int32(bitPattern: kind.rawValue)
                try steps.withUnsafeBufferPointer { p in
                    try check {
                        if let i = insertAt {
                            return driftsync_realm_mixed_insert(h, className, className.utf8.count, &pk, property, property.utf8.count, p.baseAddress, p.count, i, k, &v, $0)
                        }
                        return driftsync_realm_mixed_set(h, className, className.utf8.count, &pk, property, property.utf8.count, p.baseAddress, p.count, k, &v, $0)
                    }
                }
            }
        }
        let inside = insertAt.map { path + [.index($0)] } ?? path
        switch value {
        case .list(let elements):
            for (i, x) in elements.enumerated() { try mixedPut(className, primaryKey, property, inside, i, x) }
        case .dictionary(let entries):
            for (k, x) in entries.sorted(by: { $0.key < $1.key }) { try mixedPut(className, primaryKey, property, inside + [.key(k)], nil, x) }
        default:
            break
        }
    }
}
