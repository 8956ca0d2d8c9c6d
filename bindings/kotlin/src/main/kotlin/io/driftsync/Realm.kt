package io.driftsync

import com.sun.jna.Pointer
import com.sun.jna.ptr.ByteByReference
import com.sun.jna.ptr.LongByReference
import com.sun.jna.ptr.PointerByReference
import io.driftsync.internal.Arena
import io.driftsync.internal.Callbacks
import io.driftsync.internal.DsField
import io.driftsync.internal.DsValue
import io.driftsync.internal.Handle
import io.driftsync.internal.SizeT
import io.driftsync.internal.SizeTByReference
import io.driftsync.internal.fillPk
import io.driftsync.internal.fillValue
import io.driftsync.internal.pathOf
import io.driftsync.internal.pkOf
import io.driftsync.internal.readValue
import io.driftsync.internal.utf8
import io.driftsync.internal.valueOf
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicBoolean

/**
 * The read side shared by [Realm] (live or frozen) and [MutableRealm] (inside `write { }`).
 * Every method throws a [DriftsyncException] subclass on failure.
 */
abstract class BaseRealm internal constructor() {
    /** The configuration the realm was opened with. */
    abstract val configuration: RealmConfiguration

    internal abstract fun <T> withHandle(block: (Pointer) -> T): T

    internal val lib get() = Driftsync.lib

    /** The object, or null if there is none with this key. */
    fun get(className: String, primaryKey: Any): RealmObject? = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        val out = PointerByReference()
        val err = PointerByReference()
        val st = lib.driftsync_realm_get_object(p, c, SizeT(c.size.toLong()), pkOf(primaryKey, a), out, err)
        when (st) {
            0 -> try { RealmObject.read(out.value) } finally { lib.driftsync_object_free(out.value) }
            StatusCode.OBJECT_NOT_FOUND.code -> { lib.driftsync_error_free(err.value); null }
            else -> throw takeError(st, err.value)
        }
    }

    /** The object; [ObjectNotFoundException] if there is none. */
    fun getOrThrow(className: String, primaryKey: Any): RealmObject = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        val out = PointerByReference()
        check { lib.driftsync_realm_get_object(p, c, SizeT(c.size.toLong()), pkOf(primaryKey, a), out, it) }
        try { RealmObject.read(out.value) } finally { lib.driftsync_object_free(out.value) }
    }

    fun exists(className: String, primaryKey: Any): Boolean = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        val out = ByteByReference()
        check { lib.driftsync_realm_exists(p, c, SizeT(c.size.toLong()), pkOf(primaryKey, a), out, it) }
        out.value.toInt() != 0
    }

    /** The number of objects of a class. */
    fun count(className: String): Long = withHandle { p ->
        val c = utf8(className)
        val out = LongByReference()
        check { lib.driftsync_realm_count(p, c, SizeT(c.size.toLong()), out, it) }
        out.value
    }

    /** One (non-list) field of an object. */
    fun getValue(className: String, primaryKey: Any, property: String): Any? = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        val pr = utf8(property)
        val out = PointerByReference()
        check { lib.driftsync_realm_get_value(p, c, SizeT(c.size.toLong()), pkOf(primaryKey, a), pr, SizeT(pr.size.toLong()), out, it) }
        readOwned(out.value)
    }

    fun listSize(className: String, primaryKey: Any, property: String): Int = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        val pr = utf8(property)
        val out = SizeTByReference()
        check { lib.driftsync_realm_list_len(p, c, SizeT(c.size.toLong()), pkOf(primaryKey, a), pr, SizeT(pr.size.toLong()), out, it) }
        out.value.toInt()
    }

    fun listGet(className: String, primaryKey: Any, property: String, index: Int): Any? = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        val pr = utf8(property)
        val out = PointerByReference()
        check {
            lib.driftsync_realm_list_get(p, c, SizeT(c.size.toLong()), pkOf(primaryKey, a), pr, SizeT(pr.size.toLong()), SizeT(index.toLong()), out, it)
        }
        readOwned(out.value)
    }

    /** A copy of a list field. */
    fun getList(className: String, primaryKey: Any, property: String): List<Any?> =
        getOrThrow(className, primaryKey).getList(property)

    /** A copy of a dictionary field (in key order). */
    @Suppress("UNCHECKED_CAST")
    fun getDictionary(className: String, primaryKey: Any, property: String): Map<String, Any?> =
        getOrThrow(className, primaryKey).fields[property] as? Map<String, Any?>
            ?: throw DriftsyncException.of(StatusCode.TYPE_MISMATCH.code, "'$className.$property' is not a dictionary")

    /** A copy of a mixed field: a value, a [TypedLink], or nested `List`s and `Map`s. */
    fun getMixed(className: String, primaryKey: Any, property: String): Any? =
        getOrThrow(className, primaryKey).fields[property]

    /** A copy of a set field (iterated in canonical order, the same on every client). */
    fun getSet(className: String, primaryKey: Any, property: String): Set<Any?> =
        LinkedHashSet(getOrThrow(className, primaryKey).getList(property))

    /**
     * A cursor over the objects of a class in primary-key order, read [batchSize] at a time
     * (0: the library's default). Close it (or use `use { }`).
     */
    fun cursor(className: String, batchSize: Int = 0): ObjectCursor = withHandle { p ->
        val c = utf8(className)
        val out = PointerByReference()
        check { lib.driftsync_realm_cursor_new(p, c, SizeT(c.size.toLong()), SizeT(batchSize.toLong()), out, it) }
        ObjectCursor(out.value)
    }

    /** Every object of a class, in primary-key order. */
    fun objects(className: String): List<RealmObject> = cursor(className).use { it.asSequence().toList() }

    private fun readOwned(v: Pointer): Any? = try {
        val dv = DsValue()
        check { lib.driftsync_owned_value_get(v, dv, it) }
        readValue(dv)
    } finally {
        lib.driftsync_owned_value_free(v)
    }

    /** Wraps bare primary keys into [Link]s for link properties of a schema declared in Kotlin. */
    internal fun convert(className: String, property: String, value: Any?): Any? {
        if (value == null || value is Link) return value
        val prop = configuration.schema.classSchema(className)?.property(property) ?: return value
        return if (prop.type == PropertyType.LINK) Link(value) else value
    }
}

/**
 * An open realm (a local database file, synced or not), or a frozen snapshot of one.
 *
 * Open with [Realm.open]; close with [close] (or `use { }`). A realm may be used from any thread,
 * also by several at once; [close] waits for calls in flight on other threads and then frees the
 * native handle, so closing from another thread never frees memory a call is using. A realm that
 * is never closed is freed by a [java.lang.ref.Cleaner] once unreachable — but an observer's
 * closure keeps its realm reachable, so close realms explicitly.
 */
class Realm internal constructor(
    ptr: Pointer,
    override val configuration: RealmConfiguration,
    /** False for handles borrowed from the library during a callback (never freed by us). */
    owned: Boolean,
) : BaseRealm(), AutoCloseable {
    private val tokens: MutableSet<ObserverToken> = ConcurrentHashMap.newKeySet()
    private val handle: Handle

    init {
        val lib = Driftsync.lib
        val tokens = this.tokens
        handle = if (owned) {
            Handle(this, ptr, "realm", free = { p ->
                for (t in tokens.toList()) t.freeNative()
                lib.driftsync_realm_free(p)
            }, interrupt = { p -> lib.driftsync_realm_close(p, null) })
        } else {
            // Lent by the library to a callback: the library closes and frees it when the callback
            // returns, so the wrapper never frees (nor closes) the native handle; it only stops
            // being usable and frees the tokens registered through it. (Freeing the `live` handle
            // of the after hook would be a double free in the library: it is not marked lent.)
            Handle(this, ptr, "realm (lent to a callback, valid only during the call)", free = {
                for (t in tokens.toList()) t.freeNative()
            })
        }
    }

    override fun <T> withHandle(block: (Pointer) -> T): T = handle.use(block)

    /** The path of the realm file. */
    val path: String get() = configuration.path

    /** Whether this Kotlin handle was closed (or its native handle reports closed). */
    val isClosed: Boolean
        get() = handle.isClosed || try { withHandle { lib.driftsync_realm_is_closed(it).toInt() != 0 } } catch (_: RealmClosedException) { true }

    val isFrozen: Boolean get() = withHandle { lib.driftsync_realm_is_frozen(it).toInt() != 0 }

    /** Whether the calling thread is inside a write transaction on this realm. */
    val isInTransaction: Boolean get() = withHandle { lib.driftsync_realm_is_in_write_transaction(it).toInt() != 0 }

    /**
     * Runs [block] in a write transaction owned by the calling thread and commits it; if the
     * block throws, the transaction is rolled back and the exception rethrown. Observers run on
     * this thread during the commit, before `write` returns.
     */
    fun <R> write(block: MutableRealm.() -> R): R = withHandle { p ->
        check { lib.driftsync_realm_begin_write(p, it) }
        val m = MutableRealm(this)
        val result = try {
            m.block()
        } catch (t: Throwable) {
            try {
                if (lib.driftsync_realm_is_in_write_transaction(p).toInt() != 0) lib.driftsync_realm_cancel_write(p, null)
            } catch (e: Throwable) {
                t.addSuppressed(e)
            }
            throw t
        } finally {
            m.done = true
        }
        check { lib.driftsync_realm_commit(p, it) }
        result
    }

    /** A frozen, read-only snapshot of the latest committed state (close it too). */
    fun freeze(): Realm = withHandle { p ->
        val out = PointerByReference()
        check { lib.driftsync_realm_freeze(p, out, it) }
        Realm(out.value, configuration, owned = true)
    }

    /** Observes every change to the realm's file; see [ObserverToken] for the thread. */
    fun observe(callback: (RealmChanges) -> Unit): ObserverToken =
        register(callback) { p, ud, out, err -> lib.driftsync_realm_observe(p, Callbacks.observer, ud, Callbacks.free, out, err) }

    /** Observes the changes to one class. */
    fun observeClass(className: String, callback: (RealmChanges) -> Unit): ObserverToken {
        val c = utf8(className)
        return register(callback) { p, ud, out, err ->
            lib.driftsync_realm_observe_class(p, c, SizeT(c.size.toLong()), Callbacks.observer, ud, Callbacks.free, out, err)
        }
    }

    /** Observes one object: its insertion, erasure and modifications. */
    fun observeObject(className: String, primaryKey: Any, callback: (RealmChanges) -> Unit): ObserverToken {
        val c = utf8(className)
        val a = Arena()
        val pk = pkOf(primaryKey, a)
        return register(callback) { p, ud, out, err ->
            lib.driftsync_realm_observe_object(p, c, SizeT(c.size.toLong()), pk, Callbacks.observer, ud, Callbacks.free, out, err)
        }
    }

    private fun register(
        callback: (RealmChanges) -> Unit,
        call: (Pointer, Pointer, PointerByReference, PointerByReference) -> Int,
    ): ObserverToken {
        val fn: (Pointer) -> Unit = { changes -> callback(RealmChanges.read(changes)) }
        return registerToken(fn, call)
    }

    /** Registers [target] as user_data with a C registration that returns a token. */
    internal fun registerToken(
        target: Any,
        call: (Pointer, Pointer, PointerByReference, PointerByReference) -> Int,
    ): ObserverToken = withHandle { p ->
        val ud = Callbacks.register(target)
        val out = PointerByReference()
        val err = PointerByReference()
        val st = call(p, ud, out, err)
        if (st != 0) {
            Callbacks.unregister(ud) // user_data_free already ran; harmless
            throw takeError(st, err.value)
        }
        ObserverToken(out.value, tokens).also { tokens += it }
    }

    /** The sync session of a synced realm; null for a local one. */
    val syncSession: SyncSession? by lazy { if (configuration.isSynced) SyncSession(this) else null }

    /**
     * The report of the last client reset of this realm's file, or null if it was never reset.
     * A manual reset writes one too (decision [ResetDecision.MANUAL]).
     */
    fun lastResetReport(): ResetReport? = withHandle { p ->
        val out = PointerByReference()
        check { Driftsync.sync.driftsync_realm_last_reset_report(p, out, it) }
        ResetReport.take(out.value)?.let { HookFailures.augment(path, it) }
    }

    /**
     * What a reset with [decision] ([ResetDecision.RECOVER] or [ResetDecision.DISCARD]) would do,
     * without applying it: downloads the server's state (progress callback on this thread) and
     * rolls the transform back. [InvalidArgumentException] for MANUAL or a realm without sync.
     */
    fun previewReset(decision: ResetDecision): ResetReport = withHandle { p ->
        val out = PointerByReference()
        check { Driftsync.sync.driftsync_realm_preview_reset(p, decision.native, out, it) }
        ResetReport.take(out.value)!!
    }

    /**
     * Closes the realm: a write transaction of the calling thread is rolled back, observers are
     * unregistered, and every later call throws [RealmClosedException]. Waits for calls in flight
     * on other threads. Other realms of the same file stay open. Closing twice is fine; closing
     * from inside a callback of this realm is deferred until the call that runs it returns.
     */
    override fun close() {
        handle.close()
    }

    internal val rawPointer: Pointer get() = handle.rawPointer

    /** For borrowed handles: invalidates the Kotlin wrapper when the callback returns. */
    internal fun invalidate() = handle.close()

    override fun toString(): String = "Realm($path${if (handle.isClosed) ", closed" else ""})"

    companion object {
        /** Opens (or creates) the realm a configuration describes. */
        @JvmStatic
        fun open(configuration: RealmConfiguration): Realm {
            val lib = Driftsync.lib
            return configuration.withNative { cfg ->
                val out = PointerByReference()
                check { lib.driftsync_realm_open(cfg, out, it) }
                Realm(out.value, configuration, owned = true)
            }
        }
    }
}

/**
 * The receiver of `realm.write { }`: the read calls plus the writes. Valid only inside the block
 * and on its thread; used after, the calls fail with [TransactionException] (NOT_IN_WRITE_TRANSACTION).
 */
class MutableRealm internal constructor(val realm: Realm) : BaseRealm() {
    @Volatile
    internal var done = false
    override val configuration: RealmConfiguration get() = realm.configuration
    override fun <T> withHandle(block: (Pointer) -> T): T = realm.withHandle(block)

    /** Creates an object ([DuplicatePrimaryKeyException] if it exists); unset fields get defaults. */
    fun create(className: String, primaryKey: Any, vararg fields: Pair<String, Any?>) =
        createOrUpsert(className, primaryKey, fields, upsert = false)

    fun create(className: String, primaryKey: Any, fields: Map<String, Any?>) =
        createOrUpsert(className, primaryKey, fields.toList().toTypedArray(), upsert = false)

    /** Creates an object, or sets the given fields if it exists. */
    fun upsert(className: String, primaryKey: Any, vararg fields: Pair<String, Any?>) =
        createOrUpsert(className, primaryKey, fields, upsert = true)

    private fun createOrUpsert(className: String, primaryKey: Any, fields: Array<out Pair<String, Any?>>, upsert: Boolean) = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        val pk = pkOf(primaryKey, a)
        val arr: Array<DsField>? = if (fields.isEmpty()) null else {
            @Suppress("UNCHECKED_CAST")
            val structs = DsField().toArray(fields.size) as Array<DsField>
            fields.forEachIndexed { i, (name, value) ->
                structs[i].name.setText(utf8(name), a.keep)
                fillValue(structs[i].value, convert(className, name, value), a)
                structs[i].write()
            }
            structs
        }
        val first = arr?.get(0)
        val n = SizeT(fields.size.toLong())
        if (upsert) check { lib.driftsync_realm_upsert(p, c, SizeT(c.size.toLong()), pk, first, n, it) }
        else check { lib.driftsync_realm_create(p, c, SizeT(c.size.toLong()), pk, first, n, it) }
        if (arr != null) a.keep.add(arr)
    }

    /** Erases an object ([ObjectNotFoundException] if there is none). */
    fun erase(className: String, primaryKey: Any) = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        check { lib.driftsync_realm_erase(p, c, SizeT(c.size.toLong()), pkOf(primaryKey, a), it) }
    }

    /** Sets one (non-list) field. */
    fun set(className: String, primaryKey: Any, property: String, value: Any?) {
        val prop = configuration.schema.classSchema(className)?.property(property)
        if (prop?.type == PropertyType.MIXED && mixedKindOf(value) != MIXED_VALUE) {
            mixedSet(className, primaryKey, property, emptyList(), value)
        } else {
            setValue(className, primaryKey, property, value)
        }
    }

    private fun setValue(className: String, primaryKey: Any, property: String, value: Any?) = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        val pr = utf8(property)
        check {
            lib.driftsync_realm_set_value(
                p, c, SizeT(c.size.toLong()), pkOf(primaryKey, a), pr, SizeT(pr.size.toLong()),
                valueOf(convert(className, property, value), a), it,
            )
        }
    }

    /**
     * Adds [delta] to a counter property (wrapping on overflow). Concurrent adds on other clients
     * add up, in sync and in client-reset recovery; [set] replaces the value. A property that is
     * not a counter throws [TypeMismatchException] and changes nothing.
     */
    fun counterAdd(className: String, primaryKey: Any, property: String, delta: Long) = withHandle { p ->
        val a = Arena()
        val c = utf8(className)
        val pr = utf8(property)
        check { lib.driftsync_realm_counter_add(p, c, SizeT(c.size.toLong()), pkOf(primaryKey, a), pr, SizeT(pr.size.toLong()), delta, it) }
    }

    /**
     * Puts [value] at [path] of a mixed property: the property itself when [path] is empty, else
     * a list element (an `Int` index) or a dictionary key (a `String`) of the nested collection the
     * rest of the path leads to. A `List` or `Map` value becomes a new nested list or dictionary
     * (filled element by element); another client's edit inside the collection it replaces is
     * dropped when they merge. A link is a [TypedLink].
     */
    fun mixedSet(className: String, primaryKey: Any, property: String, path: List<Any>, value: Any?) {
        mixedPut(className, primaryKey, property, path, null, value)
    }

    /** Inserts [value] (as in [mixedSet]) at [index] of the nested list at [path] of a mixed. */
    fun mixedInsert(className: String, primaryKey: Any, property: String, path: List<Any>, index: Int, value: Any?) {
        mixedPut(className, primaryKey, property, path, index, value)
    }

    /** Erases the list element or dictionary key at [path] (not empty) of a mixed property. */
    fun mixedErase(className: String, primaryKey: Any, property: String, path: List<Any>) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        val a = Arena()
        val (steps, n) = pathOf(path, a)
        check { lib.driftsync_realm_mixed_erase(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), steps, n, it) }
    }

    private fun mixedPut(className: String, primaryKey: Any, property: String, path: List<Any>, insertAt: Int?, value: Any?) {
        listOp(className, primaryKey, property) { p, c, pk, pr ->
            val a = Arena()
            val (steps, n) = pathOf(path, a)
            val kind = mixedKindOf(value)
            val v = if (kind == MIXED_VALUE) valueOf(value, a) else null
            check {
                if (insertAt == null) {
                    lib.driftsync_realm_mixed_set(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), steps, n, kind, v, it)
                } else {
                    require(insertAt >= 0) { "a list index is not negative" }
                    lib.driftsync_realm_mixed_insert(
                        p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), steps, n, SizeT(insertAt.toLong()), kind, v, it,
                    )
                }
            }
        }
        val inside = if (insertAt == null) path else path + insertAt
        when (value) {
            is Map<*, *> -> value.forEach { (k, x) -> mixedPut(className, primaryKey, property, inside + (k as? String ?: throw IllegalArgumentException("dictionary keys are strings")), null, x) }
            is List<*> -> value.forEachIndexed { i, x -> mixedPut(className, primaryKey, property, inside, i, x) }
        }
    }

    /** Sets [key] of a dictionary property to [value] (inserting the key). */
    fun dictSet(className: String, primaryKey: Any, property: String, key: String, value: Any?) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        val a = Arena()
        val k = utf8(key)
        check {
            lib.driftsync_realm_dict_set(
                p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), k, SizeT(k.size.toLong()),
                valueOf(convert(className, property, value), a), it,
            )
        }
    }

    /** Erases [key] of a dictionary property (a no-op if it is absent). */
    fun dictErase(className: String, primaryKey: Any, property: String, key: String) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        val k = utf8(key)
        check { lib.driftsync_realm_dict_erase(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), k, SizeT(k.size.toLong()), it) }
    }

    /** Erases the keys this transaction sees (a key added concurrently elsewhere stays). */
    fun dictClear(className: String, primaryKey: Any, property: String) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        check { lib.driftsync_realm_dict_clear(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), it) }
    }

    /** Adds [value] to a set property (a no-op if it is there). */
    fun setAdd(className: String, primaryKey: Any, property: String, value: Any?) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        val a = Arena()
        check { lib.driftsync_realm_set_add(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), valueOf(convert(className, property, value), a), it) }
    }

    /** Removes [value] from a set property (a no-op if it is not there). */
    fun setRemove(className: String, primaryKey: Any, property: String, value: Any?) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        val a = Arena()
        check { lib.driftsync_realm_set_remove(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), valueOf(convert(className, property, value), a), it) }
    }

    /** Removes the elements this transaction sees (an element added concurrently elsewhere stays). */
    fun setClear(className: String, primaryKey: Any, property: String) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        check { lib.driftsync_realm_set_clear(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), it) }
    }

    fun listAdd(className: String, primaryKey: Any, property: String, value: Any?) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        val a = Arena()
        check { lib.driftsync_realm_list_push(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), valueOf(convert(className, property, value), a), it) }
    }

    fun listInsert(className: String, primaryKey: Any, property: String, index: Int, value: Any?) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        val a = Arena()
        check {
            lib.driftsync_realm_list_insert(
                p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), SizeT(index.toLong()),
                valueOf(convert(className, property, value), a), it,
            )
        }
    }

    fun listSet(className: String, primaryKey: Any, property: String, index: Int, value: Any?) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        val a = Arena()
        check {
            lib.driftsync_realm_list_set(
                p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), SizeT(index.toLong()),
                valueOf(convert(className, property, value), a), it,
            )
        }
    }

    fun listRemoveAt(className: String, primaryKey: Any, property: String, index: Int) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        check { lib.driftsync_realm_list_erase(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), SizeT(index.toLong()), it) }
    }

    fun listMove(className: String, primaryKey: Any, property: String, from: Int, to: Int) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        check {
            lib.driftsync_realm_list_move(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), SizeT(from.toLong()), SizeT(to.toLong()), it)
        }
    }

    fun listClear(className: String, primaryKey: Any, property: String) = listOp(className, primaryKey, property) { p, c, pk, pr ->
        check { lib.driftsync_realm_list_clear(p, c, SizeT(c.size.toLong()), pk, pr, SizeT(pr.size.toLong()), it) }
    }

    private inline fun listOp(
        className: String, primaryKey: Any, property: String,
        crossinline f: (Pointer, ByteArray, io.driftsync.internal.DsPk, ByteArray) -> Unit,
    ) = withHandle { p ->
        val a = Arena()
        val pk = io.driftsync.internal.DsPk()
        fillPk(pk, primaryKey, a)
        f(p, utf8(className), pk, utf8(property))
    }
}

/**
 * Keeps an observer registered until [close]d (closing the realm closes its tokens too).
 *
 * Thread: the observer runs on the thread that commits (the thread of `write { }` on any realm
 * of the same file in this process), after the commit, before `write` returns; for changes made
 * by a client reset or by sync, on the sync thread. It may read and write the realm. To move work
 * elsewhere, hand it to an executor: `realm.observe { c -> executor.execute { show(c) } }` (the
 * [RealmChanges] it gets is a copy, safe to pass on). An exception it throws goes to
 * [Driftsync.callbackExceptionHandler].
 */
class ObserverToken internal constructor(
    private val ptr: Pointer,
    private val owner: MutableSet<ObserverToken>,
) : AutoCloseable {
    private val freed = AtomicBoolean(false)

    val isClosed: Boolean get() = freed.get()

    override fun close() {
        owner.remove(this)
        freeNative()
    }

    internal fun freeNative() {
        if (freed.compareAndSet(false, true)) Driftsync.lib.driftsync_token_free(ptr)
    }
}

/** Iterates objects in primary-key order, reading them in batches. Close it when done. */
class ObjectCursor internal constructor(ptr: Pointer) : Iterator<RealmObject>, AutoCloseable {
    private val handle = Handle(this, ptr, "cursor", free = { Driftsync.lib.driftsync_cursor_free(it) })
    private var nextObj: RealmObject? = null
    private var finished = false

    override fun hasNext(): Boolean {
        if (nextObj != null) return true
        if (finished) return false
        nextObj = handle.use { p ->
            val out = PointerByReference()
            check { Driftsync.lib.driftsync_cursor_next(p, out, it) }
            val o = out.value
            if (o == null) null else try { RealmObject.read(o) } finally { Driftsync.lib.driftsync_object_free(o) }
        }
        if (nextObj == null) finished = true
        return nextObj != null
    }

    override fun next(): RealmObject {
        if (!hasNext()) throw NoSuchElementException()
        return nextObj!!.also { nextObj = null }
    }

    override fun close() = handle.close()
}
