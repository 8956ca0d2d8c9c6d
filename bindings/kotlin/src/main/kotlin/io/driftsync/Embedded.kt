package io.driftsync

import com.sun.jna.Pointer
import com.sun.jna.ptr.ByteByReference
import com.sun.jna.ptr.PointerByReference
import io.driftsync.internal.Arena
import io.driftsync.internal.DsField
import io.driftsync.internal.DsPk
import io.driftsync.internal.DsValue
import io.driftsync.internal.SizeT
import io.driftsync.internal.SizeTByReference
import io.driftsync.internal.fillValue
import io.driftsync.internal.pkOf
import io.driftsync.internal.readValue
import io.driftsync.internal.utf8
import io.driftsync.internal.valueOf

/*
 * Embedded objects (issue 15): objects of an embedded class (no primary key), each owned by one
 * parent object and addressed by a path from it: property names separated by `.`, a list element
 * as `name[index]` ("address", "address.street", "parts[2].qty"). Erasing the parent erases them;
 * a change under an object another client replaced or erased is dropped by the merge rules.
 */

/** Runs one embedded-object call with the parent's class, primary key and the path as C arguments. */
private inline fun <T> BaseRealm.pathCall(
    className: String, primaryKey: Any, path: String,
    crossinline f: (Pointer, ByteArray, DsPk, ByteArray, Arena) -> T,
): T = withHandle { p ->
    val a = Arena()
    f(p, utf8(className), pkOf(primaryKey, a), utf8(path), a)
}

/** The fields of a new embedded object, as the C ABI takes them (null when there are none). */
private fun fieldsOf(fields: Array<out Pair<String, Any?>>, a: Arena): DsField? {
    if (fields.isEmpty()) return null
    @Suppress("UNCHECKED_CAST")
    val structs = DsField().toArray(fields.size) as Array<DsField>
    fields.forEachIndexed { i, (name, value) ->
        structs[i].name.setText(utf8(name), a.keep)
        fillValue(structs[i].value, value, a)
        structs[i].write()
    }
    a.keep.add(structs)
    return structs[0]
}

/** A scalar inside an embedded object: `getEmbeddedValue("Item", 1, "address.street")`. */
fun BaseRealm.getEmbeddedValue(className: String, primaryKey: Any, path: String): Any? =
    pathCall(className, primaryKey, path) { p, c, pk, pa, _ ->
        val out = PointerByReference()
        check { lib.driftsync_realm_get_embedded_value(p, c, SizeT(c.size.toLong()), pk, pa, SizeT(pa.size.toLong()), out, it) }
        try {
            val dv = DsValue()
            check { lib.driftsync_owned_value_get(out.value, dv, it) }
            readValue(dv)
        } finally {
            lib.driftsync_owned_value_free(out.value)
        }
    }

/** Whether the embedded object at [path] ("address", "parts[1]") is there (false: null). */
fun BaseRealm.embeddedExists(className: String, primaryKey: Any, path: String): Boolean =
    pathCall(className, primaryKey, path) { p, c, pk, pa, _ ->
        val out = ByteByReference()
        check { lib.driftsync_realm_embedded_exists(p, c, SizeT(c.size.toLong()), pk, pa, SizeT(pa.size.toLong()), out, it) }
        out.value.toInt() != 0
    }

/** The number of embedded objects in the list at [path] ("parts", "parts[0].subparts"). */
fun BaseRealm.embeddedSize(className: String, primaryKey: Any, path: String): Int =
    pathCall(className, primaryKey, path) { p, c, pk, pa, _ ->
        val out = SizeTByReference()
        check { lib.driftsync_realm_embedded_len(p, c, SizeT(c.size.toLong()), pk, pa, SizeT(pa.size.toLong()), out, it) }
        out.value.toInt()
    }

/**
 * Sets the property at [path] ("address"), which holds one embedded object, to a new embedded
 * object with [fields]; the one it held, and everything inside it, is gone.
 */
fun MutableRealm.setEmbedded(className: String, primaryKey: Any, path: String, vararg fields: Pair<String, Any?>) =
    pathCall(className, primaryKey, path) { p, c, pk, pa, a ->
        val f = fieldsOf(fields, a)
        check { lib.driftsync_realm_set_embedded(p, c, SizeT(c.size.toLong()), pk, pa, SizeT(pa.size.toLong()), f, SizeT(fields.size.toLong()), it) }
    }

/** Inserts a new embedded object with [fields] at [index] of the list at [path] ("parts"). */
fun MutableRealm.insertEmbedded(className: String, primaryKey: Any, path: String, index: Int, vararg fields: Pair<String, Any?>) =
    pathCall(className, primaryKey, path) { p, c, pk, pa, a ->
        val f = fieldsOf(fields, a)
        check {
            lib.driftsync_realm_insert_embedded(
                p, c, SizeT(c.size.toLong()), pk, pa, SizeT(pa.size.toLong()), SizeT(index.toLong()), f, SizeT(fields.size.toLong()), it,
            )
        }
    }

/** Appends a new embedded object with [fields] to the list at [path]. */
fun MutableRealm.pushEmbedded(className: String, primaryKey: Any, path: String, vararg fields: Pair<String, Any?>) =
    pathCall(className, primaryKey, path) { p, c, pk, pa, a ->
        val f = fieldsOf(fields, a)
        check { lib.driftsync_realm_push_embedded(p, c, SizeT(c.size.toLong()), pk, pa, SizeT(pa.size.toLong()), f, SizeT(fields.size.toLong()), it) }
    }

/** Removes the embedded object at [path]: "address" becomes null, "parts[2]" leaves its list. */
fun MutableRealm.removeEmbedded(className: String, primaryKey: Any, path: String) =
    pathCall(className, primaryKey, path) { p, c, pk, pa, _ ->
        check { lib.driftsync_realm_remove_embedded(p, c, SizeT(c.size.toLong()), pk, pa, SizeT(pa.size.toLong()), it) }
    }

/** Sets a scalar inside an embedded object: `setEmbeddedValue("Item", 1, "address.street", "Elm")`. */
fun MutableRealm.setEmbeddedValue(className: String, primaryKey: Any, path: String, value: Any?) =
    pathCall(className, primaryKey, path) { p, c, pk, pa, a ->
        check { lib.driftsync_realm_set_embedded_value(p, c, SizeT(c.size.toLong()), pk, pa, SizeT(pa.size.toLong()), valueOf(value, a), it) }
    }
