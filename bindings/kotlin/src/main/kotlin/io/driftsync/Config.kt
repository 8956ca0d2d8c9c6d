package io.driftsync

import com.sun.jna.Pointer
import com.sun.jna.ptr.IntByReference
import com.sun.jna.ptr.PointerByReference
import io.driftsync.internal.SizeT
import io.driftsync.internal.utf8

/**
 * How to open a realm: the file, the schema, and optionally sync settings.
 * ```
 * val config = RealmConfiguration.Builder("/data/app.realm", schema)
 *     .writeTimeoutMs(5_000)
 *     .sync(SyncConfiguration.Builder(url, token, "main").clientResetMode(mode).build())
 *     .build()
 * ```
 * [Builder.build] checks the settings with the library (and throws a [DriftsyncException] if
 * they are invalid).
 */
class RealmConfiguration private constructor(
    val path: String,
    val schema: Schema,
    /** How long `write { }` waits for another writer before [TransactionException] (BUSY); null: library default. */
    val writeTimeoutMs: Long?,
    val sync: SyncConfiguration?,
) {
    val isSynced: Boolean get() = sync != null

    class Builder(private var path: String, private var schema: Schema) {
        private var writeTimeoutMs: Long? = null
        private var sync: SyncConfiguration? = null

        fun path(path: String) = apply { this.path = path }
        fun schema(schema: Schema) = apply { this.schema = schema }
        fun writeTimeoutMs(ms: Long) = apply {
            require(ms >= 0) { "the write timeout cannot be negative" }
            writeTimeoutMs = ms
        }
        fun sync(sync: SyncConfiguration?) = apply { this.sync = sync }

        fun build(): RealmConfiguration {
            val sync = this.sync
            val c = RealmConfiguration(path, schema, writeTimeoutMs, sync)
            c.withNative { cfg ->
                val lib = Driftsync.lib
                check(lib.driftsync_config_is_synced(cfg).toInt() != 0 == (sync != null)) { "sync settings were not applied" }
                if (sync != null) {
                    val mode = IntByReference()
                    check { lib.driftsync_config_client_reset_mode(cfg, mode, it) }
                    check(mode.value == sync.clientResetMode.native) { "client reset mode was not applied" }
                }
            }
            return c
        }
    }

    /** Makes a native config, runs [block] with it, frees it. */
    internal fun <T> withNative(block: (Pointer) -> T): T {
        val lib = Driftsync.lib
        val b = lib.driftsync_config_builder_new() ?: throw DriftsyncException.of(StatusCode.INTERNAL.code, "config builder")
        try {
            val p = utf8(path)
            check { lib.driftsync_config_builder_set_path(b, p, SizeT(p.size.toLong()), it) }
            val s = schema.toNative()
            try {
                check { lib.driftsync_config_builder_set_schema(b, s, it) }
            } finally {
                lib.driftsync_schema_free(s)
            }
            writeTimeoutMs?.let { ms -> check { lib.driftsync_config_builder_set_write_timeout_ms(b, ms, it) } }
            sync?.apply(b, this)
        } catch (t: Throwable) {
            lib.driftsync_config_builder_free(b)
            throw t
        }
        val out = PointerByReference()
        check { lib.driftsync_config_builder_build(b, out, it) } // consumes the builder
        val cfg = out.value
        try {
            return block(cfg)
        } finally {
            lib.driftsync_config_free(cfg)
        }
    }

    override fun toString(): String = "RealmConfiguration(path=$path, synced=$isSynced)"
}
