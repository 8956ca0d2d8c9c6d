package io.driftsync

import io.driftsync.internal.LogFn
import io.driftsync.internal.SyncLib
import java.util.logging.Level
import java.util.logging.Logger

/**
 * The native library's log lines, passed to `java.util.logging`: a line of category `sync`,
 * `reset` or `storage` goes to the logger `driftsync.sync` / `driftsync.reset` /
 * `driftsync.storage` (ERROR → SEVERE, WARN → WARNING, INFO → INFO, DEBUG → FINE,
 * TRACE → FINER). Installed when the library loads; configure it like any JUL logger (or bridge
 * JUL to SLF4J with jul-to-slf4j). Lines come from the sync thread and from calling threads.
 */
internal object NativeLog {
    /** DRIFTSYNC_LOG_DEBUG: every line a logger could want; JUL filters. */
    private const val THRESHOLD = 4

    private fun levelOf(n: Int): Level = when (n) {
        1 -> Level.SEVERE
        2 -> Level.WARNING
        3 -> Level.INFO
        4 -> Level.FINE
        else -> Level.FINER
    }

    /** Kept in a field: JNA must not collect a callback the library still holds. */
    private val callback = LogFn { _, level, category, message ->
        try {
            val logger = Logger.getLogger("driftsync.${category.text()}")
            val l = levelOf(level)
            if (logger.isLoggable(l)) logger.log(l, message.text())
        } catch (_: Throwable) {
            // never let anything unwind into the library
        }
    }

    fun install(s: SyncLib) {
        // Fails only when the process already has a Rust logger (an embedding host): keep that one.
        if (s.driftsync_set_log_callback(THRESHOLD, callback, null, null, null) == 0) {
            // No line may reach a JVM that is shutting down.
            Runtime.getRuntime().addShutdownHook(Thread { s.driftsync_set_log_callback(0, null, null, null, null) })
        }
    }
}
