import CDriftsync
import Foundation

/// An open realm (one local database file), or a frozen snapshot of one.
///
/// A `Realm` may be used from any thread, also by several at once; a write transaction belongs
/// to the thread that began it. `close()` closes it (later calls throw `.closed`); the native
/// handle is freed when the last reference goes away. Realms lent to reset hooks are valid only
/// during the hook: afterwards every call throws `.closed`.
public final class Realm {
    /// How to open a realm.
    public struct Configuration {
        /// The realm file (created on open if missing; its directory must exist).
        public var fileURL: URL
        public var schema: Schema
        /// Sync settings; nil for a local realm.
        public var syncConfiguration: SyncConfiguration?
        /// How long `write` waits for another writer (nil: the library's 10 s).
        public var writeTimeout: TimeInterval?

        public init(fileURL: URL, schema: Schema, syncConfiguration: SyncConfiguration? = nil, writeTimeout: TimeInterval? = nil) {
            self.fileURL = fileURL
            self.schema = schema
            self.syncConfiguration = syncConfiguration
            self.writeTimeout = writeTimeout
        }
    }

    let handle: RealmHandle
    /// The configuration it was opened with (nil for a realm lent to a reset hook).
    public let configuration: Configuration?

    /// Opens (or creates) the realm; a synced realm starts its sync session.
    public init(configuration: Configuration) throws {
        let config = try configuration.native()
        defer { driftsync_config_free(config) }
        var out: OpaquePointer?
        try check { driftsync_realm_open(config, &out, $0) }
        self.handle = RealmHandle(out!, owned: true)
        self.configuration = configuration
    }

    init(handle: RealmHandle, configuration: Configuration?) {
        self.handle = handle
        self.configuration = configuration
    }

    /// Wraps a handle the library lends to a callback; `handle.detach()` when it returns.
    static func lent(_ h: OpaquePointer) -> Realm {
        Realm(handle: RealmHandle(h, owned: false), configuration: nil)
    }

    func with<R>(_ body: (OpaquePointer) throws -> R) throws -> R { try handle.with(body) }

    // MARK: lifecycle

    /// Closes the realm: a write transaction this thread has open is rolled back, its observers
    /// stop, and every later call throws `.closed`. The file (and, with the last realm of the
    /// file, its sync session) is released now. Closing twice is fine.
    public func close() { handle.close() }

    public var isClosed: Bool { handle.query(true) { driftsync_realm_is_closed($0) } }
    public var isFrozen: Bool { handle.query(false) { driftsync_realm_is_frozen($0) } }
    /// Whether the calling thread has a write transaction open on this realm.
    public var isInWriteTransaction: Bool { handle.query(false) { driftsync_realm_is_in_write_transaction($0) } }

    /// A frozen, read-only snapshot of the latest commit (writes to it throw `.writeOnFrozen`).
    public func freeze() throws -> Realm {
        let frozen: OpaquePointer = try with { h in
            var out: OpaquePointer?
            try check { driftsync_realm_freeze(h, &out, $0) }
            return out!
        }
        return Realm(handle: RealmHandle(frozen, owned: true), configuration: configuration)
    }

    // MARK: transactions

    /// Runs `block` in a write transaction on this thread and commits it. If `block` throws (or
    /// the commit fails) the transaction is rolled back and the error rethrown.
    @discardableResult
    public func write<Result>(_ block: () throws -> Result) throws -> Result {
        try beginWrite()
        do {
            let result = try block()
            try commitWrite()
            return result
        } catch {
            if isInWriteTransaction { try? cancelWrite() }
            throw error
        }
    }

    /// Begins a write transaction owned by the calling thread (waits for another writer up to
    /// the write timeout, then `.busy`).
    public func beginWrite() throws { try with { h in try check { driftsync_realm_begin_write(h, $0) } } }

    /// Commits this thread's write transaction; observers run on this thread before it returns.
    public func commitWrite() throws { try with { h in try check { driftsync_realm_commit(h, $0) } } }

    /// Rolls back this thread's write transaction; nothing is notified.
    public func cancelWrite() throws { try with { h in try check { driftsync_realm_cancel_write(h, $0) } } }

    // MARK: objects

    /// Creates an object with some fields set (lists as `.list`); the others get defaults.
    /// Throws `.duplicatePrimaryKey` if it exists. Needs a write transaction.
    public func create(_ className: String, primaryKey: PrimaryKey, _ values: [String: Value] = [:]) throws {
        try put(className, primaryKey, values, driftsync_realm_create)
    }

    /// Creates an object, or sets the given fields if it exists. Needs a write transaction.
    public func upsert(_ className: String, primaryKey: PrimaryKey, _ values: [String: Value] = [:]) throws {
        try put(className, primaryKey, values, driftsync_realm_upsert)
    }

    private typealias PutFn = (OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafePointer<driftsync_pk_t>?,
                               UnsafePointer<driftsync_field_t>?, Int, ErrorOut?) -> driftsync_status_t

    private func put(_ className: String, _ primaryKey: PrimaryKey, _ values: [String: Value], _ fn: PutFn) throws {
        let scalars = values.filter { $0.value.listValue == nil }
        let lists = values.compactMap { k, v in v.listValue.map { (k, $0) } }
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                let fields = try scalars.map { k, v in driftsync_field_t(name: arena.string(k), value: try v.native(arena)) }
                try fields.withUnsafeBufferPointer { buf in
                    try check { fn(h, className, className.utf8.count, &pk, buf.baseAddress, buf.count, $0) }
                }
            }
        }
        for (property, elements) in lists {
            try list(className, primaryKey: primaryKey, property).replaceAll(with: elements)
        }
    }

    /// Sets one property (a list property: its whole content). Needs a write transaction.
    public func set(_ className: String, primaryKey: PrimaryKey, _ property: String, _ value: Value) throws {
        if let elements = value.listValue {
            try list(className, primaryKey: primaryKey, property).replaceAll(with: elements)
            return
        }
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                var v = try value.native(arena)
                try check { driftsync_realm_set_value(h, className, className.utf8.count, &pk, property, property.utf8.count, &v, $0) }
            }
        }
    }

    /// Adds `delta` to a counter property (wrapping on overflow). Concurrent adds on other
    /// clients add up, in sync and in client-reset recovery; `set` replaces the value. A property
    /// that is not a counter is `.typeMismatch` and changes nothing. Needs a write transaction.
    public func counterAdd(_ className: String, primaryKey: PrimaryKey, _ property: String, _ delta: Int64) throws {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                try check { driftsync_realm_counter_add(h, className, className.utf8.count, &pk, property, property.utf8.count, delta, $0) }
            }
        }
    }

    /// Sets `key` of a dictionary property to `value` (inserting the key). Needs a write transaction.
    public func dictSet(_ className: String, primaryKey: PrimaryKey, _ property: String, key: String, _ value: Value) throws {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                var v = try value.native(arena)
                try check {
                    driftsync_realm_dict_set(h, className, className.utf8.count, &pk, property, property.utf8.count, key, key.utf8.count, &v, $0)
                }
            }
        }
    }

    /// Erases `key` of a dictionary property (a no-op if it is absent). Needs a write transaction.
    public func dictErase(_ className: String, primaryKey: PrimaryKey, _ property: String, key: String) throws {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                try check { driftsync_realm_dict_erase(h, className, className.utf8.count, &pk, property, property.utf8.count, key, key.utf8.count, $0) }
            }
        }
    }

    /// Erases the keys this transaction sees (a key added concurrently elsewhere stays).
    public func dictClear(_ className: String, primaryKey: PrimaryKey, _ property: String) throws {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                try check { driftsync_realm_dict_clear(h, className, className.utf8.count, &pk, property, property.utf8.count, $0) }
            }
        }
    }

    /// The entries of a dictionary property.
    public func dictionary(_ className: String, primaryKey: PrimaryKey, _ property: String) throws -> [String: Value] {
        guard let o = try object(className, primaryKey: primaryKey) else {
            throw DriftsyncError(code: .objectNotFound, message: "no \(className) with primary key \(primaryKey)")
        }
        guard let d = o[property]?.dictionaryValue else {
            throw DriftsyncError(code: .typeMismatch, message: "'\(className).\(property)' is not a dictionary")
        }
        return d
    }

    /// Adds `value` to a set property (a no-op if it is there). Needs a write transaction.
    public func setAdd(_ className: String, primaryKey: PrimaryKey, _ property: String, _ value: Value) throws {
        try setCall(className, primaryKey, property, value, driftsync_realm_set_add)
    }

    /// Removes `value` from a set property (a no-op if it is not there). Needs a write transaction.
    public func setRemove(_ className: String, primaryKey: PrimaryKey, _ property: String, _ value: Value) throws {
        try setCall(className, primaryKey, property, value, driftsync_realm_set_remove)
    }

    /// Removes the elements this transaction sees (one added concurrently elsewhere stays).
    public func setClear(_ className: String, primaryKey: PrimaryKey, _ property: String) throws {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                try check { driftsync_realm_set_clear(h, className, className.utf8.count, &pk, property, property.utf8.count, $0) }
            }
        }
    }

    /// The elements of a set property, in canonical order (the same on every client).
    public func setElements(_ className: String, primaryKey: PrimaryKey, _ property: String) throws -> [Value] {
        guard let o = try object(className, primaryKey: primaryKey) else {
            throw DriftsyncError(code: .objectNotFound, message: "no \(className) with primary key \(primaryKey)")
        }
        return o[property]?.listValue ?? []
    }

    private func setCall(
        _ className: String, _ primaryKey: PrimaryKey, _ property: String, _ value: Value,
        _ fn: (OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafePointer<driftsync_pk_t>?, UnsafePointer<CChar>?, Int,
               UnsafePointer<driftsync_value_t>?, UnsafeMutablePointer<OpaquePointer?>?) -> driftsync_status_t
    ) throws {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                var v = try value.native(arena)
                try check { fn(h, className, className.utf8.count, &pk, property, property.utf8.count, &v, $0) }
            }
        }
    }

    /// Reads one non-list property.
    public func get(_ className: String, primaryKey: PrimaryKey, _ property: String) throws -> Value {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                var out: OpaquePointer?
                try check { driftsync_realm_get_value(h, className, className.utf8.count, &pk, property, property.utf8.count, &out, $0) }
                defer { driftsync_owned_value_free(out) }
                return try ownedValue(out!)
            }
        }
    }

    /// Deletes an object (`.objectNotFound` if there is none); links to it become null and it
    /// leaves every list of links. Needs a write transaction.
    public func delete(_ className: String, primaryKey: PrimaryKey) throws {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                try check { driftsync_realm_erase(h, className, className.utf8.count, &pk, $0) }
            }
        }
    }

    /// The object with this primary key, or nil.
    public func object(_ className: String, primaryKey: PrimaryKey) throws -> DynamicObject? {
        try with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                var out: OpaquePointer?
                do {
                    try check { driftsync_realm_get_object(h, className, className.utf8.count, &pk, &out, $0) }
                } catch let e as DriftsyncError where e.code == .objectNotFound {
                    return nil
                }
                defer { driftsync_object_free(out) }
                return try DynamicObject(native: out!)
            }
        }
    }

    /// Every object of a class, in primary-key order.
    public func objects(_ className: String) throws -> [DynamicObject] {
        try with { h in
            var cursor: OpaquePointer?
            try check { driftsync_realm_cursor_new(h, className, className.utf8.count, 0, &cursor, $0) }
            defer { driftsync_cursor_free(cursor) }
            var result: [DynamicObject] = []
            while true {
                var o: OpaquePointer?
                try check { driftsync_cursor_next(cursor, &o, $0) }
                guard let obj = o else { return result }
                defer { driftsync_object_free(obj) }
                result.append(try DynamicObject(native: obj))
            }
        }
    }

    /// The number of objects of a class.
    public func count(_ className: String) throws -> Int {
        try with { h in
            var n: UInt64 = 0
            try check { driftsync_realm_count(h, className, className.utf8.count, &n, $0) }
            return Int(n)
        }
    }

    /// The list property of one object, to read and change element by element.
    public func list(_ className: String, primaryKey: PrimaryKey, _ property: String) -> List {
        List(realm: self, className: className, primaryKey: primaryKey, property: property)
    }

    // MARK: notifications

    /// Calls `block` after each commit that changed something in the realm (or, with
    /// `className`, in that class). It runs on the thread that committed, before its
    /// `write`/`commitWrite` returns (for downloads and resets: the sync thread), and may read and
    /// write the realm. Notifications stop when the token is invalidated or released, or the
    /// realm is closed.
    public func observe(className: String? = nil, _ block: @escaping (RealmChanges) -> Void) throws -> NotificationToken {
        let ctx = ObserverContext(block)
        return try register { h, out, err in
            if let className {
                return driftsync_realm_observe_class(h, className, className.utf8.count, observerTrampoline, ctx.retainedPointer(), releaseCallbackContext, out, err)
            }
            return driftsync_realm_observe(h, observerTrampoline, ctx.retainedPointer(), releaseCallbackContext, out, err)
        }
    }

    /// Calls `block` after each commit that inserted, deleted or modified one object.
    public func observe(_ className: String, primaryKey: PrimaryKey, _ block: @escaping (RealmChanges) -> Void) throws -> NotificationToken {
        let ctx = ObserverContext(block)
        return try withArena { arena in
            var pk = primaryKey.native(arena)
            return try register { h, out, err in
                driftsync_realm_observe_object(h, className, className.utf8.count, &pk, observerTrampoline, ctx.retainedPointer(), releaseCallbackContext, out, err)
            }
        }
    }

    /// The changes of every later commit as an `AsyncStream`. The observer is removed when the
    /// stream terminates (its consumer stops); the stream finishes when the realm is closed.
    public func changes(className: String? = nil) throws -> AsyncStream<RealmChanges> {
        let (stream, continuation) = AsyncStream.makeStream(of: RealmChanges.self)
        let token = try observe(className: className) { continuation.yield($0) }
        continuation.onTermination = { _ in token.invalidate() }
        handle.onClose { continuation.finish() }
        return stream
    }

    /// One registration call that hands a retained context to the library and gets a token.
    func register(_ call: (OpaquePointer, UnsafeMutablePointer<OpaquePointer?>, ErrorOut) -> driftsync_status_t) throws -> NotificationToken {
        try with { h in
            var out: OpaquePointer?
            try check { call(h, &out, $0) }
            return NotificationToken(out!)
        }
    }

    // MARK: sync and client reset

    /// The sync session of a synced realm (nil for a local realm, a frozen snapshot, or a realm
    /// lent to a reset hook).
    public var syncSession: SyncSession? {
        guard configuration?.syncConfiguration != nil, !isFrozen else { return nil }
        return SyncSession(realm: self)
    }

    /// The report of the last client reset of this file (nil if it was never reset).
    public func lastResetReport() throws -> ResetReport? {
        try with { h in
            var out: OpaquePointer?
            try check { driftsync_realm_last_reset_report(h, &out, $0) }
            guard let r = out else { return nil }
            defer { driftsync_reset_report_free(r) }
            return try ResetReport(native: r)
        }
    }

    /// What a client reset with `decision` (`.recover` or `.discard`) would do, without doing
    /// it: the server's state is downloaded (the download-progress closure runs on this thread)
    /// and the transform is rolled back.
    public func previewReset(_ decision: ResetDecision) throws -> ResetReport {
        try with { h in
            var out: OpaquePointer?
            try check { driftsync_realm_preview_reset(h, decision.rawValue, &out, $0) }
            defer { driftsync_reset_report_free(out) }
            return try ResetReport(native: out!)
        }
    }
}

func ownedValue(_ v: OpaquePointer) throws -> Value {
    var view = driftsync_value_t()
    try check { driftsync_owned_value_get(v, &view, $0) }
    return try Value(native: view)
}

/// A list property of one object. Reads see the latest commit; changes need a write
/// transaction.
public struct List {
    public let realm: Realm
    public let className: String
    public let primaryKey: PrimaryKey
    public let property: String

    private func call(_ body: (OpaquePointer, UnsafePointer<driftsync_pk_t>, CArena) throws -> Void) throws {
        try realm.with { h in
            try withArena { arena in
                var pk = primaryKey.native(arena)
                try body(h, &pk, arena)
            }
        }
    }

    public func count() throws -> Int {
        var n = 0
        try call { h, pk, _ in try check { driftsync_realm_list_len(h, className, className.utf8.count, pk, property, property.utf8.count, &n, $0) } }
        return n
    }

    public func element(at index: Int) throws -> Value {
        var value = Value.null
        try call { h, pk, _ in
            var out: OpaquePointer?
            try check { driftsync_realm_list_get(h, className, className.utf8.count, pk, property, property.utf8.count, index, &out, $0) }
            defer { driftsync_owned_value_free(out) }
            value = try ownedValue(out!)
        }
        return value
    }

    public func elements() throws -> [Value] { try (0..<count()).map { try element(at: $0) } }

    public func append(_ value: Value) throws {
        try call { h, pk, arena in
            var v = try value.native(arena)
            try check { driftsync_realm_list_push(h, className, className.utf8.count, pk, property, property.utf8.count, &v, $0) }
        }
    }

    public func insert(_ value: Value, at index: Int) throws {
        try call { h, pk, arena in
            var v = try value.native(arena)
            try check { driftsync_realm_list_insert(h, className, className.utf8.count, pk, property, property.utf8.count, index, &v, $0) }
        }
    }

    public func set(_ value: Value, at index: Int) throws {
        try call { h, pk, arena in
            var v = try value.native(arena)
            try check { driftsync_realm_list_set(h, className, className.utf8.count, pk, property, property.utf8.count, index, &v, $0) }
        }
    }

    public func remove(at index: Int) throws {
        try call { h, pk, _ in try check { driftsync_realm_list_erase(h, className, className.utf8.count, pk, property, property.utf8.count, index, $0) } }
    }

    public func move(from: Int, to: Int) throws {
        try call { h, pk, _ in try check { driftsync_realm_list_move(h, className, className.utf8.count, pk, property, property.utf8.count, from, to, $0) } }
    }

    public func removeAll() throws {
        try call { h, pk, _ in try check { driftsync_realm_list_clear(h, className, className.utf8.count, pk, property, property.utf8.count, $0) } }
    }

    func replaceAll(with elements: [Value]) throws {
        try removeAll()
        for e in elements { try append(e) }
    }
}
