package io.driftsync

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.UnconfinedTestDispatcher
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.time.Duration.Companion.seconds

/** The coroutine API: suspending waits and Flows of changes, connection state, progress and errors. */
class CoroutinesTest {
    private lateinit var ts: TestServer

    @BeforeEach
    fun start() {
        ts = TestServer()
    }

    @AfterEach
    fun stop() {
        ts.close()
    }

    /** Real time (the test dispatcher would skip virtual time while the sync thread works). */
    private suspend fun <T> within(block: suspend () -> T): T = withContext(Dispatchers.Default) { withTimeout(30.seconds) { block() } }

    @Test
    fun `changesFlow emits every commit's changes and stops observing when cancelled`() = runTest {
        Realm.open(localConfig(ts.path("local.realm"))).use { realm ->
            val seen = CopyOnWriteArrayList<RealmChanges>()
            val collecting = launch(UnconfinedTestDispatcher(testScheduler)) { realm.changesFlow("Item").take(2).toList(seen) }
            realm.write { create("Item", 1, "name" to "a") }
            realm.write { create("Item", 2, "name" to "b") }
            collecting.join()
            assertEquals(listOf(listOf<Any>(1L), listOf<Any>(2L)), seen.map { it.forClass("Item")!!.inserted })

            val all = CopyOnWriteArrayList<RealmChanges>()
            val open = launch(UnconfinedTestDispatcher(testScheduler)) { realm.objectChangesFlow("Item", 1L).toList(all) }
            realm.write { upsert("Item", 1, "name" to "a2") }
            open.cancel()
            open.join()
            realm.write { upsert("Item", 1, "name" to "a3") } // after cancellation: not delivered
            assertEquals(1, all.size, "$all")
            assertEquals(listOf("name"), all[0].forClass("Item")!!.modified.single().properties)
        }
    }

    @Test
    fun `awaitUpload and awaitDownload suspend until the change crossed the server`() = runTest {
        Realm.open(syncConfig(ts, "a.realm")).use { a ->
            Realm.open(syncConfig(ts, "b.realm", user = "bob")).use { b ->
                a.write { create("Item", 7, "name" to "via coroutines") }
                a.session().awaitUpload(30.seconds)
                assertTrue(a.session().progress.isUploadComplete)
                b.session().awaitDownload(30.seconds)
                assertEquals("via coroutines", b.nameOf(7))
            }
        }
    }

    @Test
    fun `connectionStateFlow starts with the current state and follows resume`() = runTest {
        Realm.open(syncConfig(ts, "s.realm") { startPaused(true) }).use { r ->
            val states = CopyOnWriteArrayList<ConnectionState>()
            within {
                r.session().connectionStateFlow().first { state ->
                    states.add(state)
                    if (state == ConnectionState.DISCONNECTED && states.size == 1) r.session().resume()
                    state == ConnectionState.CONNECTED
                }
            }
            assertEquals(ConnectionState.DISCONNECTED, states.first())
            assertEquals(ConnectionState.CONNECTED, states.last())
        }
    }

    @Test
    fun `progressFlow reports the upload once it is acknowledged`() = runTest {
        Realm.open(syncConfig(ts, "p.realm")).use { r ->
            r.write { create("Item", 1, "name" to "x") }
            val done = within { r.session().progressFlow().first { it.uploaded > 0 && it.isUploadComplete } }
            assertTrue(done.uploadable > 0, "$done")
        }
    }

    @Test
    fun `errorsFlow delivers the server's refusal, also to a late collector`() = runTest {
        Realm.open(syncConfig(ts, "e.realm", user = "nobody")).use { r ->
            eventually("refused") { r.session().lastError != null }
            val error = within { r.session().errorsFlow().first() }
            assertEquals(ServerErrorCode.BAD_TOKEN, error.serverCode)
        }
    }
}
