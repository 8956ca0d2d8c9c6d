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

/// What one commit changed in one class, in primary-key order.
public struct ClassChanges: Equatable, Sendable {
    public let inserted: [PrimaryKey]
    public let deleted: [PrimaryKey]
    public let modified: [ModifiedObject]
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
            classes[swiftString(name)] = ClassChanges(inserted: inserted, deleted: deleted, modified: modified)
        }
        self.classes = classes
    }
}

typealias ObserverContext = ClosureContext<(RealmChanges) -> Void>

let observerTrampoline: driftsync_observer_fn = { userData, changes in
    guard let changes, let copy = try? RealmChanges(native: changes) else { return }
    ObserverContext.closure(userData)(copy)
}
