package io.driftsync.internal

import com.sun.jna.IntegerType
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.Structure
import com.sun.jna.ptr.ByReference

/** C `size_t`. */
class SizeT @JvmOverloads constructor(value: Long = 0) : IntegerType(Native.SIZE_T_SIZE, value, true) {
    override fun toByte(): Byte = toLong().toByte()
    override fun toShort(): Short = toLong().toShort()
}

/** C `size_t *` (an out-parameter). */
class SizeTByReference : ByReference(Native.SIZE_T_SIZE) {
    val value: Long
        get() = if (Native.SIZE_T_SIZE == 8) pointer.getLong(0) else pointer.getInt(0).toLong() and 0xffffffffL
}

/** `driftsync_string_t` (pointer + length, not NUL-terminated in general). */
@Structure.FieldOrder("data", "len")
open class DsString : Structure {
    @JvmField var data: Pointer? = null
    @JvmField var len: SizeT = SizeT(0)

    constructor() : super()
    constructor(p: Pointer) : super(p) { read() }

    fun text(): String {
        val n = len.toLong()
        val d = data
        if (n == 0L || d == null) return ""
        return String(d.getByteArray(0, n.toInt()), Charsets.UTF_8)
    }

    fun setText(bytes: ByteArray?, holder: MutableList<Any>) {
        if (bytes == null || bytes.isEmpty()) {
            data = null; len = SizeT(0); return
        }
        val m = com.sun.jna.Memory(bytes.size.toLong())
        m.write(0, bytes, 0, bytes.size)
        holder.add(m)
        data = m
        len = SizeT(bytes.size.toLong())
    }

    class ByValue : DsString(), Structure.ByValue
}

/** `driftsync_bytes_t`. */
@Structure.FieldOrder("data", "len")
open class DsBytes : Structure() {
    @JvmField var data: Pointer? = null
    @JvmField var len: SizeT = SizeT(0)

    fun bytes(): ByteArray {
        val n = len.toLong()
        val d = data
        if (n == 0L || d == null) return ByteArray(0)
        return d.getByteArray(0, n.toInt())
    }
}

/** `driftsync_pk_t`. */
@Structure.FieldOrder("kind", "int_value", "string", "object_id", "uuid")
open class DsPk : Structure {
    @JvmField var kind: Int = 0
    @JvmField var int_value: Long = 0
    @JvmField var string: DsString = DsString()
    @JvmField var object_id: ByteArray = ByteArray(12)
    @JvmField var uuid: ByteArray = ByteArray(16)

    constructor() : super()
    constructor(p: Pointer) : super(p)

    class ByReference : DsPk(), Structure.ByReference
}

/** `driftsync_value_t`. */
@Structure.FieldOrder(
    "kind", "bool_value", "int_value", "double_value", "string", "binary", "timestamp_ns",
    "object_id", "uuid", "link",
)
open class DsValue : Structure {
    @JvmField var kind: Int = 0
    @JvmField var bool_value: Byte = 0
    @JvmField var int_value: Long = 0
    @JvmField var double_value: Double = 0.0
    @JvmField var string: DsString = DsString()
    @JvmField var binary: DsBytes = DsBytes()
    @JvmField var timestamp_ns: Long = 0
    @JvmField var object_id: ByteArray = ByteArray(12)
    @JvmField var uuid: ByteArray = ByteArray(16)
    @JvmField var link: DsPk = DsPk()

    constructor() : super()
    constructor(p: Pointer) : super(p)

    class ByReference : DsValue(), Structure.ByReference
}

/** `driftsync_field_t` (arrays of it are passed to create/upsert). */
@Structure.FieldOrder("name", "value")
open class DsField : Structure {
    @JvmField var name: DsString = DsString()
    @JvmField var value: DsValue = DsValue()

    constructor() : super()
    constructor(p: Pointer) : super(p)

    class ByReference : DsField(), Structure.ByReference
}

/** `driftsync_mixed_key_t`: one step of a path into a mixed. */
@Structure.FieldOrder("is_index", "index", "key")
open class DsMixedKey : Structure() {
    @JvmField var is_index: Byte = 0
    @JvmField var index: SizeT = SizeT(0)
    @JvmField var key: DsString = DsString()
}

/** `driftsync_property_t`. */
@Structure.FieldOrder("name", "kind", "list", "optional", "target")
open class DsProperty : Structure() {
    @JvmField var name: DsString = DsString()
    @JvmField var kind: Int = 0
    @JvmField var list: Byte = 0
    @JvmField var optional: Byte = 0
    @JvmField var target: DsString = DsString()

    class ByReference : DsProperty(), Structure.ByReference
}
