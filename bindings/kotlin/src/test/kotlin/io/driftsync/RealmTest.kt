package io.driftsync

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.nio.file.Path
import java.time.Instant
import java.util.UUID
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

class RealmTest {
    private lateinit var dir: Path
    private lateinit var realm: Realm

    @BeforeEach
    fun open() {
        dir = tempDir("realm")
        realm = Realm.open(localConfig(dir.resolve("t.realm").toString()))
    }

    @AfterEach
    fun close() {
        realm.close()
        dir.toFile().deleteTree()
    }

    @Test
    fun `create, read, update, erase`() {
        assertFalse(realm.isFrozen)
        assertFalse(realm.isClosed)
        assertFalse(realm.isInTransaction)
        assertTrue(realm.path.endsWith("t.realm"))
        realm.write {
            assertTrue(realm.isInTransaction)
            create("Item", 1, "name" to "one", "count" to 3)
            create("Item", 2L, mapOf("name" to "two"))
            upsert("Item", 1, "count" to 4)
            upsert("Item", 3, "name" to "three")
        }
        assertEquals(3, realm.count("Item"))
        assertTrue(realm.exists("Item", 1))
        assertFalse(realm.exists("Item", 99))
        val one = realm.get("Item", 1)!!
        assertEquals("Item", one.className)
        assertEquals(1L, one.primaryKey)
        assertEquals("one", one.getString("name"))
        assertEquals(4L, one.getLong("count"))
        assertEquals(emptyList<Any?>(), one.getList("tags"))
        assertNull(one.getLink("next"))
        assertEquals(listOf("id", "name", "count", "tags", "next"), one.fields.keys.toList())
        assertEquals("two", realm.getValue("Item", 2, "name"))
        assertEquals(0L, realm.getValue("Item", 2, "count"))
        realm.write { set("Item", 2, "name", "deux") }
        assertEquals("deux", realm.nameOf(2))
        realm.write { erase("Item", 3) }
        assertNull(realm.get("Item", 3))
        assertEquals(2, realm.count("Item"))
        assertTrue(realm.toString().contains("t.realm"))
        assertTrue(one.toString().startsWith("Item[1]"))
    }

    @Test
    fun `every value type round-trips`() {
        val all = schema {
            realmClass("All", "id") {
                string("id")
                bool("b"); int("i"); double("d"); string("s"); binary("bin"); timestamp("t")
                objectId("o"); uuid("u"); link("l", "All"); int("opt", optional = true)
                list("ints", PropertyType.INT); list("bins", PropertyType.BINARY); linkList("links", "All")
            }
        }
        Realm.open(localConfig(dir.resolve("all.realm").toString(), all)).use { r ->
            val oid = ObjectId.fromHex("0123456789abcdef01234567")
            val uuid = UUID.fromString("123e4567-e89b-12d3-a456-426614174000")
            val ts = Instant.parse("2024-02-29T12:34:56.123456789Z")
            val before = Instant.ofEpochSecond(-5, 7)
            r.write {
                create("All", "b", "t" to before)
                create(
                    "All", "a",
                    "b" to true, "i" to Long.MIN_VALUE, "d" to 2.5, "s" to "héllo ✓ 🌍", "bin" to byteArrayOf(0, 1, -1),
                    "t" to ts, "o" to oid, "u" to uuid, "l" to "b", "opt" to null,
                )
                listAdd("All", "a", "ints", 1); listAdd("All", "a", "ints", 2)
                listAdd("All", "a", "bins", byteArrayOf()); listAdd("All", "a", "bins", byteArrayOf(9))
                listAdd("All", "a", "links", Link("b")); listAdd("All", "a", "links", "a")
            }
            val a = r.get("All", "a")!!
            assertEquals(true, a.getBoolean("b"))
            assertEquals(Long.MIN_VALUE, a.getLong("i"))
            assertEquals(2.5, a.getDouble("d"))
            assertEquals("héllo ✓ 🌍", a.getString("s"))
            assertArrayEquals(byteArrayOf(0, 1, -1), a.getBinary("bin"))
            assertEquals(ts, a.getTimestamp("t"))
            assertEquals(oid, a.getObjectId("o"))
            assertEquals("0123456789abcdef01234567", a.getObjectId("o").toString())
            assertEquals(uuid, a.getUuid("u"))
            assertEquals("b", a.getLink("l"))
            assertEquals(Link("b"), a["l"])
            assertNull(a["opt"])
            assertEquals(listOf(1L, 2L), a.getList("ints"))
            assertEquals(0, (a.getList("bins")[0] as ByteArray).size)
            assertEquals(listOf(Link("b"), Link("a")), a.getList("links"))
            assertEquals(before, r.get("All", "b")!!.getTimestamp("t"))
            assertEquals(a, r.get("All", "a"))
            assertThrows<IllegalArgumentException> { a["nope"] }
            assertThrows<ClassCastException> { a.getString("i") }
            // Every primary key type.
            val keys = schema {
                realmClass("O", "id") { objectId("id") }
                realmClass("U", "id") { uuid("id") }
            }
            Realm.open(localConfig(dir.resolve("keys.realm").toString(), keys)).use { k ->
                k.write { create("O", oid); create("U", uuid) }
                assertEquals(oid, k.get("O", oid)!!.primaryKey)
                assertEquals(uuid, k.get("U", uuid)!!.primaryKey)
            }
            assertThrows<IllegalArgumentException> { r.get("All", 1.5) }
            assertThrows<IllegalArgumentException> { r.write { set("All", "a", "s", Any()) } }
            assertThrows<IllegalArgumentException> { ObjectId(ByteArray(3)) }
        }
    }

    @Test
    fun `each error of the data calls`() {
        realm.item(1, "one")
        assertEquals(StatusCode.UNKNOWN_CLASS, assertThrows<UnknownNameException> { realm.count("Nope") }.code)
        assertEquals(StatusCode.UNKNOWN_PROPERTY, assertThrows<UnknownNameException> { realm.getValue("Item", 1, "nope") }.code)
        assertEquals(StatusCode.TYPE_MISMATCH, assertThrows<TypeMismatchException> { realm.write { set("Item", 1, "count", "text") } }.code)
        assertThrows<TypeMismatchException> { realm.get("Item", "string key") }
        assertThrows<TypeMismatchException> { realm.getValue("Item", 1, "tags") }
        assertEquals(StatusCode.OBJECT_NOT_FOUND, assertThrows<ObjectNotFoundException> { realm.write { erase("Item", 42) } }.code)
        assertThrows<ObjectNotFoundException> { realm.getOrThrow("Item", 42) }
        assertThrows<ObjectNotFoundException> { realm.getValue("Item", 42, "name") }
        assertEquals(StatusCode.DUPLICATE_PRIMARY_KEY, assertThrows<DuplicatePrimaryKeyException> { realm.write { create("Item", 1) } }.code)
        assertEquals(StatusCode.INDEX_OUT_OF_RANGE, assertThrows<IndexOutOfRangeException> { realm.listGet("Item", 1, "tags", 0) }.code)
        assertThrows<IndexOutOfRangeException> { realm.write { listRemoveAt("Item", 1, "tags", 3) } }
        assertEquals(1, realm.count("Item"), "failed writes were rolled back")
    }

    @Test
    fun `transactions commit, roll back, and refuse misuse`() {
        val e = assertThrows<IllegalStateException> {
            realm.write {
                create("Item", 1, "name" to "rolled back")
                throw IllegalStateException("no")
            }
        }
        assertEquals("no", e.message)
        assertFalse(realm.isInTransaction)
        assertNull(realm.get("Item", 1))
        val result = realm.write { create("Item", 2); "returned" }
        assertEquals("returned", result)
        // Nested write on the same thread.
        val nested = assertThrows<TransactionException> { realm.write { realm.write { } } }
        assertEquals(StatusCode.ALREADY_IN_WRITE_TRANSACTION, nested.code)
        // A MutableRealm used outside its block.
        var leaked: MutableRealm? = null
        realm.write { leaked = this }
        assertEquals(StatusCode.NOT_IN_WRITE_TRANSACTION, assertThrows<TransactionException> { leaked!!.create("Item", 3) }.code)
    }

    @Test
    fun `a second writer waits, then gets BUSY`() {
        val path = dir.resolve("busy.realm").toString()
        val cfg = RealmConfiguration.Builder(path, testSchema).writeTimeoutMs(200).build()
        Realm.open(cfg).use { r ->
            val inWrite = CountDownLatch(1)
            val release = CountDownLatch(1)
            val t = Thread {
                r.write {
                    inWrite.countDown()
                    release.await(10, TimeUnit.SECONDS)
                }
            }
            t.start()
            assertTrue(inWrite.await(10, TimeUnit.SECONDS))
            val e = assertThrows<TransactionException> { r.write { } }
            assertEquals(StatusCode.BUSY, e.code)
            release.countDown()
            t.join()
            r.write { create("Item", 1) }
        }
    }

    @Test
    fun `lists`() {
        realm.write {
            create("Item", 1)
            listAdd("Item", 1, "tags", "b")
            listInsert("Item", 1, "tags", 0, "a")
            listAdd("Item", 1, "tags", "c")
            listSet("Item", 1, "tags", 2, "C")
        }
        assertEquals(listOf("a", "b", "C"), realm.getList("Item", 1, "tags"))
        assertEquals(3, realm.listSize("Item", 1, "tags"))
        assertEquals("b", realm.listGet("Item", 1, "tags", 1))
        realm.write { listMove("Item", 1, "tags", 0, 2) }
        assertEquals(listOf("b", "C", "a"), realm.getList("Item", 1, "tags"))
        realm.write { listRemoveAt("Item", 1, "tags", 1) }
        assertEquals(listOf("b", "a"), realm.getList("Item", 1, "tags"))
        realm.write { listClear("Item", 1, "tags") }
        assertEquals(0, realm.listSize("Item", 1, "tags"))
        // Lists of links, and a link that becomes null when its target is erased.
        realm.write {
            create("Item", 2)
            create("Person", "ann")
            listAdd("Person", "ann", "items", 1)
            listAdd("Person", "ann", "items", Link(2))
            set("Item", 1, "next", 2)
        }
        assertEquals(listOf(Link(1), Link(2)), realm.getList("Person", "ann", "items"))
        assertEquals(2L, realm.get("Item", 1)!!.getLink("next"))
        realm.write { erase("Item", 2) }
        assertEquals(listOf(Link(1)), realm.getList("Person", "ann", "items"))
        assertNull(realm.get("Item", 1)!!.getLink("next"))
        assertNull(realm.get("Person", "ann")!!.getLong("age"))
    }

    @Test
    fun `frozen snapshots keep their state and refuse writes`() {
        realm.item(1, "before")
        realm.freeze().use { frozen ->
            assertTrue(frozen.isFrozen)
            realm.write { set("Item", 1, "name", "after") }
            assertEquals("before", frozen.nameOf(1))
            assertEquals("after", realm.nameOf(1))
            assertEquals(StatusCode.WRITE_ON_FROZEN, assertThrows<TransactionException> { frozen.write { } }.code)
            assertEquals(StatusCode.INVALID_ARGUMENT, assertThrows<InvalidArgumentException> { frozen.freeze() }.code)
            assertEquals(1, frozen.objects("Item").size)
        }
    }

    @Test
    fun `cursors and objects iterate in key order`() {
        realm.write { for (i in 100 downTo 1) create("Item", i, "name" to "n$i") }
        realm.cursor("Item", batchSize = 7).use { c ->
            val keys = c.asSequence().map { it.primaryKey as Long }.toList()
            assertEquals((1L..100L).toList(), keys)
            assertFalse(c.hasNext())
            assertThrows<NoSuchElementException> { c.next() }
        }
        assertEquals(100, realm.objects("Item").size)
        assertThrows<UnknownNameException> { realm.cursor("Nope") }
        val c = realm.cursor("Item")
        c.close()
        assertThrows<RealmClosedException> { c.hasNext() }
    }

    @Test
    fun `observers see exact changes until their token is closed`() {
        realm.write { create("Item", 1, "name" to "a"); create("Item", 2) }
        val all = CopyOnWriteArrayList<RealmChanges>()
        val items = CopyOnWriteArrayList<RealmChanges>()
        val one = CopyOnWriteArrayList<RealmChanges>()
        val threads = CopyOnWriteArrayList<Thread>()
        val t1 = realm.observe { all += it; threads += Thread.currentThread() }
        val t2 = realm.observeClass("Item") { items += it }
        val t3 = realm.observeObject("Item", 1) { one += it }
        realm.write {
            set("Item", 1, "name", "b")
            create("Item", 3)
            erase("Item", 2)
            create("Person", "p")
        }
        assertEquals(1, all.size)
        assertEquals(listOf(Thread.currentThread()), threads, "observers run on the committing thread")
        val c = all[0].forClass("Item")!!
        assertEquals(listOf<Any>(3L), c.inserted)
        assertEquals(listOf<Any>(2L), c.erased)
        assertEquals(listOf(ModifiedObject(1L, listOf("name"))), c.modified)
        assertEquals(listOf<Any>("p"), all[0].forClass("Person")!!.inserted)
        assertNull(items[0].forClass("Person"))
        assertEquals(1, one.size)
        assertEquals(listOf(ModifiedObject(1L, listOf("name"))), one[0].forClass("Item")!!.modified)
        realm.write { set("Item", 3, "count", 1) }
        assertEquals(2, all.size)
        assertEquals(1, one.size, "object observer only sees its object")
        t1.close(); t2.close(); t3.close()
        assertTrue(t1.isClosed)
        t1.close()
        realm.write { create("Item", 4) }
        assertEquals(2, all.size)
        assertEquals(2, items.size)
        assertFalse(all[0].isEmpty)
        assertThrows<UnknownNameException> { realm.observeClass("Nope") { } }
    }

    @Test
    fun `an observer may write, and its exception goes to the handler`() {
        val seen = CopyOnWriteArrayList<Throwable>()
        val old = Driftsync.callbackExceptionHandler
        Driftsync.callbackExceptionHandler = { seen += it }
        try {
            realm.observeObject("Item", 1) { c ->
                if (c.forClass("Item")!!.inserted.isNotEmpty()) realm.write { create("Item", 2, "name" to "from observer") }
            }
            realm.observe { throw IllegalStateException("observer fails") }
            realm.item(1, "one")
            assertEquals("from observer", realm.nameOf(2))
            assertTrue(seen.any { it.message == "observer fails" })
        } finally {
            Driftsync.callbackExceptionHandler = old
        }
    }

    @Test
    fun `closing makes every call throw, twice is fine, and closes tokens`() {
        val token = realm.observe { }
        val frozen = realm.freeze()
        realm.close()
        assertTrue(realm.isClosed)
        assertTrue(token.isClosed)
        realm.close()
        assertEquals(StatusCode.CLOSED, assertThrows<RealmClosedException> { realm.count("Item") }.code)
        assertThrows<RealmClosedException> { realm.write { } }
        assertThrows<RealmClosedException> { realm.observe { } }
        assertThrows<RealmClosedException> { realm.freeze() }
        assertNull(realm.syncSession)
        // A snapshot is its own handle.
        assertEquals(0, frozen.count("Item"))
        frozen.close()
    }

    @Test
    fun `closing from inside an observer is deferred until the commit returns`() {
        val other = Realm.open(realm.configuration)
        other.observe { other.close() }
        other.write { create("Item", 1) }
        assertTrue(other.isClosed)
        assertEquals(1, realm.count("Item"))
    }

    @Test
    fun `two handles of one file share data and observers`() {
        Realm.open(realm.configuration).use { second ->
            val seen = CountDownLatch(1)
            second.observe { seen.countDown() }
            realm.item(1, "x")
            assertTrue(seen.await(5, TimeUnit.SECONDS))
            assertEquals("x", second.nameOf(1))
        }
        assertEquals("x", realm.nameOf(1))
    }
}
