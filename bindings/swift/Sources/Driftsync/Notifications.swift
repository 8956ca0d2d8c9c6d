import CDriftsync
import Foundation

/// Keeps a registration (observer, sync state or sync error callback) in force. Invalidate it,
/// or let the last reference go, to stop the callbacks.
public final class NotificationToken {
    private let lock = NSLock()
    private var token: OpaquePointer?

    init(_ token: OpaquePointer) { self.token = token }

    /// Stops the callbacks (a call already running on another thread finishes). Its closure is
    /// released once the library lets go of it. Invalidating twice is fine.
    public func invalidate() {
        lock.lock()
        let t = token
        token = nil
        lock.unlock()
        driftsync_token_free(t)
    }

    deinit { invalidate() }
}

/// One modified object and the names of the properties that changed.
public struct ModifiedObject: Equatable, Sendable {
    public let primaryKey: PrimaryKey
    public let properties: [String]
}

/// What changed inside one list, set or dictionary property of a modified object (a counter or
/// a scalar property has none).
public enum CollectionChanges: Equatable, Sendable {
    /// Positions as Realm reports them: `deletions` in the list before the commit, `insertions`
    /// and `modifications` in the list after it (a move is a deletion and an insertion).
    case list(deletions: [Int], insertions: [Int], modifications: [Int])
    /// The elements that left and joined the set, in the set's order.
    case set(removed: [Value], added: [Value])
    /// The keys erased, inserted and set to another value, in key order.
    case dictionary(deleted: [String], inserted: [String], modified: [String])
}

/// One collection property of a modified object and what changed inside it.
public struct ChangedCollection: Equatable, Sendable {
    public let primaryKey: PrimaryKey
    public let property: String
    public let changes: CollectionChanges
}

/// What one commit changed in one class, in primary-key order.
public struct ClassChanges: Equatable, Sendable {
    public let inserted: [PrimaryKey]
    public let deleted: [PrimaryKey]
    public let modified: [ModifiedObject]
    /// What changed inside the lists, sets and dictionaries of modified objects (by primary key,
    /// then property name).
    public let collections: [ChangedCollection]

    /// What changed inside `property` of the object `primaryKey`, or nil.
    public func collection(_ primaryKey: PrimaryKey, _ property: String) -> CollectionChanges? {
        collections.first { $0.primaryKey == primaryKey && $0.property == property }?.changes
    }
}

/// What one commit changed, by class name.
public struct RealmChanges: Equatable, Sendable {
    public let classes: [String: ClassChanges]

    public subscript(className: String) -> ClassChanges? { classes[className] }

    /// Copies a borrowed native change set.
    init(native c: OpaquePointer) throws {
        var classes: [String: ClassChanges] = [:]
        for ci in 0..<driftsync_changes_class_count(c) {
            var name = driftsync_string_t()
            try check { driftsync_changes_class_name(c, ci, &name, $0) }
            var ins = 0, era = 0, mod = 0
            try check { driftsync_changes_counts(c, ci, &ins, &era, &mod, $0) }
            func key(_ f: (UnsafeMutablePointer<driftsync_pk_t>, ErrorOut) -> driftsync_status_t) throws -> PrimaryKey {
                var pk = driftsync_pk_t()
                try check { f(&pk, $0) }
                return try PrimaryKey(native: pk)
            }
            let inserted = try (0..<ins).map { i in try key { driftsync_changes_inserted(c, ci, i, $0, $1) } }
            let deleted = try (0..<era).map { i in try key { driftsync_changes_erased(c, ci, i, $0, $1) } }
            let modified = try (0..<mod).map { i -> ModifiedObject in
                var n = 0
                let pk = try key { driftsync_changes_modified(c, ci, i, $0, &n, $1) }
                let props = try (0..<n).map { p -> String in
                    var s = driftsync_string_t()
                    try check { driftsync_changes_modified_property(c, ci, i, p, &s, $0) }
                    return swiftString(s)
                }
                return ModifiedObject(primaryKey: pk, properties: props)
            }
            classes[swiftString(name)] = ClassChanges(
                inserted: inserted, deleted: deleted, modified: modified, collections: try Self.collections(c, ci))
        }
        self.classes = classes
    }

    /// The changes inside the collections of class `ci`: each part (0 deleted, 1 inserted,
    /// 2 modified) read with the getter of the collection's kind.
    private static func collections(_ c: OpaquePointer, _ ci: Int) throws -> [ChangedCollection] {
        var count = 0
        try check { driftsync_changes_collection_count(c, ci, &count, $0) }
        return try (0..<count).map { i -> ChangedCollection in
            var pk = driftsync_pk_t()
            var prop = driftsync_string_t()
            var kind = DRIFTSYNC_COLLECTION_NONE
            try check { driftsync_changes_collection(c, ci, i, &pk, &prop, &kind, $0) }
            func part<T>(_ p: Int32, _ get: (Int32, Int) throws -> T) throws -> [T] {
                var len = 0
                try check { driftsync_changes_collection_len(c, ci, i, p, &len, $0) }
                return try (0..<len).map { try get(p, $0) }
            }
            func index(_ p: Int32) throws -> [Int] {
                try part(p) { q, n in
                    var out = 0
                    try check { driftsync_changes_collection_index(c, ci, i, q, n, &out, $0) }
                    return out
                }
            }
            func element(_ p: Int32) throws -> [Value] {
                try part(p) { q, n in
                    var v = driftsync_value_t()
                    try check { driftsync_changes_collection_element(c, ci, i, q, n, &v, $0) }
                    return try Value(native: v)
                }
            }
            func key(_ p: Int32) throws -> [String] {
                try part(p) { q, n in
                    var s = driftsync_string_t()
                    try check { driftsync_changes_collection_key(c, ci, i, q, n, &s, $0) }
                    return swiftString(s)
                }
            }
            let changes: CollectionChanges
            switch kind {
            case DRIFTSYNC_COLLECTION_LIST: changes = .list(deletions: try index(0), insertions: try index(1), modifications: try index(2))
            case DRIFTSYNC_COLLECTION_SET: changes = .set(removed: try element(0), added: try element(1))
            default: changes = .dictionary(deleted: try key(0), inserted: try key(1), modified: try key(2))
            }
            return ChangedCollection(primaryKey: try PrimaryKey(native: pk), property: swiftString(prop), changes: changes)
        }
    }
}

typealias ObserverContext = ClosureContext<(RealmChanges) -> Void>

let observerTrampoline: driftsync_observer_fn = { userData, changes in
    guard let changes, let copy = try? RealmChanges(native: changes) else { return }
    ObserverContext.closure(userData)(copy)
}
