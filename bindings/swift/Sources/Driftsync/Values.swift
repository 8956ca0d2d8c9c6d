import CDriftsync
import Foundation

/// Copies `bytes` into a C fixed-size array (imported as a tuple of UInt8).
func store<Tuple>(_ bytes: [UInt8], into tuple: inout Tuple) {
    withUnsafeMutableBytes(of: &tuple) { $0.copyBytes(from: bytes) }
}

/// The bytes of a C fixed-size array.
func load<Tuple>(_ tuple: Tuple) -> [UInt8] {
    withUnsafeBytes(of: tuple) { Array($0) }
}

func uuidBytes(_ u: UUID) -> [UInt8] { load(u.uuid) }

/// A 12-byte ObjectId.
public struct ObjectId: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// nil unless `bytes` has exactly 12 elements.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 12 else { return nil }
        self.bytes = bytes
    }

    /// From 24 hex digits.
    public init?(hex: String) {
        var out: [UInt8] = []
        var chars = Array(hex.utf8)[...]
        while chars.count >= 2, let b = UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16) {
            out.append(b)
            chars = chars.dropFirst(2)
        }
        guard chars.isEmpty else { return nil }
        self.init(bytes: out)
    }

    public var description: String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// A primary key: int, string, ObjectId or UUID. Integer and string literals work: `1`, `"ann"`.
public enum PrimaryKey: Hashable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, CustomStringConvertible {
    case int(Int64)
    case string(String)
    case objectId(ObjectId)
    case uuid(UUID)

    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(stringLiteral value: String) { self = .string(value) }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return s.debugDescription
        case .objectId(let o): return "ObjectId(\(o))"
        case .uuid(let u): return "UUID(\(u))"
        }
    }

    func native(_ arena: CArena) -> driftsync_pk_t {
        var pk = driftsync_pk_t()
        switch self {
        case .int(let i):
            pk.kind = DRIFTSYNC_PK_INT
            pk.int_value = i
        case .string(let s):
            pk.kind = DRIFTSYNC_PK_STRING
            pk.string = arena.string(s)
        case .objectId(let o):
            pk.kind = DRIFTSYNC_PK_OBJECT_ID
            store(o.bytes, into: &pk.object_id)
        case .uuid(let u):
            pk.kind = DRIFTSYNC_PK_UUID
            store(uuidBytes(u), into: &pk.uuid)
        }
        return pk
    }

    init(native pk: driftsync_pk_t) throws {
        switch pk.kind {
        case DRIFTSYNC_PK_INT: self = .int(pk.int_value)
        case DRIFTSYNC_PK_STRING: self = .string(swiftString(pk.string))
        case DRIFTSYNC_PK_OBJECT_ID:
            self = .objectId(ObjectId(bytes: load(pk.object_id))!)
        case DRIFTSYNC_PK_UUID:
            self = .uuid(UUID(uuid: pk.uuid))
        default:
            throw DriftsyncError(code: .internal, message: "unknown primary key type \(pk.kind.rawValue)")
        }
    }
}

/// A field value. `.list` is a whole list property (as read from an object, or given to
/// `create` / `set`); `.link` names the target object by its primary key (its class comes from
/// the schema). Literals work: `nil`, `true`, `3`, `2.5`, `"text"` (also interpolated), `["a", "b"]`.
public enum Value: Equatable, Sendable, ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByStringInterpolation, ExpressibleByArrayLiteral
{
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case binary([UInt8])
    /// Nanoseconds since the Unix epoch, UTC (lossless; see `date`).
    case timestamp(nanoseconds: Int64)
    case objectId(ObjectId)
    case uuid(UUID)
    case link(PrimaryKey)
    case list([Value])
    /// A dictionary property's entries, as read (written with `Realm.dictSet`); also a
    /// dictionary nested in a mixed.
    case dictionary([String: Value])
    /// A link held by a mixed value: it names the target's class.
    case typedLink(className: String, PrimaryKey)

    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: Value...) { self = .list(elements) }

    /// A timestamp from a `Date` (to the nanosecond a Double allows).
    public static func date(_ d: Date) -> Value { .timestamp(nanoseconds: Int64((d.timeIntervalSince1970 * 1e9).rounded())) }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var intValue: Int64? { if case .int(let i) = self { return i }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var doubleValue: Double? { if case .double(let d) = self { return d }; return nil }
    public var linkValue: PrimaryKey? { if case .link(let k) = self { return k }; return nil }
    public var listValue: [Value]? { if case .list(let l) = self { return l }; return nil }
    public var dictionaryValue: [String: Value]? { if case .dictionary(let d) = self { return d }; return nil }
    public var isNull: Bool { self == .null }

    /// The C view of a scalar value (a list is not one: the caller writes lists element-wise).
    func native(_ arena: CArena) throws -> driftsync_value_t {
        var v = driftsync_value_t()
        switch self {
        case .null: v.kind = DRIFTSYNC_VALUE_NULL
        case .bool(let b): v.kind = DRIFTSYNC_VALUE_BOOL; v.bool_value = b
        case .int(let i): v.kind = DRIFTSYNC_VALUE_INT; v.int_value = i
        case .double(let d): v.kind = DRIFTSYNC_VALUE_DOUBLE; v.double_value = d
        case .string(let s): v.kind = DRIFTSYNC_VALUE_STRING; v.string = arena.string(s)
        case .binary(let b): v.kind = DRIFTSYNC_VALUE_BINARY; v.binary = arena.bytes(b)
        case .timestamp(let ns): v.kind = DRIFTSYNC_VALUE_TIMESTAMP; v.timestamp_ns = ns
        case .objectId(let o): v.kind = DRIFTSYNC_VALUE_OBJECT_ID; store(o.bytes, into: &v.object_id)
        case .uuid(let u): v.kind = DRIFTSYNC_VALUE_UUID; store(uuidBytes(u), into: &v.uuid)
        case .link(let k): v.kind = DRIFTSYNC_VALUE_LINK; v.link = k.native(arena)
        case .typedLink(let c, let k):
            v.kind = DRIFTSYNC_VALUE_TYPED_LINK; v.string = arena.string(c); v.link = k.native(arena)
        case .list:
            throw DriftsyncError(code: .typeMismatch, message: "a list is not a single value (use the list operations)")
        case .dictionary:
            throw DriftsyncError(code: .typeMismatch, message: "a dictionary is not a single value (use dictSet)")
        }
        return v
    }

    /// Copies a borrowed C view.
    init(native v: driftsync_value_t) throws {
        switch v.kind {
        case DRIFTSYNC_VALUE_NULL: self = .null
        case DRIFTSYNC_VALUE_BOOL: self = .bool(v.bool_value)
        case DRIFTSYNC_VALUE_INT: self = .int(v.int_value)
        case DRIFTSYNC_VALUE_DOUBLE: self = .double(v.double_value)
        case DRIFTSYNC_VALUE_STRING: self = .string(swiftString(v.string))
        case DRIFTSYNC_VALUE_BINARY:
            self = .binary(v.binary.data.map { Array(UnsafeBufferPointer(start: $0, count: v.binary.len)) } ?? [])
        case DRIFTSYNC_VALUE_TIMESTAMP: self = .timestamp(nanoseconds: v.timestamp_ns)
        case DRIFTSYNC_VALUE_OBJECT_ID: self = .objectId(ObjectId(bytes: load(v.object_id))!)
        case DRIFTSYNC_VALUE_UUID: self = .uuid(UUID(uuid: v.uuid))
        case DRIFTSYNC_VALUE_LINK: self = .link(try PrimaryKey(native: v.link))
        case DRIFTSYNC_VALUE_TYPED_LINK: self = .typedLink(className: swiftString(v.string), try PrimaryKey(native: v.link))
        default: throw DriftsyncError(code: .internal, message: "unknown value type \(v.kind.rawValue)")
        }
    }
}

/// An object as read: a copy of its class name, primary key and fields (lists as `.list`),
/// unaffected by later writes.
public struct DynamicObject: Equatable, Sendable {
    public let className: String
    public let primaryKey: PrimaryKey
    public let fields: [String: Value]

    /// The value of a property (nil for a name the class does not have).
    public subscript(property: String) -> Value? { fields[property] }

    /// Reads a native object (does not free it).
    init(native o: OpaquePointer) throws {
        className = swiftString(driftsync_object_class(o))
        var pk = driftsync_pk_t()
        try check { driftsync_object_primary_key(o, &pk, $0) }
        primaryKey = try PrimaryKey(native: pk)
        var fields: [String: Value] = [:]
        for i in 0..<driftsync_object_field_count(o) {
            var name = driftsync_string_t()
            var isList = false
            try check { driftsync_object_field_name(o, i, &name, &isList, $0) }
            let key = swiftString(name)
            var collection = DRIFTSYNC_COLLECTION_NONE
            try check { driftsync_object_field_collection(o, i, &collection, $0) }
            if collection == DRIFTSYNC_COLLECTION_MIXED {
                fields[key] = try readMixed(o, key, [])
            } else if collection == DRIFTSYNC_COLLECTION_EMBEDDED || collection == DRIFTSYNC_COLLECTION_EMBEDDED_LIST {
                // Not in the copy: embedded objects are read by path (`Realm.embeddedValue`).
                continue
            } else if collection == DRIFTSYNC_COLLECTION_DICTIONARY {
                var n = 0
                try check { driftsync_object_dict_len(o, key, key.utf8.count, &n, $0) }
                var entries: [String: Value] = [:]
                for j in 0..<n {
                    var k = driftsync_string_t()
                    var v = driftsync_value_t()
                    try check { driftsync_object_dict_get(o, key, key.utf8.count, j, &k, &v, $0) }
                    entries[swiftString(k)] = try Value(native: v)
                }
                fields[key] = .dictionary(entries)
            } else if isList {
                var n = 0
                try check { driftsync_object_list_len(o, key, key.utf8.count, &n, $0) }
                fields[key] = .list(try (0..<n).map { j in
                    var v = driftsync_value_t()
                    try check { driftsync_object_list_get(o, key, key.utf8.count, j, &v, $0) }
                    return try Value(native: v)
                })
            } else {
                var v = driftsync_value_t()
                try check { driftsync_object_get_value(o, key, key.utf8.count, &v, $0) }
                fields[key] = try Value(native: v)
            }
        }
        self.fields = fields
    }
}
