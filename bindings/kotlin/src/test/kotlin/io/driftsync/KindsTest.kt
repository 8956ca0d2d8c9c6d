package io.driftsync

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList

/** Realm's data kinds beyond scalars and lists (issue 15) through the Kotlin binding. */
class KindsTest {
    private lateinit var dir: Path
    private lateinit var realm: Realm

    private val pageSchema = schema {
        realmClass("Page", primaryKey = "id") {
            int("id")
            string("title")
            counter("visits")
            counter("likes", optional = true)
            set("tags", PropertyType.STRING)
            linkSet("related", "Page")
            dictionary("meta", PropertyType.STRING)
            linkDictionary("refs", "Page")
        }
    }

    @BeforeEach
    fun open() {
        dir = tempDir("kinds")
        realm = Realm.open(localConfig(dir.resolve("k.realm").toString(), pageSchema))
    }

    @AfterEach
    fun close() {
        realm.close()
        dir.toFile().deleteTree()
    }

    @Test
    fun `counter adds read back, notify, and a set replaces the value`() {
        realm.write { create("Page", 1, "title" to "home") }
        val seen = CopyOnWriteArrayList<String>()
        val token = realm.observe { c -> seen += c.toString() }
        realm.write {
            counterAdd("Page", 1, "visits", 5)
            counterAdd("Page", 1, "visits", -2)
            counterAdd("Page", 1, "likes", 1)
        }
        assertEquals(3L, realm.getValue("Page", 1, "visits"))
        assertEquals(1L, realm.getValue("Page", 1, "likes"), "a null counter counts from 0")
        eventually("the observer saw the counters") { seen.any { it.contains("visits") && it.contains("likes") } }
        token.close()
        realm.write {
            set("Page", 1, "visits", 10)
            counterAdd("Page", 1, "visits", 1)
        }
        assertEquals(11L, realm.getValue("Page", 1, "visits"))
    }

    @Test
    fun `counter bad input is a typed error and changes nothing`() {
        realm.write { create("Page", 1, "title" to "home", "visits" to 2) }
        realm.write {
            assertThrows<TypeMismatchException> { counterAdd("Page", 1, "title", 1) }
            assertThrows<TypeMismatchException> { set("Page", 1, "visits", "many") }
            assertThrows<ObjectNotFoundException> { counterAdd("Page", 9, "visits", 1) }
        }
        assertEquals(2L, realm.getValue("Page", 1, "visits"))
        val e = assertThrows<SchemaException> {
            schema { realmClass("A", primaryKey = "id") { int("id"); property(Property("s", PropertyType.STRING, counter = true)) } }
        }
        assertTrue(e.message!!.contains("counter"), e.message)
    }

    @Test
    fun `set add, remove, clear, and an erased link leaves the set`() {
        realm.write {
            create("Page", 1, "title" to "home")
            create("Page", 2, "title" to "other")
        }
        val seen = CopyOnWriteArrayList<String>()
        val token = realm.observe { c -> seen += c.toString() }
        realm.write {
            setAdd("Page", 1, "tags", "b")
            setAdd("Page", 1, "tags", "a")
            setAdd("Page", 1, "tags", "b")
            setRemove("Page", 1, "tags", "missing")
            setAdd("Page", 1, "related", 2)
        }
        assertEquals(listOf("a", "b"), realm.getSet("Page", 1, "tags").toList())
        assertEquals(1, realm.getSet("Page", 1, "related").size)
        eventually("the observer saw the sets") { seen.any { it.contains("tags") && it.contains("related") } }
        token.close()
        realm.write {
            erase("Page", 2)
            setRemove("Page", 1, "tags", "a")
        }
        assertEquals(emptySet<Any?>(), realm.getSet("Page", 1, "related"), "the erased page left the set")
        assertEquals(setOf<Any?>("b"), realm.getSet("Page", 1, "tags"))
        realm.write { setClear("Page", 1, "tags") }
        assertEquals(emptySet<Any?>(), realm.getSet("Page", 1, "tags"))
    }

    @Test
    fun `set bad input is a typed error and changes nothing`() {
        realm.write {
            create("Page", 1, "title" to "home")
            setAdd("Page", 1, "tags", "a")
        }
        realm.write {
            assertThrows<TypeMismatchException> { setAdd("Page", 1, "tags", 5L) }
            assertThrows<TypeMismatchException> { setAdd("Page", 1, "tags", null) }
            assertThrows<TypeMismatchException> { setAdd("Page", 1, "title", "x") }
            assertThrows<ObjectNotFoundException> { setAdd("Page", 1, "related", 9) }
        }
        assertEquals(setOf<Any?>("a"), realm.getSet("Page", 1, "tags"))
        assertThrows<SchemaException> {
            schema { realmClass("A", primaryKey = "id") { int("id"); property(Property("s", PropertyType.STRING, list = true, set = true)) } }
        }
    }

    @Test
    fun `dictionary set, erase, clear, and a link to an erased object becomes null`() {
        realm.write {
            create("Page", 1, "title" to "home")
            create("Page", 2, "title" to "other")
        }
        val seen = CopyOnWriteArrayList<String>()
        val token = realm.observe { c -> seen += c.toString() }
        realm.write {
            dictSet("Page", 1, "meta", "b", "one")
            dictSet("Page", 1, "meta", "a", "two")
            dictErase("Page", 1, "meta", "absent")
            dictSet("Page", 1, "refs", "r", 2)
        }
        assertEquals(mapOf("a" to "two", "b" to "one"), realm.getDictionary("Page", 1, "meta"))
        assertEquals(listOf("a", "b"), realm.getDictionary("Page", 1, "meta").keys.toList())
        eventually("the observer saw the dictionaries") { seen.any { it.contains("meta") && it.contains("refs") } }
        token.close()
        realm.write {
            erase("Page", 2)
            dictErase("Page", 1, "meta", "a")
        }
        assertEquals(mapOf("r" to null), realm.getDictionary("Page", 1, "refs"), "a link to an erased page becomes null")
        realm.write { dictClear("Page", 1, "meta") }
        assertEquals(emptyMap<String, Any?>(), realm.getDictionary("Page", 1, "meta"))
    }

    @Test
    fun `dictionary bad input is a typed error and changes nothing`() {
        realm.write {
            create("Page", 1, "title" to "home")
            dictSet("Page", 1, "meta", "k", "v")
        }
        realm.write {
            assertThrows<TypeMismatchException> { dictSet("Page", 1, "meta", "k", 5L) }
            assertThrows<TypeMismatchException> { dictSet("Page", 1, "meta", "k", null) }
            assertThrows<TypeMismatchException> { dictSet("Page", 1, "tags", "k", "a set") }
            assertThrows<ObjectNotFoundException> { dictSet("Page", 1, "refs", "k", 9) }
        }
        assertEquals(mapOf("k" to "v"), realm.getDictionary("Page", 1, "meta"))
        assertThrows<TypeMismatchException> { realm.getDictionary("Page", 1, "title") }
    }

    @Test
    fun `notify collections report list indices, set elements and dictionary keys`() {
        val boxSchema = schema {
            realmClass("Box", primaryKey = "id") {
                int("id")
                list("l", PropertyType.STRING)
                set("s", PropertyType.STRING)
                dictionary("d", PropertyType.STRING)
                counter("n")
            }
        }
        Realm.open(localConfig(dir.resolve("n.realm").toString(), boxSchema)).use { r ->
            r.write {
                create("Box", 1)
                for (x in listOf("a", "b", "c", "d")) listAdd("Box", 1, "l", x)
                for (x in listOf("a", "b")) setAdd("Box", 1, "s", x)
                for (x in listOf("a", "b", "c")) dictSet("Box", 1, "d", x, x)
            }
            val seen = CopyOnWriteArrayList<RealmChanges>()
            val token = r.observeObject("Box", 1) { seen += it }
            r.write {
                listRemoveAt("Box", 1, "l", 1) // a c d
                listSet("Box", 1, "l", 2, "D") // a c D
                listInsert("Box", 1, "l", 0, "z") // z a c D
                setRemove("Box", 1, "s", "b")
                setAdd("Box", 1, "s", "c")
                dictSet("Box", 1, "d", "b", "B")
                dictErase("Box", 1, "d", "c")
                dictSet("Box", 1, "d", "e", "e")
                counterAdd("Box", 1, "n", 1)
            }
            eventually("the observer saw the commit") { seen.isNotEmpty() }
            token.close()
            val box = seen.single().forClass("Box")!!
            // Lists: deleted positions before the commit, inserted and modified ones after it.
            assertEquals(CollectionChanges.ListChanges(listOf(1), listOf(0), listOf(3)), box.collection(1L, "l"))
            assertEquals(CollectionChanges.SetChanges(listOf("b"), listOf("c")), box.collection(1L, "s"))
            assertEquals(CollectionChanges.DictionaryChanges(listOf("c"), listOf("e"), listOf("b")), box.collection(1L, "d"))
            assertEquals(null, box.collection(1L, "n"), "a counter names only the property")
            assertEquals(listOf("d", "l", "n", "s"), box.modified.single().properties)
        }
    }
}
