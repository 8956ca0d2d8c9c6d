package io.driftsync.internal

import com.sun.jna.Callback
import com.sun.jna.Pointer
import com.sun.jna.Structure
import com.sun.jna.ptr.ByteByReference
import com.sun.jna.ptr.IntByReference
import com.sun.jna.ptr.LongByReference
import com.sun.jna.ptr.PointerByReference

/** `driftsync_before_reset_fn` (returns C bool). */
fun interface BeforeResetFn : Callback {
    fun invoke(userData: Pointer?, before: Pointer?): Byte
}

/** `driftsync_after_reset_fn` (returns C bool). */
fun interface AfterResetFn : Callback {
    fun invoke(userData: Pointer?, before: Pointer?, live: Pointer?, didRecover: Byte): Byte
}

/** `driftsync_before_reset_v2_fn` (returns C bool); `result` is a `driftsync_hook_result_t *`. */
fun interface BeforeResetV2Fn : Callback {
    fun invoke(userData: Pointer?, before: Pointer?, result: Pointer?): Byte
}

/** `driftsync_after_reset_v2_fn` (returns C bool); `result` is a `driftsync_hook_result_t *`. */
fun interface AfterResetV2Fn : Callback {
    fun invoke(userData: Pointer?, before: Pointer?, live: Pointer?, didRecover: Byte, result: Pointer?): Byte
}

/** `driftsync_manual_reset_fn`. */
fun interface ManualResetFn : Callback {
    fun invoke(userData: Pointer?, reset: Pointer?)
}

/** `driftsync_download_progress_fn`. */
fun interface DownloadProgressFn : Callback {
    fun invoke(userData: Pointer?, received: Long, total: Long)
}

/** `driftsync_sync_state_fn`. */
fun interface SyncStateFn : Callback {
    fun invoke(userData: Pointer?, oldState: Int, newState: Int)
}

/** `driftsync_sync_error_fn`. */
fun interface SyncErrorFn : Callback {
    fun invoke(userData: Pointer?, error: Pointer?)
}

/** `driftsync_log_fn`: level, category and message (strings by value). */
fun interface LogFn : Callback {
    fun invoke(userData: Pointer?, level: Int, category: DsString.ByValue, message: DsString.ByValue)
}

/** `driftsync_sync_progress_t`. */
@Structure.FieldOrder("uploaded", "uploadable", "downloaded", "downloadable")
class DsSyncProgress : Structure() {
    @JvmField var uploaded: Long = 0
    @JvmField var uploadable: Long = 0
    @JvmField var downloaded: Long = 0
    @JvmField var downloadable: Long = 0
}

/** `driftsync_dropped_change_t`. */
@Structure.FieldOrder("local_version", "instruction", "reason", "partially")
class DsDroppedChange : Structure() {
    @JvmField var local_version: Long = 0
    @JvmField var instruction: DsString = DsString()
    @JvmField var reason: DsString = DsString()
    @JvmField var partially: Byte = 0
}

/** `driftsync_reset_timings_t`. */
@Structure.FieldOrder("download_ms", "diff_ms", "replay_ms", "commit_ms", "completed_at_ms")
class DsResetTimings : Structure() {
    @JvmField var download_ms: Long = 0
    @JvmField var diff_ms: Long = 0
    @JvmField var replay_ms: Long = 0
    @JvmField var commit_ms: Long = 0
    @JvmField var completed_at_ms: Long = 0
}

/** `driftsync_reset_timings_v2_t`. */
@Structure.FieldOrder("download_us", "diff_us", "replay_us", "summary_us", "commit_us", "total_us", "completed_at_ms")
class DsResetTimingsV2 : Structure() {
    @JvmField var download_us: Long = 0
    @JvmField var diff_us: Long = 0
    @JvmField var replay_us: Long = 0
    @JvmField var summary_us: Long = 0
    @JvmField var commit_us: Long = 0
    @JvmField var total_us: Long = 0
    @JvmField var completed_at_ms: Long = 0
}

/**
 * The sync-session and client-reset part of the C ABI. Loaded from the same library as
 * [NativeLib] (JNA binds each function on its first call).
 */
@Suppress("FunctionName")
interface SyncLib : com.sun.jna.Library {
    // config
    fun driftsync_config_builder_set_start_paused(b: Pointer?, v: Byte, err: PointerByReference?): Int
    fun driftsync_config_builder_set_keep_backup(b: Pointer?, v: Byte, err: PointerByReference?): Int
    fun driftsync_config_builder_add_trusted_ca_pem(b: Pointer?, pem: ByteArray?, len: SizeT, err: PointerByReference?): Int
    fun driftsync_config_builder_set_allow_cleartext(b: Pointer?, v: Byte, err: PointerByReference?): Int
    fun driftsync_config_builder_set_before_reset(b: Pointer?, cb: BeforeResetFn?, ud: Pointer?, free: UserDataFreeFn?, err: PointerByReference?): Int
    fun driftsync_config_builder_set_after_reset(b: Pointer?, cb: AfterResetFn?, ud: Pointer?, free: UserDataFreeFn?, err: PointerByReference?): Int
    fun driftsync_config_builder_set_before_reset_v2(b: Pointer?, cb: BeforeResetV2Fn?, ud: Pointer?, free: UserDataFreeFn?, err: PointerByReference?): Int
    fun driftsync_config_builder_set_after_reset_v2(b: Pointer?, cb: AfterResetV2Fn?, ud: Pointer?, free: UserDataFreeFn?, err: PointerByReference?): Int
    fun driftsync_hook_result_fail(result: Pointer?, message: ByteArray?, len: SizeT, err: PointerByReference?): Int
    fun driftsync_config_builder_set_manual_reset_handler(b: Pointer?, cb: ManualResetFn?, ud: Pointer?, free: UserDataFreeFn?, err: PointerByReference?): Int
    fun driftsync_config_builder_set_download_progress(b: Pointer?, cb: DownloadProgressFn?, ud: Pointer?, free: UserDataFreeFn?, err: PointerByReference?): Int
    fun driftsync_config_builder_set_sync_error_handler(b: Pointer?, cb: SyncErrorFn?, ud: Pointer?, free: UserDataFreeFn?, err: PointerByReference?): Int
    fun driftsync_config_builder_set_connection_state_handler(b: Pointer?, cb: SyncStateFn?, ud: Pointer?, free: UserDataFreeFn?, err: PointerByReference?): Int

    // log
    fun driftsync_set_log_callback(level: Int, cb: LogFn?, ud: Pointer?, free: UserDataFreeFn?, err: PointerByReference?): Int

    // reset report
    fun driftsync_realm_last_reset_report(r: Pointer?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_realm_preview_reset(r: Pointer?, decision: Int, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_cause(rep: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_action(rep: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_server_message(rep: Pointer?, out: DsString?, err: PointerByReference?): Int
    fun driftsync_reset_report_mode(rep: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_decision(rep: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_objects(rep: Pointer?, ins: LongByReference?, era: LongByReference?, mod: LongByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_recovered(rep: Pointer?, cs: LongByReference?, ins: LongByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_dropped_count(rep: Pointer?, out: SizeTByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_discarded_count(rep: Pointer?, out: SizeTByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_dropped(rep: Pointer?, index: SizeT, out: DsDroppedChange?, err: PointerByReference?): Int
    fun driftsync_reset_report_discarded(rep: Pointer?, index: SizeT, out: DsDroppedChange?, err: PointerByReference?): Int
    fun driftsync_reset_report_before_hook_error(rep: Pointer?, out: DsString?, err: PointerByReference?): Int
    fun driftsync_reset_report_after_hook_error(rep: Pointer?, out: DsString?, err: PointerByReference?): Int
    fun driftsync_reset_report_backup_path(rep: Pointer?, out: DsString?, err: PointerByReference?): Int
    fun driftsync_reset_report_timings(rep: Pointer?, out: DsResetTimings?, err: PointerByReference?): Int
    fun driftsync_reset_report_timings_v2(rep: Pointer?, out: DsResetTimingsV2?, err: PointerByReference?): Int
    fun driftsync_reset_report_transfer(rep: Pointer?, bytes: LongByReference?, ranges: LongByReference?, err: PointerByReference?): Int
    fun driftsync_reset_report_free(rep: Pointer?)

    // manual reset
    fun driftsync_manual_reset_cause(m: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_manual_reset_message(m: Pointer?, out: DsString?, err: PointerByReference?): Int
    fun driftsync_manual_reset_original_path(m: Pointer?, out: DsString?, err: PointerByReference?): Int
    fun driftsync_manual_reset_backup_path(m: Pointer?, out: DsString?, err: PointerByReference?): Int
    fun driftsync_manual_reset_report(m: Pointer?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_manual_reset_clone(m: Pointer?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_manual_reset_perform(m: Pointer?, err: PointerByReference?): Int
    fun driftsync_manual_reset_free(m: Pointer?)

    // sync session
    fun driftsync_reset_cause_name(cause: Int): String
    fun driftsync_realm_sync_state(r: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_realm_sync_progress(r: Pointer?, out: DsSyncProgress?, err: PointerByReference?): Int
    fun driftsync_realm_sync_is_paused(r: Pointer?, out: ByteByReference?, err: PointerByReference?): Int
    fun driftsync_realm_sync_pause(r: Pointer?, err: PointerByReference?): Int
    fun driftsync_realm_sync_resume(r: Pointer?, err: PointerByReference?): Int
    fun driftsync_realm_sync_wait_for_upload(r: Pointer?, timeoutMs: Long, err: PointerByReference?): Int
    fun driftsync_realm_sync_wait_for_download(r: Pointer?, timeoutMs: Long, err: PointerByReference?): Int
    fun driftsync_realm_sync_on_state_change(r: Pointer?, cb: SyncStateFn?, ud: Pointer?, free: UserDataFreeFn?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_realm_sync_on_error(r: Pointer?, cb: SyncErrorFn?, ud: Pointer?, free: UserDataFreeFn?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_realm_sync_last_error(r: Pointer?, out: PointerByReference?, err: PointerByReference?): Int

    // sync error object
    fun driftsync_sync_error_server_code(e: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_sync_error_action(e: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_sync_error_reset_cause(e: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_sync_error_message(e: Pointer?, out: DsString?, err: PointerByReference?): Int
    fun driftsync_sync_error_is_retryable(e: Pointer?, out: ByteByReference?, err: PointerByReference?): Int
    fun driftsync_sync_error_clone(e: Pointer?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_sync_error_free(e: Pointer?)
}
