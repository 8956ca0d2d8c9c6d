package io.driftsync

import java.time.Instant
import java.util.UUID

/** A 12-byte object id (the `objectId` property type). */
class ObjectId(bytes: ByteArray) : Comparable<ObjectId> {
    private val b: ByteArray = bytes.copyOf()

    init {
        require(bytes.size == 12) { "an ObjectId has 12 bytes, not ${bytes.size}" }
    }

    /** A copy of the 12 bytes. */
    val bytes: ByteArray get() = b.copyOf()

    override fun equals(other: Any?): Boolean = other is ObjectId && other.b.contentEquals(b)
    override fun hashCode(): Int = b.contentHashCode()
    override fun toString(): String = b.joinToString("") { "%02x".format(it) }
    override fun compareTo(other: ObjectId): Int = java.util.Arrays.compareUnsigned(b, other.b)

    companion object {
        /** Parses 24 hex digits. */
        fun fromHex(hex: String): ObjectId {
            require(hex.length == 24) { "an ObjectId is 24 hex digits" }
            return ObjectId(ByteArray(12) { hex.substring(it * 2, it * 2 + 2).toInt(16).toByte() })
        }
    }
}

/**
 * A link value: the primary key of the target object (the target class comes from the schema).
 * Reading a link property gives a [Link]; writing one accepts a [Link] (and, for realms whose
 * schema was declared in Kotlin, the bare primary key too).
 */
class Link(primaryKey: Any) {
    /** The target's primary key ([Long], [String], [ObjectId] or [UUID]; Int etc. are widened to Long). */
    val primaryKey: Any = when (primaryKey) {
        is Int -> primaryKey.toLong()
        is Short -> primaryKey.toLong()
        is Byte -> primaryKey.toLong()
        else -> primaryKey
    }

    init {
        checkPrimaryKey(primaryKey)
    }

    override fun equals(other: Any?): Boolean = other is Link && other.primaryKey == primaryKey
    override fun hashCode(): Int = primaryKey.hashCode()
    override fun toString(): String = "Link($primaryKey)"
}

/**
 * A link held by a mixed value: it names the target's class (a mixed has no target class in
 * the schema).
 */
class TypedLink(val className: String, primaryKey: Any) {
    /** The target's primary key (as in [Link]). */
    val primaryKey: Any = Link(primaryKey).primaryKey

    override fun equals(other: Any?): Boolean = other is TypedLink && other.className == className && other.primaryKey == primaryKey
    override fun hashCode(): Int = 31 * className.hashCode() + primaryKey.hashCode()
    override fun toString(): String = "TypedLink($className, $primaryKey)"
}

/**
 * Values in Kotlin: `null`, [Boolean], [Long] (Int, Short and Byte are accepted as input),
 * [Double] (Float accepted), [String], [ByteArray], [Instant] (timestamps, nanosecond precision),
 * [ObjectId], [UUID] and [Link]. Primary keys are [Long] (Int accepted), [String], [ObjectId] or
 * [UUID].
 */
internal fun checkPrimaryKey(pk: Any) {
    when (pk) {
        is Long, is Int, is Short, is Byte, is String, is ObjectId, is UUID -> {}
        else -> throw IllegalArgumentException("a primary key is a Long, String, ObjectId or UUID, not ${pk.javaClass.name}")
    }
}

internal fun uuidToBytes(u: UUID): ByteArray {
    val out = ByteArray(16)
    for (i in 0 until 8) out[i] = (u.mostSignificantBits ushr (56 - 8 * i)).toByte()
    for (i in 0 until 8) out[8 + i] = (u.leastSignificantBits ushr (56 - 8 * i)).toByte()
    return out
}

internal fun bytesToUuid(b: ByteArray): UUID {
    var msb = 0L
    var lsb = 0L
    for (i in 0 until 8) msb = (msb shl 8) or (b[i].toLong() and 0xff)
    for (i in 8 until 16) lsb = (lsb shl 8) or (b[i].toLong() and 0xff)
    return UUID(msb, lsb)
}

internal fun instantToNanos(i: Instant): Long = Math.addExact(Math.multiplyExact(i.epochSecond, 1_000_000_000L), i.nano.toLong())

internal fun nanosToInstant(ns: Long): Instant = Instant.ofEpochSecond(Math.floorDiv(ns, 1_000_000_000L), Math.floorMod(ns, 1_000_000_000L))
