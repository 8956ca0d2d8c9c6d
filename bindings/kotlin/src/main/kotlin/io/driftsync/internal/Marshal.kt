package io.driftsync.internal

import io.driftsync.Link
import io.driftsync.TypedLink
import io.driftsync.ObjectId
import io.driftsync.bytesToUuid
import io.driftsync.checkPrimaryKey
import io.driftsync.instantToNanos
import io.driftsync.nanosToInstant
import io.driftsync.uuidToBytes
import com.sun.jna.Memory
import java.time.Instant
import java.util.UUID

internal const val V_NULL = 0
internal const val V_BOOL = 1
internal const val V_INT = 2
internal const val V_DOUBLE = 3
internal const val V_STRING = 4
internal const val V_BINARY = 5
internal const val V_TIMESTAMP = 6
internal const val V_OBJECT_ID = 7
internal const val V_UUID = 8
internal const val V_LINK = 9
internal const val V_TYPED_LINK = 11

internal fun utf8(s: String): ByteArray = s.toByteArray(Charsets.UTF_8)

/**
 * Keeps the native memory of the inputs of one call alive until the call returns (JNA frees
 * [Memory] when it is collected).
 */
internal class Arena {
    val keep = ArrayList<Any>()
}

internal fun fillPk(pk: DsPk, key: Any, arena: Arena) {
    checkPrimaryKey(key)
    when (key) {
        is Long -> { pk.kind = V_INT; pk.int_value = key }
        is Int -> { pk.kind = V_INT; pk.int_value = key.toLong() }
        is Short -> { pk.kind = V_INT; pk.int_value = key.toLong() }
        is Byte -> { pk.kind = V_INT; pk.int_value = key.toLong() }
        is String -> { pk.kind = V_STRING; pk.string.setText(utf8(key), arena.keep) }
        is ObjectId -> { pk.kind = V_OBJECT_ID; pk.object_id = key.bytes }
        is UUID -> { pk.kind = V_UUID; pk.uuid = uuidToBytes(key) }
    }
}

internal fun pkOf(key: Any, arena: Arena): DsPk = DsPk().also { fillPk(it, key, arena) }

internal fun fillValue(v: DsValue, value: Any?, arena: Arena) {
    when (value) {
        null -> v.kind = V_NULL
        is Boolean -> { v.kind = V_BOOL; v.bool_value = if (value) 1 else 0 }
        is Long -> { v.kind = V_INT; v.int_value = value }
        is Int -> { v.kind = V_INT; v.int_value = value.toLong() }
        is Short -> { v.kind = V_INT; v.int_value = value.toLong() }
        is Byte -> { v.kind = V_INT; v.int_value = value.toLong() }
        is Double -> { v.kind = V_DOUBLE; v.double_value = value }
        is Float -> { v.kind = V_DOUBLE; v.double_value = value.toDouble() }
        is String -> { v.kind = V_STRING; v.string.setText(utf8(value), arena.keep) }
        is ByteArray -> {
            v.kind = V_BINARY
            if (value.isNotEmpty()) {
                val m = Memory(value.size.toLong())
                m.write(0, value, 0, value.size)
                arena.keep.add(m)
                v.binary.data = m
            }
            v.binary.len = SizeT(value.size.toLong())
        }
        is Instant -> { v.kind = V_TIMESTAMP; v.timestamp_ns = instantToNanos(value) }
        is ObjectId -> { v.kind = V_OBJECT_ID; v.object_id = value.bytes }
        is UUID -> { v.kind = V_UUID; v.uuid = uuidToBytes(value) }
        is Link -> { v.kind = V_LINK; fillPk(v.link, value.primaryKey, arena) }
        is TypedLink -> {
            v.kind = V_TYPED_LINK
            v.string.setText(utf8(value.className), arena.keep)
            fillPk(v.link, value.primaryKey, arena)
        }
        else -> throw IllegalArgumentException("driftsync cannot store a ${value.javaClass.name}")
    }
}

internal fun valueOf(value: Any?, arena: Arena): DsValue = DsValue().also { fillValue(it, value, arena) }

/** A path into a mixed (`Int` list indexes, `String` dictionary keys) as a native array. */
internal fun pathOf(path: List<Any>, arena: Arena): Pair<com.sun.jna.Pointer?, SizeT> {
    if (path.isEmpty()) return null to SizeT(0)
    @Suppress("UNCHECKED_CAST")
    val steps = DsMixedKey().toArray(path.size) as Array<DsMixedKey>
    path.forEachIndexed { i, step ->
        when (step) {
            is Int -> { steps[i].is_index = 1; steps[i].index = SizeT(step.toLong()) }
            is String -> steps[i].key.setText(utf8(step), arena.keep)
            else -> throw IllegalArgumentException("a path step is an Int index or a String key, not $step")
        }
        steps[i].write()
    }
    arena.keep.add(steps)
    return steps[0].pointer to SizeT(path.size.toLong())
}

/** Reads a key the library wrote (its bytes are copied). */
internal fun readPk(pk: DsPk): Any = when (pk.kind) {
    V_INT -> pk.int_value
    V_STRING -> pk.string.text()
    V_OBJECT_ID -> ObjectId(pk.object_id)
    V_UUID -> bytesToUuid(pk.uuid)
    else -> throw IllegalStateException("unknown primary key type ${pk.kind}")
}

/** Reads a value the library wrote (its bytes are copied). */
internal fun readValue(v: DsValue): Any? = when (v.kind) {
    V_NULL -> null
    V_BOOL -> v.bool_value.toInt() != 0
    V_INT -> v.int_value
    V_DOUBLE -> v.double_value
    V_STRING -> v.string.text()
    V_BINARY -> v.binary.bytes()
    V_TIMESTAMP -> nanosToInstant(v.timestamp_ns)
    V_OBJECT_ID -> ObjectId(v.object_id)
    V_UUID -> bytesToUuid(v.uuid)
    V_LINK -> Link(readPk(v.link))
    V_TYPED_LINK -> TypedLink(v.string.text(), readPk(v.link))
    else -> throw IllegalStateException("unknown value type ${v.kind}")
}
