import CDriftsync

/// The level of a library log line, and the threshold of `DriftsyncLog.setHandler`.
public enum LogLevel: Int32, Comparable, Sendable {
    /// As a threshold: no lines (removes the handler).
    case off = 0, error, warn, info, debug, trace

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// The library's log: one process-wide handler receives every line at its threshold or more
/// severe, with the line's level, its category ("sync", "reset", "storage") and its message.
///
/// Threads: the handler runs on whichever thread logged the line (the sync thread, or a thread
/// inside a library call), possibly on several at once; it should be quick. It may call into the
/// library, but must not wait for upload or download.
public enum DriftsyncLog {
    /// Installs `handler` for lines at `level` or more severe, replacing the previous handler
    /// (which is released once no call of it is in flight). `.off` or a nil handler removes it.
    /// Throws `.invalidArgument` if the process has another `log` logger of its own (a Rust
    /// component that installed one first).
    public static func setHandler(level: LogLevel, _ handler: ((LogLevel, String, String) -> Void)?) throws {
        guard let handler, level != .off else {
            try check { driftsync_set_log_callback(LogLevel.off.rawValue, nil, nil, nil, $0) }
            return
        }
        let ctx = LogContext(handler)
        try check { driftsync_set_log_callback(level.rawValue, logTrampoline, ctx.retainedPointer(), releaseCallbackContext, $0) }
    }

    /// Removes the handler (the library logs nowhere).
    public static func removeHandler() throws { try setHandler(level: .off, nil) }
}

typealias LogContext = ClosureContext<(LogLevel, String, String) -> Void>

let logTrampoline: driftsync_log_fn = { userData, level, category, message in
    let l = LogLevel(rawValue: Int32(bitPattern: level.rawValue)) ?? .trace
    LogContext.closure(userData)(l, swiftString(category), swiftString(message))
}
