package io.driftsync

import com.sun.jna.Pointer
import io.driftsync.internal.DsPk
import io.driftsync.internal.DsString
import io.driftsync.internal.DsValue
import io.driftsync.internal.SizeT
import io.driftsync.internal.SizeTByReference
import io.driftsync.internal.readPk
import io.driftsync.internal.readValue
import io.driftsync.internal.utf8
import com.sun.jna.ptr.ByteByReference
import com.sun.jna.ptr.IntByReference
import java.time.Instant
import java.util.UUID

/**
 * An object as read: a copy of its class name, primary key and every field, unaffected by later
 * writes. List fields are [List]s; link fields are [Link]s (or null). Properties holding embedded
 * objects are not in the copy: read them by path (see Embedded.kt).
 *
 * Typed access: `getString("name")`, `getLong("count")`, `getList("tags")`, … throw
 * [IllegalArgumentException] for a name the class does not have and [ClassCastException] for a
 * value of another type.
 */
class RealmObject(
    val className: String,
    val primaryKey: Any,
    /** Every field in schema order, the primary key included. */
    val fields: Map<String, Any?>,
) {
    fun has(name: String): Boolean = fields.containsKey(name)

    operator fun get(name: String): Any? {
        require(fields.containsKey(name)) { "$className has no property '$name'" }
        return fields[name]
    }

    fun getString(name: String): String? = get(name) as String?
    fun getLong(name: String): Long? = get(name) as Long?
    fun getDouble(name: String): Double? = get(name) as Double?
    fun getBoolean(name: String): Boolean? = get(name) as Boolean?
    fun getBinary(name: String): ByteArray? = get(name) as ByteArray?
    fun getTimestamp(name: String): Instant? = get(name) as Instant?
    fun getObjectId(name: String): ObjectId? = get(name) as ObjectId?
    fun getUuid(name: String): UUID? = get(name) as UUID?

    /** The primary key of the linked object, or null. */
    fun getLink(name: String): Any? = (get(name) as Link?)?.primaryKey

    @Suppress("UNCHECKED_CAST")
    fun getList(name: String): List<Any?> = get(name) as List<Any?>

    override fun equals(other: Any?): Boolean =
        other is RealmObject && other.className == className && other.primaryKey == primaryKey &&
            other.fields.keys == fields.keys && fields.all { (k, v) -> valueEquals(v, other.fields[k]) }

    override fun hashCode(): Int = className.hashCode() * 31 + primaryKey.hashCode()

    override fun toString(): String = "$className[$primaryKey]" + fields.entries.joinToString(", ", "{", "}") { (k, v) ->
        "$k=" + if (v is ByteArray) v.contentToString() else v.toString()
    }

    internal companion object {
        private fun valueEquals(a: Any?, b: Any?): Boolean = when {
            a is ByteArray && b is ByteArray -> a.contentEquals(b)
            a is List<*> && b is List<*> -> a.size == b.size && a.indices.all { valueEquals(a[it], b[it]) }
            else -> a == b
        }

        /** DRIFTSYNC_COLLECTION_DICTIONARY / _MIXED of driftsync_collection_t. */
        private const val COLLECTION_DICTIONARY = 3
        private const val COLLECTION_MIXED = 4

        /** DRIFTSYNC_COLLECTION_EMBEDDED / _EMBEDDED_LIST of driftsync_collection_t. */
        private const val COLLECTION_EMBEDDED = 16
        private const val COLLECTION_EMBEDDED_LIST = 17

        /** Reads a native object (does not free it). */
        fun read(o: Pointer): RealmObject {
            val lib = Driftsync.lib
            val cls = lib.driftsync_object_class(o).text()
            val pk = DsPk()
            check { lib.driftsync_object_primary_key(o, pk, it) }
            val key = readPk(pk)
            val n = lib.driftsync_object_field_count(o).toLong()
            val fields = LinkedHashMap<String, Any?>()
            for (i in 0 until n) {
                val name = DsString()
                val isList = ByteByReference()
                check { lib.driftsync_object_field_name(o, SizeT(i), name, isList, it) }
                val fname = name.text()
                val fb = utf8(fname)
                val collection = IntByReference()
                check { lib.driftsync_object_field_collection(o, SizeT(i), collection, it) }
                if (collection.value == COLLECTION_MIXED) {
                    fields[fname] = readMixed(o, fb, emptyList())
                } else if (collection.value == COLLECTION_EMBEDDED || collection.value == COLLECTION_EMBEDDED_LIST) {
                    // Not in the copy: read embedded objects by path (BaseRealm.getEmbeddedValue...).
                    continue
                } else if (collection.value == COLLECTION_DICTIONARY) {
                    val len = SizeTByReference()
                    check { lib.driftsync_object_dict_len(o, fb, SizeT(fb.size.toLong()), len, it) }
                    val entries = LinkedHashMap<String, Any?>()
                    for (j in 0 until len.value) {
                        val k = DsString()
                        val v = DsValue()
                        check { lib.driftsync_object_dict_get(o, fb, SizeT(fb.size.toLong()), SizeT(j), k, v, it) }
                        entries[k.text()] = readValue(v)
                    }
                    fields[fname] = entries
                } else if (isList.value.toInt() != 0) {
                    val len = SizeTByReference()
                    check { lib.driftsync_object_list_len(o, fb, SizeT(fb.size.toLong()), len, it) }
                    val items = ArrayList<Any?>(len.value.toInt())
                    for (j in 0 until len.value) {
                        val v = DsValue()
                        check { lib.driftsync_object_list_get(o, fb, SizeT(fb.size.toLong()), SizeT(j), v, it) }
                        items += readValue(v)
                    }
                    fields[fname] = items
                } else {
                    val v = DsValue()
                    check { lib.driftsync_object_get_value(o, fb, SizeT(fb.size.toLong()), v, it) }
                    fields[fname] = readValue(v)
                }
            }
            return RealmObject(cls, key, fields)
        }
    }
}

/** What one commit changed in one class (within the observer's scope). */
data class ClassChanges(
    val className: String,
    /** Primary keys of inserted objects, in key order. */
    val inserted: List<Any>,
    /** Primary keys of erased objects, in key order. */
    val erased: List<Any>,
    /** Modified objects, in key order, with the names of their changed properties. */
    val modified: List<ModifiedObject>,
    /** What changed inside the lists, sets and dictionaries of modified objects (by key, then property). */
    val collections: List<ChangedCollection> = emptyList(),
) {
    /** What changed inside `property` of the object `primaryKey`, or null. */
    fun collection(primaryKey: Any, property: String): CollectionChanges? =
        collections.firstOrNull { it.primaryKey == primaryKey && it.property == property }?.changes
}

data class ModifiedObject(val primaryKey: Any, val properties: List<String>)

/** One collection property of a modified object and what changed inside it. */
data class ChangedCollection(val primaryKey: Any, val property: String, val changes: CollectionChanges)

/** What changed inside one list, set or dictionary (a counter or scalar has none). */
sealed interface CollectionChanges {
    /** `deleted`: positions in the list before the commit; `inserted`, `modified`: positions after it (a move is both). */
    data class ListChanges(val deleted: List<Int>, val inserted: List<Int>, val modified: List<Int>) : CollectionChanges

    /** The elements that left and joined the set, in the set's order. */
    data class SetChanges(val deleted: List<Any?>, val inserted: List<Any?>) : CollectionChanges

    /** The keys erased, inserted and set to another value, in key order. */
    data class DictionaryChanges(val deleted: List<String>, val inserted: List<String>, val modified: List<String>) : CollectionChanges
}

/** What one commit changed, as an observer sees it (a copy, usable after the callback). */
data class RealmChanges(val classes: List<ClassChanges>) {
    fun forClass(name: String): ClassChanges? = classes.firstOrNull { it.className == name }
    val isEmpty: Boolean get() = classes.all { it.inserted.isEmpty() && it.erased.isEmpty() && it.modified.isEmpty() }

    internal companion object {
        fun read(c: Pointer): RealmChanges {
            val lib = Driftsync.lib
            val n = lib.driftsync_changes_class_count(c).toLong()
            val out = ArrayList<ClassChanges>()
            for (ci in 0 until n) {
                val name = DsString()
                check { lib.driftsync_changes_class_name(c, SizeT(ci), name, it) }
                val ins = SizeTByReference()
                val era = SizeTByReference()
                val mod = SizeTByReference()
                check { lib.driftsync_changes_counts(c, SizeT(ci), ins, era, mod, it) }
                val inserted = (0 until ins.value).map { i ->
                    val pk = DsPk(); check { lib.driftsync_changes_inserted(c, SizeT(ci), SizeT(i), pk, it) }; readPk(pk)
                }
                val erased = (0 until era.value).map { i ->
                    val pk = DsPk(); check { lib.driftsync_changes_erased(c, SizeT(ci), SizeT(i), pk, it) }; readPk(pk)
                }
                val modified = (0 until mod.value).map { i ->
                    val pk = DsPk()
                    val cnt = SizeTByReference()
                    check { lib.driftsync_changes_modified(c, SizeT(ci), SizeT(i), pk, cnt, it) }
                    val props = (0 until cnt.value).map { pi ->
                        val s = DsString()
                        check { lib.driftsync_changes_modified_property(c, SizeT(ci), SizeT(i), SizeT(pi), s, it) }
                        s.text()
                    }
                    ModifiedObject(readPk(pk), props)
                }
                out += ClassChanges(name.text(), inserted, erased, modified, readCollections(c, ci))
            }
            return RealmChanges(out)
        }

        private fun readCollections(c: Pointer, ci: Long): List<ChangedCollection> {
            val lib = Driftsync.lib
            val count = SizeTByReference()
            check { lib.driftsync_changes_collection_count(c, SizeT(ci), count, it) }
            return (0 until count.value).map { i ->
                val pk = DsPk()
                val prop = DsString()
                val kind = IntByReference()
                check { lib.driftsync_changes_collection(c, SizeT(ci), SizeT(i), pk, prop, kind, it) }
                // Each part (0 deleted, 1 inserted, 2 modified) is read with the getter of its kind.
                fun <T> part(p: Int, get: (Int, SizeT) -> T): List<T> {
                    val len = SizeTByReference()
                    check { lib.driftsync_changes_collection_len(c, SizeT(ci), SizeT(i), p, len, it) }
                    return (0 until len.value).map { n -> get(p, SizeT(n)) }
                }
                fun index(p: Int) = part(p) { q, n ->
                    val o = SizeTByReference()
                    check { lib.driftsync_changes_collection_index(c, SizeT(ci), SizeT(i), q, n, o, it) }
                    o.value.toInt()
                }
                fun element(p: Int) = part(p) { q, n ->
                    val v = DsValue()
                    check { lib.driftsync_changes_collection_element(c, SizeT(ci), SizeT(i), q, n, v, it) }
                    readValue(v)
                }
                fun key(p: Int) = part(p) { q, n ->
                    val s = DsString()
                    check { lib.driftsync_changes_collection_key(c, SizeT(ci), SizeT(i), q, n, s, it) }
                    s.text()
                }
                val changes = when (kind.value) {
                    1 -> CollectionChanges.ListChanges(index(0), index(1), index(2))
                    2 -> CollectionChanges.SetChanges(element(0), element(1))
                    else -> CollectionChanges.DictionaryChanges(key(0), key(1), key(2))
                }
                ChangedCollection(readPk(pk), prop.text(), changes)
            }
        }
    }
}
