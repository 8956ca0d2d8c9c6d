package io.driftsync

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList

/** The server's form of `embeddedSchema` below. */
private const val EMBEDDED_SCHEMA_JSON = """{"classes":[
 {"name":"Item","primaryKey":"id","properties":[
  {"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"count","type":"int"},
  {"name":"tags","type":"string","list":true},{"name":"next","type":"link","optional":true,"target":"Item"},
  {"name":"address","type":"link","optional":true,"target":"Address"},{"name":"parts","type":"link","list":true,"target":"Part"}]},
 {"name":"Person","primaryKey":"name","properties":[
  {"name":"name","type":"string"},{"name":"items","type":"link","list":true,"target":"Item"},
  {"name":"age","type":"int","optional":true}]},
 {"name":"Address","embedded":true,"properties":[{"name":"street","type":"string"},{"name":"city","type":"string","optional":true}]},
 {"name":"Part","embedded":true,"properties":[{"name":"name","type":"string"},{"name":"qty","type":"int"}]}
]}"""

/** Embedded objects (issue 15) through the Kotlin binding: local use, bad input, a merge through the server. */
class EmbeddedTest {
    private lateinit var dir: Path

    /** The tests' schema plus `Item.address` (one embedded Address) and `Item.parts` (a list of Parts). */
    private val embeddedSchema = Schema.of(
        testSchema.classes.map { c ->
            if (c.name != "Item") c
            else c.copy(properties = c.properties + Property("address", PropertyType.LINK, optional = true, target = "Address") +
                Property("parts", PropertyType.LINK, list = true, target = "Part"))
        } + schema {
            embeddedClass("Address") {
                string("street")
                string("city", optional = true)
            }
            embeddedClass("Part") {
                string("name")
                int("qty")
            }
        }.classes,
    )

    @BeforeEach
    fun setUp() {
        dir = tempDir("embedded")
    }

    @AfterEach
    fun tearDown() {
        dir.toFile().deleteTree()
    }

    @Test
    fun `embedded objects are written and read by path and notify their parent`() {
        Realm.open(localConfig(dir.resolve("e.realm").toString(), embeddedSchema)).use { realm ->
            realm.write {
                create("Item", 1, "name" to "one")
                setEmbedded("Item", 1, "address", "street" to "Main")
                pushEmbedded("Item", 1, "parts", "name" to "bolt", "qty" to 1)
                insertEmbedded("Item", 1, "parts", 0, "name" to "washer", "qty" to 3)
            }
            val seen = CopyOnWriteArrayList<RealmChanges>()
            val token = realm.observe { c -> seen += c }
            realm.write {
                setEmbeddedValue("Item", 1, "address.city", "Springfield")
                setEmbeddedValue("Item", 1, "parts[1].qty", 5)
            }
            assertEquals("Main", realm.getEmbeddedValue("Item", 1, "address.street"))
            assertEquals("Springfield", realm.getEmbeddedValue("Item", 1, "address.city"))
            assertEquals(2, realm.embeddedSize("Item", 1, "parts"))
            assertEquals("washer", realm.getEmbeddedValue("Item", 1, "parts[0].name"))
            assertEquals(5L, realm.getEmbeddedValue("Item", 1, "parts[1].qty"))
            eventually("the parent's properties were reported") {
                seen.any { c -> c.forClass("Item")?.modified?.any { it.properties.sorted() == listOf("address", "parts") } == true }
            }
            token.close()
            realm.write {
                removeEmbedded("Item", 1, "parts[0]")
                removeEmbedded("Item", 1, "address")
            }
            assertFalse(realm.embeddedExists("Item", 1, "address"))
            assertEquals("bolt", realm.getEmbeddedValue("Item", 1, "parts[0].name"))
            realm.write { erase("Item", 1) }
            assertEquals(0L, realm.count("Address"))
        }
    }

    @Test
    fun `embedded bad input is a typed error and changes nothing`() {
        val withKey = ClassSchema("Address", "street", listOf(Property("street", PropertyType.STRING)), embedded = true)
        assertThrows<SchemaException> { Schema.of(listOf(withKey)) }
        Realm.open(localConfig(dir.resolve("e.realm").toString(), embeddedSchema)).use { realm ->
            realm.write {
                create("Item", 1)
                setEmbedded("Item", 1, "address", "street" to "Main")
            }
            realm.write {
                assertThrows<InvalidArgumentException> { create("Address", 1, "street" to "x") }
                assertThrows<TypeMismatchException> { setEmbeddedValue("Item", 1, "address.street", 5) }
                assertThrows<TypeMismatchException> { pushEmbedded("Item", 1, "parts", "qty" to "many") }
                assertThrows<TypeMismatchException> { set("Item", 1, "address", Link(1)) }
                assertThrows<IndexOutOfRangeException> { setEmbeddedValue("Item", 1, "parts[3].qty", 1) }
                assertThrows<UnknownNameException> { setEmbeddedValue("Item", 1, "address.zip", "1") }
            }
            assertEquals("Main", realm.getEmbeddedValue("Item", 1, "address.street"))
            assertEquals(0, realm.embeddedSize("Item", 1, "parts"))
        }
    }

    @Test
    fun `embedded changes merge across two clients and die with their parent`() {
        TestServer().use { ts ->
            val json = dir.resolve("embedded.json").toFile()
            json.writeText(EMBEDDED_SCHEMA_JSON)
            ts.admin("schema", "apply", json.toString())
            val a = Realm.open(syncConfig(ts, "a.realm", "alice", schema = embeddedSchema))
            val b = Realm.open(syncConfig(ts, "b.realm", "bob", schema = embeddedSchema))
            try {
                a.write {
                    create("Item", 1, "name" to "one")
                    setEmbedded("Item", 1, "address", "street" to "Main")
                    create("Item", 2, "name" to "two")
                    pushEmbedded("Item", 2, "parts", "name" to "bolt", "qty" to 1)
                }
                a.syncAll()
                b.syncAll()
                a.goOffline()
                b.goOffline()
                a.write {
                    setEmbeddedValue("Item", 1, "address.street", "A street")
                    erase("Item", 2)
                }
                b.write {
                    setEmbeddedValue("Item", 1, "address.street", "B street")
                    setEmbeddedValue("Item", 2, "parts[0].qty", 9)
                }
                a.session().resume(); a.syncAll()
                b.session().resume(); b.syncAll()
                a.syncAll()
                for (r in listOf(a, b)) {
                    assertEquals("B street", r.getEmbeddedValue("Item", 1, "address.street"), "rule 4: the later set wins")
                    assertNull(r.get("Item", 2), "the erase wins; its embedded objects went with it")
                }
                assertTrue(a.embeddedExists("Item", 1, "address"))
            } finally {
                a.close()
                b.close()
            }
        }
    }
}
