package io.driftsync

import com.sun.jna.Pointer
import com.sun.jna.ptr.IntByReference
import io.driftsync.internal.Arena
import io.driftsync.internal.DsString
import io.driftsync.internal.DsValue
import io.driftsync.internal.SizeT
import io.driftsync.internal.SizeTByReference
import io.driftsync.internal.pathOf
import io.driftsync.internal.readValue

// driftsync_mixed_kind_t
internal const val MIXED_VALUE = 0
internal const val MIXED_LIST = 1
internal const val MIXED_DICTIONARY = 2

/** What assigning [value] to a mixed slot creates: a value, or a new nested list or dictionary. */
internal fun mixedKindOf(value: Any?): Int = when (value) {
    is List<*> -> MIXED_LIST
    is Map<*, *> -> MIXED_DICTIONARY
    else -> MIXED_VALUE
}

/**
 * Reads a mixed field of a native object copy at [path] as plain Kotlin data: a value (a link is
 * a [TypedLink]), a `List` or a `Map` (in key order), nested as stored.
 */
internal fun readMixed(o: Pointer, property: ByteArray, path: List<Any>): Any? {
    val lib = Driftsync.lib
    val a = Arena()
    val (steps, n) = pathOf(path, a)
    val kind = IntByReference()
    val v = DsValue()
    val len = SizeTByReference()
    check { lib.driftsync_object_mixed_get(o, property, SizeT(property.size.toLong()), steps, n, kind, v, len, it) }
    return when (kind.value) {
        MIXED_LIST -> (0 until len.value.toInt()).map { readMixed(o, property, path + it) }
        MIXED_DICTIONARY -> {
            val out = LinkedHashMap<String, Any?>()
            for (i in 0 until len.value) {
                val key = DsString()
                check { lib.driftsync_object_mixed_key(o, property, SizeT(property.size.toLong()), steps, n, SizeT(i), key, it) }
                out[key.text()] = null
            }
            for (k in out.keys.toList()) out[k] = readMixed(o, property, path + k)
            out
        }
        else -> readValue(v)
    }
}
