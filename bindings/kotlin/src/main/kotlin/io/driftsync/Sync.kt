package io.driftsync

import com.sun.jna.Pointer
import com.sun.jna.ptr.ByteByReference
import com.sun.jna.ptr.IntByReference
import com.sun.jna.ptr.PointerByReference
import io.driftsync.internal.AfterResetV2Fn
import io.driftsync.internal.BeforeResetV2Fn
import io.driftsync.internal.Callbacks
import io.driftsync.internal.DownloadProgressFn
import io.driftsync.internal.DsString
import io.driftsync.internal.DsSyncProgress
import io.driftsync.internal.ManualResetFn
import io.driftsync.internal.SizeT
import io.driftsync.internal.SyncErrorFn
import io.driftsync.internal.SyncStateFn
import io.driftsync.internal.utf8
import java.io.File
import java.util.concurrent.ConcurrentHashMap
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Sync settings of a realm: the server, the user's token, the server-side realm name, and what
 * to do on a client reset.
 * ```
 * val sync = SyncConfiguration.Builder("ws://127.0.0.1:7800", "alice-token", "main")
 *     .clientResetMode(ClientResetMode.RecoverOrDiscardUnsyncedChanges(
 *         onBeforeReset = { before -> log(before.count("Item")) },
 *         onAfterReset = { before, after, didRecover -> … },
 *         onManualResetFallback = { reset -> executor.execute { showDialog(reset) } },
 *     ))
 *     .backupDir("/data/backups")
 *     .build()
 * ```
 * Every callback here runs on the realm's sync thread; see [ClientResetMode].
 *
 * [Builder.onError] and [Builder.onConnectionStateChange] see the session from its first
 * connection on (unlike [SyncSession.onError], set after open). An error that ends the session (a
 * refused token: [AuthenticationException]; a role that may not open the realm, a protocol error:
 * [SyncException]; a reset handed to the manual handler or a failed automatic reset:
 * [ClientResetRequiredException] with its `errorCause`) makes every pending and later
 * [SyncSession.waitForUpload] / [SyncSession.waitForDownload] throw it at once; a retryable error
 * (server down) leaves them waiting. A URL that is not `ws://` or `wss://` with a host makes
 * opening the realm throw [InvalidArgumentException].
 */
class SyncConfiguration private constructor(
    val serverUrl: String,
    val userToken: String,
    val realmName: String,
    val clientResetMode: ClientResetMode,
    val backupDir: String?,
    val keepBackup: Boolean,
    val startPaused: Boolean,
    /** Progress of a reset's fresh-copy download (objects received of total); sync thread. */
    val onDownloadProgress: ((received: Long, total: Long) -> Unit)?,
    /** Every sync error from the first connection on; sync thread. */
    val onError: ((SyncError) -> Unit)?,
    /** Every connection state change from the first connection on; sync thread. */
    val onConnectionStateChange: ((old: ConnectionState, new: ConnectionState) -> Unit)?,
    /** Extra trusted CA certificates (PEM) for `wss://`, on top of the system roots. */
    val trustedCaPem: List<String>,
    /** Allows `ws://` to a host that is not loopback (else opening the realm fails). */
    val allowCleartext: Boolean,
) {
    class Builder(private val serverUrl: String, private val userToken: String, private val realmName: String) {
        private var mode: ClientResetMode = ClientResetMode.RecoverOrDiscardUnsyncedChanges()
        private var backupDir: String? = null
        private var keepBackup = false
        private var startPaused = false
        private var progress: ((Long, Long) -> Unit)? = null
        private var onError: ((SyncError) -> Unit)? = null
        private var onState: ((ConnectionState, ConnectionState) -> Unit)? = null
        private val trustedCaPem = mutableListOf<String>()
        private var allowCleartext = false

        fun clientResetMode(mode: ClientResetMode) = apply { this.mode = mode }

        /** Where a manual reset (and [keepBackup]) puts the backup of the realm. */
        fun backupDir(dir: String) = apply { backupDir = dir }

        /** Keep a copy of the realm as it was before each automatic reset (its path is in the report). */
        fun keepBackup(keep: Boolean) = apply { keepBackup = keep }

        /** The session does not connect until [SyncSession.resume]. */
        fun startPaused(paused: Boolean) = apply { startPaused = paused }

        fun onDownloadProgress(callback: (received: Long, total: Long) -> Unit) = apply { progress = callback }

        /** Trusts this CA certificate (PEM) for `wss://` too; call once per CA. */
        fun trustedCaPem(pem: String) = apply { trustedCaPem.add(pem) }

        /** Allows `ws://` (cleartext) to a host that is not loopback. */
        fun allowCleartext(allow: Boolean) = apply { allowCleartext = allow }

        /** Called (on the sync thread) with every sync error, from the first connection on. */
        fun onError(callback: (SyncError) -> Unit) = apply { onError = callback }

        /** Called (on the sync thread) on every connection state change, from the first connection on. */
        fun onConnectionStateChange(callback: (old: ConnectionState, new: ConnectionState) -> Unit) = apply { onState = callback }

        fun build() = SyncConfiguration(
            serverUrl, userToken, realmName, mode, backupDir, keepBackup, startPaused, progress, onError, onState,
            trustedCaPem.toList(), allowCleartext,
        )
    }

    /** Applies the settings to a native config builder; hooks are registered with user_data. */
    internal fun apply(b: Pointer, realmConfig: RealmConfiguration) {
        val lib = Driftsync.lib
        val s = Driftsync.sync
        val u = utf8(serverUrl); val t = utf8(userToken); val r = utf8(realmName)
        check { lib.driftsync_config_builder_set_sync(b, u, SizeT(u.size.toLong()), t, SizeT(t.size.toLong()), r, SizeT(r.size.toLong()), it) }
        check { lib.driftsync_config_builder_set_client_reset_mode(b, clientResetMode.native, it) }
        backupDir?.let { d -> val db = utf8(d); check { lib.driftsync_config_builder_set_backup_dir(b, db, SizeT(db.size.toLong()), it) } }
        if (keepBackup) check { s.driftsync_config_builder_set_keep_backup(b, 1, it) }
        if (startPaused) check { s.driftsync_config_builder_set_start_paused(b, 1, it) }
        for (pem in trustedCaPem) {
            val p = utf8(pem)
            check { s.driftsync_config_builder_add_trusted_ca_pem(b, p, SizeT(p.size.toLong()), it) }
        }
        if (allowCleartext) check { s.driftsync_config_builder_set_allow_cleartext(b, 1, it) }
        val mode = clientResetMode
        mode.onBeforeReset?.let { h ->
            val ud = Callbacks.register(HookTarget(realmConfig, h))
            check { s.driftsync_config_builder_set_before_reset_v2(b, SyncCallbacks.before, ud, Callbacks.free, it) }
        }
        mode.onAfterReset?.let { h ->
            val ud = Callbacks.register(HookTarget(realmConfig, h))
            check { s.driftsync_config_builder_set_after_reset_v2(b, SyncCallbacks.after, ud, Callbacks.free, it) }
        }
        mode.onManualResetFallback?.let { h ->
            val ud = Callbacks.register(HookTarget(realmConfig, h))
            check { s.driftsync_config_builder_set_manual_reset_handler(b, SyncCallbacks.manual, ud, Callbacks.free, it) }
        }
        onDownloadProgress?.let { f ->
            val ud = Callbacks.register(f)
            check { s.driftsync_config_builder_set_download_progress(b, SyncCallbacks.progress, ud, Callbacks.free, it) }
        }
        onError?.let { f ->
            val ud = Callbacks.register(f)
            check { s.driftsync_config_builder_set_sync_error_handler(b, SyncCallbacks.error, ud, Callbacks.free, it) }
        }
        onConnectionStateChange?.let { f ->
            val ud = Callbacks.register(f)
            check { s.driftsync_config_builder_set_connection_state_handler(b, SyncCallbacks.state, ud, Callbacks.free, it) }
        }
    }

    override fun toString(): String = "SyncConfiguration($serverUrl, realm=$realmName, mode=$clientResetMode)"
}

internal class HookTarget(val config: RealmConfiguration, val hook: Any)

/**
 * Kotlin exceptions thrown by reset hooks, by realm file, attached to the report (the report's
 * hook-error text itself comes from the library: the hooks hand it the exception's text).
 */
internal object HookFailures {
    class Failure(val before: Throwable?, val after: Throwable?)

    private val byPath = ConcurrentHashMap<String, Failure>()

    private fun key(path: String) = try { File(path).canonicalPath } catch (_: Exception) { path }

    fun before(path: String, t: Throwable) { byPath[key(path)] = Failure(t, null) }
    fun after(path: String, t: Throwable) { byPath.merge(key(path), Failure(null, t)) { old, _ -> Failure(old.before, t) } }
    fun clearAfter(path: String) { byPath.computeIfPresent(key(path)) { _, f -> if (f.before == null) null else Failure(f.before, null) } }
    fun clear(path: String) { byPath.remove(key(path)) }

    fun augment(path: String, r: ResetReport): ResetReport {
        val f = byPath[key(path)] ?: return r
        return r.also {
            it.beforeHookException = if (r.beforeHookError != null) f.before else null
            it.afterHookException = if (r.afterHookError != null) f.after else null
        }
    }
}

/** The static trampolines of the sync callbacks (alive for the life of the process). */
internal object SyncCallbacks {
    private fun <T> lent(target: HookTarget, ptr: Pointer, block: (Realm) -> T): T {
        val realm = Realm(ptr, target.config, owned = false)
        try {
            return block(realm)
        } finally {
            realm.invalidate()
        }
    }

    /** The `type: message` text of a hook's exception (`Throwable.toString()`). */
    private fun textOf(t: Throwable): String =
        (try { t.toString() } catch (_: Throwable) { "" }).ifEmpty { t.javaClass.name }

    /** Makes the running v2 hook fail with [t]'s text (the report's before/after-hook error). */
    private fun fail(result: Pointer?, t: Throwable) {
        try {
            val m = utf8(textOf(t))
            Driftsync.sync.driftsync_hook_result_fail(result, m, SizeT(m.size.toLong()), null)
        } catch (_: Throwable) {
            // the hook still fails through its return value
        }
    }

    @JvmField
    val before: BeforeResetV2Fn = BeforeResetV2Fn { ud, before, result ->
        val target = Callbacks.lookup(ud) as HookTarget? ?: return@BeforeResetV2Fn 1
        try {
            HookFailures.clear(target.config.path)
            lent(target, before!!) { (target.hook as BeforeResetHook).onBeforeReset(it) }
            1
        } catch (t: Throwable) {
            HookFailures.before(target.config.path, t)
            fail(result, t)
            Callbacks.report(t)
            0
        }
    }

    @JvmField
    val after: AfterResetV2Fn = AfterResetV2Fn { ud, before, live, didRecover, result ->
        val target = Callbacks.lookup(ud) as HookTarget? ?: return@AfterResetV2Fn 1
        try {
            HookFailures.clearAfter(target.config.path)
            lent(target, before!!) { b -> lent(target, live!!) { l -> (target.hook as AfterResetHook).onAfterReset(b, l, didRecover.toInt() != 0) } }
            1
        } catch (t: Throwable) {
            HookFailures.after(target.config.path, t)
            fail(result, t)
            Callbacks.report(t)
            0
        }
    }

    @JvmField
    val manual: ManualResetFn = ManualResetFn { ud, reset ->
        try {
            val target = Callbacks.lookup(ud) as HookTarget? ?: return@ManualResetFn
            val m = ManualClientReset.cloneOf(reset!!)
            (target.hook as ManualResetHandler).onManualReset(m)
        } catch (t: Throwable) {
            Callbacks.report(t)
        }
    }

    @JvmField
    val progress: DownloadProgressFn = DownloadProgressFn { ud, received, total ->
        try {
            @Suppress("UNCHECKED_CAST")
            (Callbacks.lookup(ud) as ((Long, Long) -> Unit)?)?.invoke(received, total)
        } catch (t: Throwable) {
            Callbacks.report(t)
        }
    }

    @JvmField
    val state: SyncStateFn = SyncStateFn { ud, old, new ->
        try {
            @Suppress("UNCHECKED_CAST")
            (Callbacks.lookup(ud) as ((ConnectionState, ConnectionState) -> Unit)?)?.invoke(ConnectionState.of(old), ConnectionState.of(new))
        } catch (t: Throwable) {
            Callbacks.report(t)
        }
    }

    @JvmField
    val error: SyncErrorFn = SyncErrorFn { ud, e ->
        try {
            @Suppress("UNCHECKED_CAST")
            val f = Callbacks.lookup(ud) as ((SyncError) -> Unit)?
            if (f != null && e != null) f(SyncError.read(e))
        } catch (t: Throwable) {
            Callbacks.report(t)
        }
    }
}

enum class ConnectionState(internal val native: Int) {
    DISCONNECTED(0), CONNECTING(1), CONNECTED(2), UNKNOWN(-1);

    companion object {
        fun of(n: Int): ConnectionState = entries.firstOrNull { it.native == n } ?: UNKNOWN
    }
}

/** The server's error code of a sync error ([NONE] for a connection error). */
enum class ServerErrorCode(internal val native: Int) {
    NONE(0), UNSUPPORTED_PROTOCOL_VERSION(1), BAD_TOKEN(2), UNKNOWN_REALM(3), BAD_MESSAGE(4), BAD_CHANGESET(5),
    PERMISSION_DENIED(6), CLIENT_RESET_REQUIRED(7), SYNC_TERMINATED(8), INTERNAL(9), UNKNOWN(-1);

    companion object {
        fun of(n: Int): ServerErrorCode = entries.firstOrNull { it.native == n } ?: UNKNOWN
    }
}

/** Upload and download progress, in versions. */
data class SyncProgress(val uploaded: Long, val uploadable: Long, val downloaded: Long, val downloadable: Long) {
    val isUploadComplete: Boolean get() = uploaded >= uploadable
}

/** A sync error (a copy, usable anywhere). */
data class SyncError(
    val serverCode: ServerErrorCode,
    val action: ErrorAction,
    val resetCause: ResetCause,
    val message: String,
    val isRetryable: Boolean,
) {
    val isClientReset: Boolean get() = action == ErrorAction.CLIENT_RESET || action == ErrorAction.CLIENT_RESET_NO_RECOVERY

    internal companion object {
        fun read(e: Pointer): SyncError {
            val s = Driftsync.sync
            fun int(f: (IntByReference, PointerByReference) -> Int): Int = IntByReference().also { o -> check { f(o, it) } }.value
            val msg = DsString().also { o -> check { s.driftsync_sync_error_message(e, o, it) } }.text()
            val retry = ByteByReference().also { o -> check { s.driftsync_sync_error_is_retryable(e, o, it) } }.value.toInt() != 0
            return SyncError(
                ServerErrorCode.of(int { o, err -> s.driftsync_sync_error_server_code(e, o, err) }),
                ErrorAction.of(int { o, err -> s.driftsync_sync_error_action(e, o, err) }),
                ResetCause.of(int { o, err -> s.driftsync_sync_error_reset_cause(e, o, err) }),
                msg,
                retry,
            )
        }
    }
}

/**
 * The sync session of a synced realm ([Realm.syncSession]). Its calls go through the realm (and
 * throw [RealmClosedException] once it is closed).
 *
 * Threads: [onStateChange] and [onError] callbacks run on the session's sync thread, like the
 * reset hooks. Don't block there and never wait for upload/download there; move work away with
 * an executor: `session.onStateChange { _, new -> uiExecutor.execute { show(new) } }`.
 */
class SyncSession internal constructor(private val realm: Realm) {
    private val s get() = Driftsync.sync

    val state: ConnectionState
        get() = realm.withHandle { p -> ConnectionState.of(IntByReference().also { o -> check { s.driftsync_realm_sync_state(p, o, it) } }.value) }

    val progress: SyncProgress
        get() = realm.withHandle { p ->
            val o = DsSyncProgress()
            check { s.driftsync_realm_sync_progress(p, o, it) }
            SyncProgress(o.uploaded, o.uploadable, o.downloaded, o.downloadable)
        }

    val isPaused: Boolean
        get() = realm.withHandle { p -> ByteByReference().also { o -> check { s.driftsync_realm_sync_is_paused(p, o, it) } }.value.toInt() != 0 }

    /** Disconnects until [resume]; local writes go on and are uploaded after resuming. */
    fun pause() = realm.withHandle { p -> check { s.driftsync_realm_sync_pause(p, it) } }

    fun resume() = realm.withHandle { p -> check { s.driftsync_realm_sync_resume(p, it) } }

    /**
     * Blocks until every local change committed before the call is acknowledged by the server;
     * [TimeoutException] after [timeout] ([Duration.INFINITE]: no limit), [RealmClosedException]
     * if the session stops meanwhile. An error that ends the session throws at once, also in a
     * wait already pending (see [SyncConfiguration]). Not from a sync callback.
     */
    fun waitForUpload(timeout: Duration = 30.seconds) =
        realm.withHandle { p -> check { s.driftsync_realm_sync_wait_for_upload(p, timeout.inWholeMilliseconds, it) } }

    /** Blocks until everything the server had at the call is integrated locally; as [waitForUpload]. */
    fun waitForDownload(timeout: Duration = 30.seconds) =
        realm.withHandle { p -> check { s.driftsync_realm_sync_wait_for_download(p, timeout.inWholeMilliseconds, it) } }

    /** The last sync error of the session, or null. */
    val lastError: SyncError?
        get() = realm.withHandle { p ->
            val out = PointerByReference()
            check { s.driftsync_realm_sync_last_error(p, out, it) }
            out.value?.let { e -> try { SyncError.read(e) } finally { s.driftsync_sync_error_free(e) } }
        }

    /** Calls [callback] (on the sync thread) on every connection state change, until the token is closed. */
    fun onStateChange(callback: (old: ConnectionState, new: ConnectionState) -> Unit): ObserverToken =
        realm.registerToken(callback) { p, ud, out, err -> s.driftsync_realm_sync_on_state_change(p, SyncCallbacks.state, ud, Callbacks.free, out, err) }

    /** Calls [callback] (on the sync thread) with every sync error, reset demands included, until the token is closed. */
    fun onError(callback: (SyncError) -> Unit): ObserverToken =
        realm.registerToken(callback) { p, ud, out, err -> s.driftsync_realm_sync_on_error(p, SyncCallbacks.error, ud, Callbacks.free, out, err) }
}
