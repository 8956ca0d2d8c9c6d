package io.driftsync

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** The sync session against the reference server (a child process). */
class SyncTest {
    private lateinit var ts: TestServer

    @BeforeEach
    fun start() {
        ts = TestServer()
    }

    @AfterEach
    fun stop() {
        ts.close()
    }

    @Test
    fun `two clients sync through the server`() {
        Realm.open(syncConfig(ts, "a.realm")).use { a ->
            Realm.open(syncConfig(ts, "b.realm", user = "bob")).use { b ->
                val s = a.session()
                eventually("connected") { s.state == ConnectionState.CONNECTED }
                a.write { create("Item", 1, "name" to "from a"); listAdd("Item", 1, "tags", "t") }
                a.syncAll()
                val p = s.progress
                assertTrue(p.isUploadComplete, "$p")
                assertTrue(p.uploaded > 0)
                b.syncAll()
                assertEquals("from a", b.nameOf(1))
                assertEquals(listOf("t"), b.getList("Item", 1, "tags"))
                assertNull(s.lastError)
                assertNull(a.lastResetReport())
            }
        }
    }

    @Test
    fun `pause, resume, start paused, state callbacks on the sync thread`() {
        val states = CopyOnWriteArrayList<Pair<ConnectionState, ConnectionState>>()
        val threads = CopyOnWriteArrayList<String>()
        val cfg = syncConfig(ts, "p.realm") { startPaused(true) }
        Realm.open(cfg).use { r ->
            val s = r.session()
            assertTrue(s.isPaused)
            assertEquals(ConnectionState.DISCONNECTED, s.state)
            val executor = Executors.newSingleThreadExecutor()
            val moved = CopyOnWriteArrayList<String>()
            val token = s.onStateChange { old, new ->
                states += old to new
                threads += Thread.currentThread().name
                // Move work off the sync thread:
                executor.execute { moved += Thread.currentThread().name }
            }
            s.resume()
            assertFalse(s.isPaused)
            eventually("connected") { s.state == ConnectionState.CONNECTED }
            eventually("callback saw CONNECTED") { states.any { it.second == ConnectionState.CONNECTED } }
            assertTrue(threads.none { it == Thread.currentThread().name }, "state callbacks run on the sync thread: $threads")
            r.goOffline()
            assertTrue(s.isPaused)
            r.item(1, "offline write")
            assertThrows<TimeoutException> { s.waitForUpload(300.milliseconds) }
            s.resume()
            s.waitForUpload(30.seconds)
            token.close()
            executor.shutdown()
            assertTrue(executor.awaitTermination(5, TimeUnit.SECONDS))
            assertTrue(moved.isNotEmpty())
        }
    }

    @Test
    fun `sync errors reach the error callback and lastError`() {
        val cfg = RealmConfiguration.Builder(ts.path("bad.realm"), testSchema)
            .sync(SyncConfiguration.Builder(ts.url, "wrong-token", "main").build()).build()
        Realm.open(cfg).use { r ->
            val errors = CopyOnWriteArrayList<SyncError>()
            val t = r.session().onError { errors += it }
            eventually("an error") { errors.isNotEmpty() || r.session().lastError != null }
            val e = errors.firstOrNull() ?: r.session().lastError!!
            assertEquals(ServerErrorCode.BAD_TOKEN, e.serverCode, "$e")
            assertFalse(e.isClientReset)
            assertTrue(e.message.isNotEmpty())
            assertEquals(ServerErrorCode.BAD_TOKEN, r.session().lastError!!.serverCode)
            t.close()
        }
    }

    @Test
    fun `a local realm has no session and preview needs sync`() {
        val dir = tempDir("nosync")
        Realm.open(localConfig(dir.resolve("l.realm").toString())).use { r ->
            assertNull(r.syncSession)
            assertThrows<InvalidArgumentException> { r.previewReset(ResetDecision.DISCARD) }
            assertNull(r.lastResetReport())
        }
        dir.toFile().deleteTree()
    }

    @Test
    fun `closing a synced realm while a wait is in flight`() {
        val r = Realm.open(syncConfig(ts, "w.realm"))
        r.goOffline()
        r.item(1, "x")
        val result = CopyOnWriteArrayList<Any>()
        val t = Thread {
            try {
                r.session().waitForUpload(2.seconds)
                result += "ok"
            } catch (e: DriftsyncException) {
                result += e.code
            }
        }
        t.start()
        Thread.sleep(200)
        r.close() // waits for the wait to return
        t.join(10_000)
        assertEquals(listOf<Any>(StatusCode.TIMEOUT), result.toList())
        assertThrows<RealmClosedException> { r.session().state }
    }

    @Test
    fun `preview reports without applying`() {
        Realm.open(syncConfig(ts, "a.realm")).use { a ->
            Realm.open(syncConfig(ts, "o.realm", user = "bob")).use { other ->
                a.item(1, "one")
                a.syncAll()
                a.goOffline()
                a.item(2, "unsynced")
                other.item(3, "server side")
                other.syncAll()
                val discard = a.previewReset(ResetDecision.DISCARD)
                assertEquals(ResetDecision.DISCARD, discard.decision)
                assertEquals(ResetCause.NONE, discard.cause)
                assertEquals(1L to 1L, discard.objectsInserted to discard.objectsErased, "$discard")
                assertTrue(discard.discarded.any { it.instruction.contains("Item[2]") }, "$discard")
                val recover = a.previewReset(ResetDecision.RECOVER)
                assertEquals(1L to 0L, recover.objectsInserted to recover.objectsErased, "$recover")
                assertTrue(recover.recoveredChangesets >= 1)
                assertTrue(recover.timings.downloadMs >= 0)
                assertNull(a.nameOf(3), "nothing applied")
                assertEquals("unsynced", a.nameOf(2))
                assertNull(a.lastResetReport())
                assertThrows<InvalidArgumentException> { a.previewReset(ResetDecision.MANUAL) }
            }
        }
    }
}
