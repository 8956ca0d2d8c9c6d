package io.driftsync

import com.sun.jna.Pointer
import com.sun.jna.ptr.PointerByReference
import io.driftsync.internal.Arena
import io.driftsync.internal.DsProperty
import io.driftsync.internal.SizeT
import io.driftsync.internal.utf8

/** The type of a property (for a list: of its elements). */
enum class PropertyType(internal val native: Int) {
    BOOL(1), INT(2), DOUBLE(3), STRING(4), BINARY(5), TIMESTAMP(6), OBJECT_ID(7), UUID(8), LINK(9),

    /** Any value: null, a scalar, a [TypedLink], or (in a single property) a nested list or map. */
    MIXED(10),
}

/**
 * One property of a class. A single link must be optional; [target] is the linked class.
 * [counter] marks an INT that takes [Realm.counterAdd], which merges additively across clients.
 * [set] makes it a set of [type] values (add and remove per element, no order, no duplicates);
 * [dictionary] a dictionary from string keys to [type] values (of links: optional).
 */
data class Property(
    val name: String,
    val type: PropertyType,
    val list: Boolean = false,
    val optional: Boolean = false,
    val target: String? = null,
    val counter: Boolean = false,
    val set: Boolean = false,
    val dictionary: Boolean = false,
)

/**
 * One class: its name, the name of its primary-key property, and its properties (the key included).
 * An [embedded] class has no primary key (""): its objects live inside one parent object, reached
 * through a link (or list of links) property whose target it is.
 */
data class ClassSchema(val name: String, val primaryKey: String, val properties: List<Property>, val embedded: Boolean = false) {
    fun property(name: String): Property? = properties.firstOrNull { it.name == name }
}

/**
 * A validated schema, declared in Kotlin with [schema] (or parsed with [Schema.fromJson]):
 * ```
 * val schema = schema {
 *     realmClass("Item", primaryKey = "id") {
 *         int("id"); string("name"); int("count")
 *         list("tags", PropertyType.STRING)
 *         link("next", "Item")
 *     }
 * }
 * ```
 * Validation is done by the library when the schema is made; an invalid one throws
 * [SchemaException] (or [UnknownNameException] for a property of an undeclared class).
 */
class Schema private constructor(
    /** The classes, when the schema was declared in Kotlin; empty for [fromJson] schemas. */
    val classes: List<ClassSchema>,
    private val json: String?,
) {
    /** The number of classes (as the library counts them). */
    val classCount: Int

    init {
        val p = toNative()
        try {
            classCount = Driftsync.lib.driftsync_schema_class_count(p).toInt()
        } finally {
            Driftsync.lib.driftsync_schema_free(p)
        }
    }

    fun classSchema(name: String): ClassSchema? = classes.firstOrNull { it.name == name }

    /** A native schema; the caller frees it with driftsync_schema_free. */
    internal fun toNative(): Pointer {
        val lib = Driftsync.lib
        val out = PointerByReference()
        if (json != null) {
            val b = utf8(json)
            check { lib.driftsync_schema_from_json(b, SizeT(b.size.toLong()), out, it) }
            return out.value
        }
        val builder = lib.driftsync_schema_builder_new() ?: throw DriftsyncException.of(StatusCode.INTERNAL.code, "schema builder")
        try {
            for (c in classes) {
                val n = utf8(c.name)
                val k = utf8(c.primaryKey)
                check { lib.driftsync_schema_builder_add_class(builder, n, SizeT(n.size.toLong()), k, SizeT(k.size.toLong()), it) }
                if (c.embedded) check { lib.driftsync_schema_builder_set_embedded(builder, n, SizeT(n.size.toLong()), it) }
                for (p in c.properties) {
                    val arena = Arena()
                    val dp = DsProperty()
                    dp.name.setText(utf8(p.name), arena.keep)
                    dp.kind = p.type.native
                    dp.list = if (p.list) 1 else 0
                    dp.optional = if (p.optional) 1 else 0
                    if (p.target != null) dp.target.setText(utf8(p.target), arena.keep)
                    check { lib.driftsync_schema_builder_add_property(builder, n, SizeT(n.size.toLong()), dp, it) }
                    val pn = utf8(p.name)
                    if (p.counter) {
                        check { lib.driftsync_schema_builder_set_counter(builder, n, SizeT(n.size.toLong()), pn, SizeT(pn.size.toLong()), it) }
                    }
                    if (p.set) {
                        check { lib.driftsync_schema_builder_set_set(builder, n, SizeT(n.size.toLong()), pn, SizeT(pn.size.toLong()), it) }
                    }
                    if (p.dictionary) {
                        check { lib.driftsync_schema_builder_set_dictionary(builder, n, SizeT(n.size.toLong()), pn, SizeT(pn.size.toLong()), it) }
                    }
                }
            }
        } catch (e: Throwable) {
            lib.driftsync_schema_builder_free(builder)
            throw e
        }
        // build consumes the builder whatever the outcome
        check { lib.driftsync_schema_builder_build(builder, out, it) }
        return out.value
    }

    override fun toString(): String = if (json != null) "Schema(json)" else "Schema($classes)"

    companion object {
        /** A schema from classes declared in Kotlin. */
        fun of(classes: List<ClassSchema>): Schema = Schema(classes.toList(), null)

        /** A schema from its JSON form (see `driftsync_schema_from_json`). */
        fun fromJson(json: String): Schema = Schema(emptyList(), json)
    }
}

/** Declares a schema in Kotlin; see [Schema]. */
fun schema(block: SchemaBuilder.() -> Unit): Schema = Schema.of(SchemaBuilder().apply(block).classes)

class SchemaBuilder internal constructor() {
    internal val classes = ArrayList<ClassSchema>()

    /** Declares a class whose primary key is the property [primaryKey] (declare it too). */
    fun realmClass(name: String, primaryKey: String, block: ClassBuilder.() -> Unit) {
        classes += ClassSchema(name, primaryKey, ClassBuilder().apply(block).properties.toList())
    }

    /**
     * Declares an embedded class (no primary key): its objects live inside a parent, held by a
     * [ClassBuilder.link] (one) or [ClassBuilder.linkList] (a list) property targeting it.
     */
    fun embeddedClass(name: String, block: ClassBuilder.() -> Unit) {
        classes += ClassSchema(name, "", ClassBuilder().apply(block).properties.toList(), embedded = true)
    }
}

class ClassBuilder internal constructor() {
    internal val properties = ArrayList<Property>()

    fun property(p: Property) { properties += p }
    fun bool(name: String, optional: Boolean = false) = property(Property(name, PropertyType.BOOL, optional = optional))
    fun int(name: String, optional: Boolean = false) = property(Property(name, PropertyType.INT, optional = optional))

    /** An int counter: [Realm.counterAdd] increments merge additively (both sides' survive). */
    fun counter(name: String, optional: Boolean = false) = property(Property(name, PropertyType.INT, optional = optional, counter = true))
    fun double(name: String, optional: Boolean = false) = property(Property(name, PropertyType.DOUBLE, optional = optional))
    fun string(name: String, optional: Boolean = false) = property(Property(name, PropertyType.STRING, optional = optional))
    fun binary(name: String, optional: Boolean = false) = property(Property(name, PropertyType.BINARY, optional = optional))
    fun timestamp(name: String, optional: Boolean = false) = property(Property(name, PropertyType.TIMESTAMP, optional = optional))
    fun objectId(name: String, optional: Boolean = false) = property(Property(name, PropertyType.OBJECT_ID, optional = optional))
    fun uuid(name: String, optional: Boolean = false) = property(Property(name, PropertyType.UUID, optional = optional))

    /** A single link to an object of [target] (always optional). */
    fun link(name: String, target: String) = property(Property(name, PropertyType.LINK, optional = true, target = target))

    /** A mixed property (always optional): see [MutableRealm.mixedSet]. */
    fun mixed(name: String) = property(Property(name, PropertyType.MIXED, optional = true))

    /** A list of values of [type]. */
    fun list(name: String, type: PropertyType, optional: Boolean = false) = property(Property(name, type, list = true, optional = optional))

    /** A set of values of [type]. */
    fun set(name: String, type: PropertyType, optional: Boolean = false) = property(Property(name, type, optional = optional, set = true))

    /** A dictionary from string keys to values of [type]. */
    fun dictionary(name: String, type: PropertyType, optional: Boolean = false) = property(Property(name, type, optional = optional, dictionary = true))

    /** A dictionary from string keys to (optional) links to objects of [target]. */
    fun linkDictionary(name: String, target: String) = property(Property(name, PropertyType.LINK, optional = true, target = target, dictionary = true))

    /** A set of links to objects of [target]. */
    fun linkSet(name: String, target: String) = property(Property(name, PropertyType.LINK, target = target, set = true))

    /** A list of links to objects of [target]. */
    fun linkList(name: String, target: String) = property(Property(name, PropertyType.LINK, list = true, target = target))
}
