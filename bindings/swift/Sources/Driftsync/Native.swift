import CDriftsync
import Foundation

/// The native library's version ("MAJOR.MINOR.PATCH").
public var driftsyncVersion: String { String(cString: driftsync_version()) }

/// Copies a borrowed C string view.
func swiftString(_ s: driftsync_string_t) -> String {
    guard let data = s.data, s.len > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: data, count: s.len), as: UTF8.self)
}

/// Memory for the inputs of one C call (strings and bytes inside structs), freed when the arena
/// goes away. Plain `String` arguments are passed by Swift's own bridging instead.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    func string(_ s: String) -> driftsync_string_t {
        let utf8 = Array(s.utf8)
        let p = copy(utf8)
        return driftsync_string_t(data: p?.assumingMemoryBound(to: CChar.self), len: utf8.count)
    }

    func bytes(_ b: [UInt8]) -> driftsync_bytes_t {
        let p = copy(b)
        return driftsync_bytes_t(data: p.map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) }, len: b.count)
    }

    private func copy(_ b: [UInt8]) -> UnsafeMutableRawPointer? {
        // A non-NULL pointer even for empty input: some fields refuse NULL data.
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(b.count, 1), alignment: 1)
        b.withUnsafeBytes { src in if let base = src.baseAddress { p.copyMemory(from: base, byteCount: b.count) } }
        blocks.append(p)
        return p
    }

    deinit { blocks.forEach { $0.deallocate() } }
}

func withArena<R>(_ body: (CArena) throws -> R) rethrows -> R {
    let arena = CArena()
    return try withExtendedLifetime(arena) { try body(arena) }
}

/// The `user_data` of every callback handed to the library: retained once when handed over
/// (`Unmanaged.passRetained`), released exactly once by the library's `user_data_free`.
/// `live` counts the contexts alive, so tests can check that each is freed exactly once.
class CallbackContext {
    private static let lock = NSLock()
    private static var count = 0
    private static var releaseCount = 0
    static var live: Int { lock.lock(); defer { lock.unlock() }; return count }
    /// How many times the library's `user_data_free` ran (for the lifecycle tests).
    static var releases: Int { lock.lock(); defer { lock.unlock() }; return releaseCount }
    static func noteRelease() { lock.lock(); releaseCount += 1; lock.unlock() }

    init() { Self.lock.lock(); Self.count += 1; Self.lock.unlock() }
    deinit { Self.lock.lock(); Self.count -= 1; Self.lock.unlock() }

    /// Hands one retained reference to the library.
    func retainedPointer() -> UnsafeMutableRawPointer { Unmanaged.passRetained(self).toOpaque() }

    static func from<T: CallbackContext>(_ p: UnsafeMutableRawPointer?, as: T.Type) -> T {
        Unmanaged<CallbackContext>.fromOpaque(p!).takeUnretainedValue() as! T
    }
}

/// The context of one closure (`F` is the closure's type).
final class ClosureContext<F>: CallbackContext {
    let call: F
    init(_ call: F) { self.call = call }

    /// The closure behind a `user_data` pointer made by `retainedPointer`.
    static func closure(_ p: UnsafeMutableRawPointer?) -> F { from(p, as: ClosureContext<F>.self).call }
}

/// The `user_data_free` of every registration: drops the reference `retainedPointer` gave.
let releaseCallbackContext: driftsync_user_data_free_fn = { p in
    guard let p else { return }
    CallbackContext.noteRelease()
    Unmanaged<CallbackContext>.fromOpaque(p).release()
}

/// A native realm handle with a reader/writer lock: calls hold it shared; a lent handle is
/// detached (exclusively) when the callback that lent it returns, after which calls throw
/// `.closed` instead of touching freed memory. An owned handle is freed when this goes away.
final class RealmHandle {
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    private var handle: OpaquePointer?
    private let owned: Bool
    private let closeLock = NSLock()
    private var closeActions: [() -> Void] = []

    init(_ handle: OpaquePointer, owned: Bool) {
        self.handle = handle
        self.owned = owned
        pthread_rwlock_init(lock, nil)
    }

    func with<R>(_ body: (OpaquePointer) throws -> R) throws -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        guard let h = handle else { throw DriftsyncError.closed() }
        return try body(h)
    }

    /// For the `driftsync_realm_is_*` queries: `fallback` once detached.
    func query(_ fallback: Bool, _ body: (OpaquePointer) -> Bool) -> Bool {
        (try? with(body)) ?? fallback
    }

    /// Closes the native handle. When no call is in flight it is also freed at once (so the file
    /// and its sync session are released now, not when the last Swift reference goes away);
    /// when one is (a close from inside an observer), it is only closed, and freed later.
    func close() {
        defer { runCloseActions() }
        if pthread_rwlock_trywrlock(lock) == 0 {
            if let h = handle {
                if owned { driftsync_realm_free(h) } else { _ = driftsync_realm_close(h, nil) }
            }
            handle = nil
            pthread_rwlock_unlock(lock)
        } else {
            _ = try? with { h in driftsync_realm_close(h, nil) }
        }
    }

    func detach() {
        pthread_rwlock_wrlock(lock)
        handle = nil
        pthread_rwlock_unlock(lock)
        runCloseActions()
    }

    /// Runs `action` once, when the handle is closed or detached (for ending change streams,
    /// whose observer the library unregisters then).
    func onClose(_ action: @escaping () -> Void) {
        closeLock.lock()
        closeActions.append(action)
        closeLock.unlock()
    }

    private func runCloseActions() {
        closeLock.lock()
        let actions = closeActions
        closeActions = []
        closeLock.unlock()
        actions.forEach { $0() }
    }

    deinit {
        if owned, let h = handle { driftsync_realm_free(h) }
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }
}

/// The native library's ABI version, and the one of the header this package was compiled with;
/// they are equal when library and header match.
public var driftsyncABIVersion: UInt32 { driftsync_abi_version() }
public let driftsyncHeaderABIVersion = UInt32(DRIFTSYNC_ABI_VERSION)

/// For the tests: a panic inside the library must come back as a `.panic` error.
func debugPanic() throws { try check { driftsync_debug_panic($0) } }
