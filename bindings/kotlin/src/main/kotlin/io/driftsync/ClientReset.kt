package io.driftsync

import com.sun.jna.Pointer
import com.sun.jna.ptr.IntByReference
import com.sun.jna.ptr.LongByReference
import com.sun.jna.ptr.PointerByReference
import io.driftsync.internal.DsDroppedChange
import io.driftsync.internal.DsResetTimings
import io.driftsync.internal.DsResetTimingsV2
import io.driftsync.internal.DsString
import io.driftsync.internal.Handle
import io.driftsync.internal.SizeT
import io.driftsync.internal.SizeTByReference

/** Why the server demands a client reset (DESIGN "Reset causes"). */
enum class ResetCause(internal val native: Int) {
    /** Not a reset demand (or a preview). */
    NONE(0),
    SERVER_RESTORED(1),
    SYNC_REENABLED(2),
    CLIENT_SCHEMA_AHEAD(3),
    CLIENT_TOO_OLD(4),
    BREAKING_SCHEMA_CHANGE(5),
    ROLE_CHANGED(6),
    UNKNOWN(-1);

    /** The server's spelling, e.g. "server_restored". */
    val serverName: String get() = Driftsync.sync.driftsync_reset_cause_name(native)

    companion object {
        fun of(n: Int): ResetCause = entries.firstOrNull { it.native == n } ?: UNKNOWN
    }
}

/** What a client reset does with the local realm. */
enum class ResetDecision(internal val native: Int) {
    RECOVER(0), DISCARD(1), MANUAL(2), UNKNOWN(-1);

    companion object {
        fun of(n: Int): ResetDecision = entries.firstOrNull { it.native == n } ?: UNKNOWN
    }
}

/** The plain mode of a [ClientResetMode] (as a report records it). */
enum class ClientResetModeKind(internal val native: Int) {
    MANUAL(0), DISCARD_UNSYNCED_CHANGES(1), RECOVER_UNSYNCED_CHANGES(2), RECOVER_OR_DISCARD_UNSYNCED_CHANGES(3), UNKNOWN(-1);

    companion object {
        fun of(n: Int): ClientResetModeKind = entries.firstOrNull { it.native == n } ?: UNKNOWN
    }
}

/** What the client must do about a server error. */
enum class ErrorAction(internal val native: Int) {
    CLIENT_RESET(0), CLIENT_RESET_NO_RECOVERY(1), RETRY(2), FATAL(3), WARNING(4), UNKNOWN(-1);

    companion object {
        fun of(n: Int): ErrorAction = entries.firstOrNull { it.native == n } ?: UNKNOWN
    }
}

/**
 * Runs before an automatic reset with a frozen, read-only snapshot of the realm as it was.
 * Throwing aborts the automatic reset: it falls back to the manual handler, and the report's
 * [ResetReport.beforeHookError] is the exception's text (`Throwable.toString()`: `type: message`). [before] is valid only
 * during the call.
 */
fun interface BeforeResetHook {
    fun onBeforeReset(before: Realm)
}

/**
 * Runs after an automatic reset with the frozen before-snapshot, the live realm and whether the
 * unsynced changes were recovered. It may read both and write to [after] (`after.write { }`).
 * Throwing is recorded in [ResetReport.afterHookError] as the exception's text (`type: message`; the
 * reset has already happened). Both
 * realms are valid only during the call.
 */
fun interface AfterResetHook {
    fun onAfterReset(before: Realm, after: Realm, didRecover: Boolean)
}

/**
 * Receives a reset the application must handle: see [ManualClientReset]. The realm's sync
 * session stays paused. If the app never calls [ManualClientReset.executeClientReset], the
 * reset runs at the next open of the realm.
 */
fun interface ManualResetHandler {
    fun onManualReset(reset: ManualClientReset)
}

/**
 * What to do when the server demands a client reset. Every hook and handler runs on the realm's
 * **sync thread** (a library thread): keep them short, and hand slow or UI work to another
 * thread, e.g. `executor.execute { … }` or `scope.launch(Dispatchers.Main) { … }` — but read the
 * realms they get before returning (they are closed when the hook returns). Do not wait for
 * upload or download inside them.
 */
sealed class ClientResetMode(internal val native: Int) {
    abstract val kind: ClientResetModeKind

    /** Called when an automatic reset cannot run (see the subclasses); null: none. */
    abstract val onManualResetFallback: ManualResetHandler?
    open val onBeforeReset: BeforeResetHook? get() = null
    open val onAfterReset: AfterResetHook? get() = null

    /** Hand every reset to [onManualReset] (the realm is backed up first). */
    class Manual(val onManualReset: ManualResetHandler) : ClientResetMode(0) {
        override val kind get() = ClientResetModeKind.MANUAL
        override val onManualResetFallback: ManualResetHandler get() = onManualReset
    }

    /** Replace the local state with the server's; unsynced changes are reported and dropped. */
    class DiscardUnsyncedChanges(
        override val onBeforeReset: BeforeResetHook? = null,
        override val onAfterReset: AfterResetHook? = null,
        override val onManualResetFallback: ManualResetHandler? = null,
    ) : ClientResetMode(1) {
        override val kind get() = ClientResetModeKind.DISCARD_UNSYNCED_CHANGES
    }

    /** Replay unsynced changes on the server's state; when recovery is not allowed: manual. */
    class RecoverUnsyncedChanges(
        override val onBeforeReset: BeforeResetHook? = null,
        override val onAfterReset: AfterResetHook? = null,
        override val onManualResetFallback: ManualResetHandler? = null,
    ) : ClientResetMode(2) {
        override val kind get() = ClientResetModeKind.RECOVER_UNSYNCED_CHANGES
    }

    /** Recover when allowed, else discard (the default). */
    class RecoverOrDiscardUnsyncedChanges(
        override val onBeforeReset: BeforeResetHook? = null,
        override val onAfterReset: AfterResetHook? = null,
        override val onManualResetFallback: ManualResetHandler? = null,
    ) : ClientResetMode(3) {
        override val kind get() = ClientResetModeKind.RECOVER_OR_DISCARD_UNSYNCED_CHANGES
    }

    override fun toString(): String = kind.name
}

/** One local instruction a reset did not apply as recorded. */
data class DroppedChange(
    val localVersion: Long,
    val instruction: String,
    val reason: String,
    /** True if it applied in part (e.g. a link left null) and is still uploaded. */
    val partially: Boolean,
)

/**
 * Time spent in each phase and when the reset completed (ms since the epoch; 0 for a preview).
 * The `…Us` fields (microseconds) include the change-summary phase and add up to [totalUs]; the
 * older `…Ms` fields have no summary phase.
 */
data class ResetTimings(
    val downloadMs: Long,
    val diffMs: Long,
    val replayMs: Long,
    val commitMs: Long,
    val completedAtMs: Long,
    val downloadUs: Long = 0,
    val diffUs: Long = 0,
    val replayUs: Long = 0,
    /** Producing the change summary and the report's counts. */
    val summaryUs: Long = 0,
    val commitUs: Long = 0,
    /** Download through commit: the sum of the five phases. */
    val totalUs: Long = 0,
)

/**
 * What a client reset did (from [Realm.lastResetReport]) or would do (from [Realm.previewReset]).
 * Nothing is dropped silently: [dropped] lists what recovery could not apply, [discarded] what a
 * discard threw away.
 */
data class ResetReport(
    val cause: ResetCause,
    val action: ErrorAction,
    val serverMessage: String,
    val mode: ClientResetModeKind,
    val decision: ResetDecision,
    val objectsInserted: Long,
    val objectsErased: Long,
    val objectsModified: Long,
    val recoveredChangesets: Long,
    val recoveredInstructions: Long,
    val dropped: List<DroppedChange>,
    val discarded: List<DroppedChange>,
    /** Why the before hook failed (null when it did not run or succeeded). */
    val beforeHookError: String?,
    /** Why the after hook failed (null when it did not run or succeeded). */
    val afterHookError: String?,
    /** The manual-reset backup, or the copy kept before an automatic reset; null when none. */
    val backupPath: String?,
    val timings: ResetTimings,
    /** Payload bytes of the fresh copy's messages, both directions. */
    val transferredBytes: Long = 0,
    /** Key ranges that differed between this realm and the server (0 for a full copy). */
    val rangesDiffered: Long = 0,
) {
    /** The Kotlin exception a before hook threw (when [beforeHookError] comes from one). */
    var beforeHookException: Throwable? = null
        internal set

    /** The Kotlin exception an after hook threw (when [afterHookError] comes from one). */
    var afterHookException: Throwable? = null
        internal set

    internal companion object {
        /** Reads a native report (does not free it). */
        fun read(r: Pointer): ResetReport {
            val s = Driftsync.sync
            fun int(f: (IntByReference, PointerByReference) -> Int): Int = IntByReference().also { o -> check { f(o, it) } }.value
            fun str(f: (DsString, PointerByReference) -> Int): String = DsString().also { o -> check { f(o, it) } }.text()
            val ins = LongByReference(); val era = LongByReference(); val mod = LongByReference()
            check { s.driftsync_reset_report_objects(r, ins, era, mod, it) }
            val cs = LongByReference(); val ci = LongByReference()
            check { s.driftsync_reset_report_recovered(r, cs, ci, it) }
            fun changes(count: (SizeTByReference, PointerByReference) -> Int, at: (SizeT, DsDroppedChange, PointerByReference) -> Int): List<DroppedChange> {
                val n = SizeTByReference().also { o -> check { count(o, it) } }.value
                return (0 until n).map { i ->
                    val d = DsDroppedChange()
                    check { at(SizeT(i), d, it) }
                    DroppedChange(d.local_version, d.instruction.text(), d.reason.text(), d.partially.toInt() != 0)
                }
            }
            val t = DsResetTimings()
            check { s.driftsync_reset_report_timings(r, t, it) }
            val t2 = DsResetTimingsV2()
            check { s.driftsync_reset_report_timings_v2(r, t2, it) }
            val bytes = LongByReference(); val ranges = LongByReference()
            check { s.driftsync_reset_report_transfer(r, bytes, ranges, it) }
            return ResetReport(
                cause = ResetCause.of(int { o, e -> s.driftsync_reset_report_cause(r, o, e) }),
                action = ErrorAction.of(int { o, e -> s.driftsync_reset_report_action(r, o, e) }),
                serverMessage = str { o, e -> s.driftsync_reset_report_server_message(r, o, e) },
                mode = ClientResetModeKind.of(int { o, e -> s.driftsync_reset_report_mode(r, o, e) }),
                decision = ResetDecision.of(int { o, e -> s.driftsync_reset_report_decision(r, o, e) }),
                objectsInserted = ins.value, objectsErased = era.value, objectsModified = mod.value,
                recoveredChangesets = cs.value, recoveredInstructions = ci.value,
                dropped = changes({ o, e -> s.driftsync_reset_report_dropped_count(r, o, e) }) { i, d, e -> s.driftsync_reset_report_dropped(r, i, d, e) },
                discarded = changes({ o, e -> s.driftsync_reset_report_discarded_count(r, o, e) }) { i, d, e -> s.driftsync_reset_report_discarded(r, i, d, e) },
                beforeHookError = str { o, e -> s.driftsync_reset_report_before_hook_error(r, o, e) }.ifEmpty { null },
                afterHookError = str { o, e -> s.driftsync_reset_report_after_hook_error(r, o, e) }.ifEmpty { null },
                backupPath = str { o, e -> s.driftsync_reset_report_backup_path(r, o, e) }.ifEmpty { null },
                timings = ResetTimings(
                    t.download_ms, t.diff_ms, t.replay_ms, t.commit_ms, t.completed_at_ms,
                    downloadUs = t2.download_us, diffUs = t2.diff_us, replayUs = t2.replay_us,
                    summaryUs = t2.summary_us, commitUs = t2.commit_us, totalUs = t2.total_us,
                ),
                transferredBytes = bytes.value,
                rangesDiffered = ranges.value,
            )
        }

        /** Reads and frees an owned native report; null pointer → null. */
        fun take(r: Pointer?): ResetReport? {
            if (r == null) return null
            try {
                return read(r)
            } finally {
                Driftsync.sync.driftsync_reset_report_free(r)
            }
        }
    }
}

/**
 * A client reset handed to the application: why, the server's message, the realm's path, the
 * backup (a complete realm as it was, unsynced changes included — open it with a configuration
 * without sync), the report, and [executeClientReset].
 *
 * The handler's object stays valid after the handler returns (it holds an owned copy); [close]
 * it when done (a Cleaner frees it otherwise).
 */
class ManualClientReset internal constructor(ptr: Pointer) : AutoCloseable {
    private val handle = Handle(this, ptr, "manual reset", free = { Driftsync.sync.driftsync_manual_reset_free(it) })

    val cause: ResetCause
    val message: String
    val originalPath: String
    val backupPath: String
    val report: ResetReport

    init {
        val s = Driftsync.sync
        cause = ResetCause.of(IntByReference().also { o -> check { s.driftsync_manual_reset_cause(ptr, o, it) } }.value)
        message = DsString().also { o -> check { s.driftsync_manual_reset_message(ptr, o, it) } }.text()
        originalPath = DsString().also { o -> check { s.driftsync_manual_reset_original_path(ptr, o, it) } }.text()
        backupPath = DsString().also { o -> check { s.driftsync_manual_reset_backup_path(ptr, o, it) } }.text()
        val out = PointerByReference()
        check { s.driftsync_manual_reset_report(ptr, out, it) }
        report = ResetReport.take(out.value)!!.let { HookFailures.augment(originalPath, it) }
    }

    /**
     * Performs the reset now: the realm file is deleted (the backup keeps its data) and the next
     * open starts from the server's state. Every [Realm] of the file in this process must be
     * closed first, otherwise [TransactionException] (BUSY) says so. May be called from the
     * handler, from any thread, and more than once.
     */
    fun executeClientReset() = handle.use { p -> check { Driftsync.sync.driftsync_manual_reset_perform(p, it) } }

    override fun close() = handle.close()

    override fun toString(): String = "ManualClientReset(cause=$cause, original=$originalPath, backup=$backupPath)"

    internal companion object {
        /** An owned copy of the handler's borrowed reset. */
        fun cloneOf(borrowed: Pointer): ManualClientReset {
            val out = PointerByReference()
            check { Driftsync.sync.driftsync_manual_reset_clone(borrowed, out, it) }
            return ManualClientReset(out.value)
        }
    }
}
