package io.driftsync

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList

/** The mixed kind (issue 15) through the Kotlin binding: locally and across two clients. */
class MixedTest {
    private lateinit var dir: Path
    private lateinit var realm: Realm

    private val boxSchema = schema {
        realmClass("Box", primaryKey = "id") {
            int("id")
            mixed("any")
            property(Property("bag", PropertyType.MIXED, optional = true, set = true))
        }
        realmClass("Tag", primaryKey = "name") {
            string("name")
        }
    }

    @BeforeEach
    fun open() {
        dir = tempDir("mixed")
        realm = Realm.open(localConfig(dir.resolve("m.realm").toString(), boxSchema))
    }

    @AfterEach
    fun close() {
        realm.close()
        dir.toFile().deleteTree()
    }

    @Test
    fun `mixed holds values, typed links and nested collections`() {
        realm.write {
            create("Box", 1, "any" to 5L)
            create("Box", 2)
            create("Tag", "red")
        }
        assertEquals(5L, realm.getMixed("Box", 1, "any"))
        val seen = CopyOnWriteArrayList<String>()
        val token = realm.observe { c -> seen += c.toString() }
        realm.write {
            set("Box", 2, "any", mapOf("l" to listOf(1L, mapOf("who" to TypedLink("Tag", "red"))), "n" to null))
            mixedInsert("Box", 2, "any", listOf("l"), 0, "first")
            mixedSet("Box", 2, "any", listOf("l", 1), 2.5)
            mixedErase("Box", 2, "any", listOf("n"))
            setAdd("Box", 2, "bag", TypedLink("Tag", "red"))
        }
        val want = mapOf("l" to listOf("first", 2.5, mapOf("who" to TypedLink("Tag", "red"))))
        assertEquals(want, realm.getMixed("Box", 2, "any"))
        eventually("the observer saw the mixed") { seen.any { it.contains("any") } }
        token.close()
        realm.write { erase("Tag", "red") }
        assertEquals(mapOf("l" to listOf("first", 2.5, mapOf("who" to null))), realm.getMixed("Box", 2, "any"), "a link to an erased object becomes null")
        assertEquals(emptyList<Any?>(), realm.getList("Box", 2, "bag"), "and leaves a set of mixed")
        realm.write { set("Box", 2, "any", null) }
        assertEquals(null, realm.getMixed("Box", 2, "any"))
    }

    @Test
    fun `mixed bad input is a typed error and changes nothing`() {
        realm.write { create("Box", 1); set("Box", 1, "any", listOf(1L)) }
        realm.write {
            val e = assertThrows<TypeMismatchException> { mixedSet("Box", 1, "bag", emptyList(), listOf(1L)) }
            assertTrue(e.message!!.contains("hashable"), e.message)
            assertThrows<TypeMismatchException> { mixedSet("Box", 1, "any", listOf(0, "k"), 1L) }
            assertThrows<TypeMismatchException> { set("Box", 1, "any", Link(1L)) }
            assertThrows<IndexOutOfRangeException> { mixedInsert("Box", 1, "any", emptyList(), 5, 1L) }
            assertThrows<ObjectNotFoundException> { mixedSet("Box", 1, "any", listOf(0), TypedLink("Tag", "none")) }
        }
        assertEquals(listOf(1L), realm.getMixed("Box", 1, "any"))
    }

    @Test
    fun `mixed later whole-value set wins and an edit inside the replaced list is dropped`() {
        TestServer().use { ts ->
            val json = TEST_SCHEMA_JSON.replace(
                """{"name":"next","type":"link","optional":true,"target":"Item"}]}""",
                """{"name":"next","type":"link","optional":true,"target":"Item"},{"name":"any","type":"mixed","optional":true}]}""",
            )
            val file = ts.path("mixed-schema.json")
            java.io.File(file).writeText(json)
            ts.admin("schema", "apply", file)
            val s = Schema.of(testSchema.classes.map { if (it.name == "Item") it.copy(properties = it.properties + Property("any", PropertyType.MIXED, optional = true)) else it })
            val a = Realm.open(syncConfig(ts, "a.realm", "alice", schema = s))
            val b = Realm.open(syncConfig(ts, "b.realm", "bob", schema = s))
            try {
                a.write { create("Item", 1, "name" to "one"); set("Item", 1, "any", mapOf("l" to listOf(1L))) }
                a.syncAll()
                b.syncAll()
                assertEquals(mapOf("l" to listOf(1L)), b.getMixed("Item", 1, "any"))
                a.goOffline()
                b.goOffline()
                a.write {
                    mixedInsert("Item", 1, "any", listOf("l"), 1, 2L)
                    mixedSet("Item", 1, "any", listOf("k"), "kept")
                }
                b.write { mixedSet("Item", 1, "any", listOf("l"), listOf("new")) }
                for (r in listOf(b, a, b)) {
                    r.session().resume()
                    r.syncAll()
                }
                val want = mapOf("k" to "kept", "l" to listOf("new"))
                eventually("both converge") { a.getMixed("Item", 1, "any") == want && b.getMixed("Item", 1, "any") == want }
            } finally {
                a.close()
                b.close()
            }
        }
    }
}
