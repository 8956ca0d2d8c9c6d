package io.driftsync

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicReference

/** Hooks, the manual handler, observers, progress and the report around a client reset. */
class ResetBehaviourTest {
    private lateinit var ts: TestServer
    private val oldHandler = Driftsync.callbackExceptionHandler
    private val callbackErrors = CopyOnWriteArrayList<Throwable>()

    @BeforeEach
    fun start() {
        ts = TestServer()
        Driftsync.callbackExceptionHandler = { callbackErrors += it }
    }

    @AfterEach
    fun stop() {
        Driftsync.callbackExceptionHandler = oldHandler
        ts.close()
    }

    /** Terminates and re-enables sync (a recoverable cause), resumes, and waits for a new report. */
    private fun resetAndWait(r: Realm): ResetReport {
        val before = r.lastResetReport()?.timings?.completedAtMs ?: 0
        ts.admin("terminate")
        ts.admin("enable")
        r.session().resume()
        eventually("a new reset report") { (r.lastResetReport()?.timings?.completedAtMs ?: 0) > before }
        val rep = r.lastResetReport()!!
        if (rep.decision != ResetDecision.MANUAL) {
            eventually("connected") { r.session().state == ConnectionState.CONNECTED }
            r.syncAll()
        }
        return rep
    }

    @Test
    fun `hooks get the before snapshot and the live realm on the sync thread and may write`() {
        val beforeSeen = AtomicReference<List<Any?>>()
        val afterSeen = AtomicReference<List<Any?>>()
        val testThread = Thread.currentThread()
        val mode = ClientResetMode.RecoverUnsyncedChanges(
            onBeforeReset = { before ->
                beforeSeen.set(listOf(before.isFrozen, before.nameOf(2), Thread.currentThread() != testThread))
            },
            onAfterReset = { before, after, didRecover ->
                val frozenRefused = try { before.write { }; false } catch (e: TransactionException) { true }
                afterSeen.set(listOf(before.nameOf(2), after.nameOf(2), didRecover, frozenRefused))
                after.write { create("Item", 99, "name" to "written by the after hook") }
            },
        )
        Realm.open(syncConfig(ts, "c.realm", mode = mode)).use { r ->
            r.syncAll()
            r.goOffline()
            r.item(2, "offline")
            val rep = resetAndWait(r)
            assertEquals(ResetDecision.RECOVER, rep.decision)
            assertEquals(ResetCause.SYNC_REENABLED, rep.cause)
            eventually("the after hook ran") { afterSeen.get() != null }
            assertEquals(listOf<Any?>(true, "offline", true), beforeSeen.get())
            assertEquals(listOf<Any?>("offline", "offline", true, true), afterSeen.get())
            eventually("the after hook's write") { r.nameOf(99) != null }
            assertEquals("written by the after hook", r.nameOf(99))
            assertNull(rep.beforeHookError)
            assertNull(rep.afterHookError)
            assertTrue(callbackErrors.isEmpty(), "$callbackErrors")
        }
    }

    @Test
    fun `reset timings have a summary phase and the phases add up to the total`() {
        Realm.open(syncConfig(ts, "c.realm", mode = ClientResetMode.RecoverUnsyncedChanges())).use { r ->
            r.syncAll()
            r.goOffline()
            r.item(2, "offline")
            resetAndWait(r)
            // The final timings are stored just after the reset's commit: wait for them.
            eventually("the reset's final timings") { (r.lastResetReport()?.timings?.commitUs ?: 0) > 0 }
            val t = r.lastResetReport()!!.timings
            assertEquals(t.totalUs, t.downloadUs + t.diffUs + t.replayUs + t.summaryUs + t.commitUs, "$t")
            assertTrue(t.summaryUs > 0, "$t")
            // The older millisecond phases lack the summary: with it they make the total within rounding.
            val missing = t.totalUs / 1000 - (t.downloadMs + t.diffMs + t.replayMs + t.commitMs)
            assertTrue(missing >= 0 && missing <= t.summaryUs / 1000 + 1, "$t")
        }
    }

    @Test
    fun `the report says what the fresh copy transferred`() {
        Realm.open(syncConfig(ts, "c.realm", mode = ClientResetMode.DiscardUnsyncedChanges())).use { r ->
            r.syncAll()
            r.goOffline()
            r.item(2, "offline")
            val rep = resetAndWait(r)
            // The server lacks the offline object: the reconciled copy's messages travelled and at
            // least the range holding it differed.
            assertTrue(rep.transferredBytes > 0, "$rep")
            assertTrue(rep.rangesDiffered >= 1, "$rep")
        }
    }

    @Test
    fun `a Kotlin exception in the before hook aborts the automatic reset and is reported`() {
        val manual = AtomicReference<ManualClientReset>()
        val boom = IllegalStateException("the app refuses")
        val mode = ClientResetMode.RecoverOrDiscardUnsyncedChanges(
            onBeforeReset = { throw boom },
            onManualResetFallback = { manual.set(it) },
        )
        Realm.open(syncConfig(ts, "c.realm", mode = mode)).use { r ->
            r.syncAll()
            r.goOffline()
            r.item(2, "offline")
            val rep = resetAndWait(r)
            assertEquals(ResetDecision.MANUAL, rep.decision)
            // the library's report carries the exception's `type: message` text (v2 hooks)
            assertEquals("java.lang.IllegalStateException: the app refuses", rep.beforeHookError)
            assertSame(boom, rep.beforeHookException)
            assertTrue(callbackErrors.contains(boom))
            eventually("manual handler") { manual.get() != null }
            assertSame(boom, manual.get().report.beforeHookException)
            assertEquals("offline", r.nameOf(2), "nothing was reset automatically")
        }
    }

    @Test
    fun `an exception in the after hook is reported, the reset stands`() {
        val mode = ClientResetMode.DiscardUnsyncedChanges(onAfterReset = { _, _, _ -> error("after fails") })
        Realm.open(syncConfig(ts, "c.realm", mode = mode)).use { r ->
            r.syncAll()
            r.goOffline()
            r.item(2, "offline")
            resetAndWait(r)
            // The after hook runs after the reset's commit; its error is added to the report then.
            eventually("the after hook's error in the report") { r.lastResetReport()?.afterHookError != null }
            val rep = r.lastResetReport()!!
            assertEquals(ResetDecision.DISCARD, rep.decision)
            assertEquals("java.lang.IllegalStateException: after fails", rep.afterHookError)
            assertEquals("after fails", rep.afterHookException!!.message)
            assertNull(r.nameOf(2))
        }
    }

    @Test
    fun `handles, snapshots and observers survive and see exact changes`() {
        Realm.open(syncConfig(ts, "a.realm", mode = ClientResetMode.DiscardUnsyncedChanges())).use { a ->
            Realm.open(syncConfig(ts, "o.realm", user = "bob")).use { other ->
                for (i in 1L..3L) a.item(i, "n$i")
                a.syncAll()
                other.syncAll()
                a.goOffline()
                a.write { set("Item", 1, "name", "local"); create("Item", 10) }
                ts.admin("terminate")
                ts.admin("enable")
                other.write { set("Item", 2, "count", 7); erase("Item", 3) }
                eventually("other resets and syncs") { other.lastResetReport() != null }
                other.syncAll()
                val snapshot = a.freeze()
                val seen = CopyOnWriteArrayList<RealmChanges>()
                val token = a.observeClass("Item") { seen += it }
                a.session().resume()
                eventually("a's reset") { a.lastResetReport() != null }
                // Observers run on the sync thread right after the reset's commit.
                eventually("the observer saw the reset") { seen.any { it.forClass("Item")?.erased?.isNotEmpty() == true } }
                val erased = seen.flatMap { it.forClass("Item")?.erased ?: emptyList() }.toSet()
                val inserted = seen.flatMap { it.forClass("Item")?.inserted ?: emptyList() }
                val modified = seen.flatMap { it.forClass("Item")?.modified ?: emptyList() }.associate { it.primaryKey to it.properties }
                assertEquals(setOf<Any>(3L, 10L), erased)
                assertTrue(inserted.isEmpty(), "$inserted")
                assertEquals(mapOf<Any, List<String>>(1L to listOf("name"), 2L to listOf("count")), modified)
                assertEquals("local", snapshot.nameOf(1), "the snapshot shows the world before")
                assertEquals("n1", a.nameOf(1))
                a.item(20, "after")
                val rep = a.lastResetReport()!!
                assertTrue(rep.objectsErased >= 2 && rep.objectsModified >= 2, "$rep")
                token.close()
                snapshot.close()
            }
        }
    }

    @Test
    fun `the manual handler gets the backup, and executeClientReset needs the realm closed`() {
        val manual = AtomicReference<ManualClientReset>()
        val handlerThread = AtomicReference<String>()
        val mode = ClientResetMode.Manual { reset ->
            handlerThread.set(Thread.currentThread().name)
            manual.set(reset)
        }
        val cfg = syncConfig(ts, "m.realm", mode = mode)
        val r = Realm.open(cfg)
        r.item(1, "synced")
        r.syncAll()
        r.goOffline()
        r.item(2, "offline")
        ts.admin("terminate")
        ts.admin("enable")
        r.session().resume()
        eventually("manual handler") { manual.get() != null }
        val m = manual.get()
        assertTrue(handlerThread.get() != Thread.currentThread().name)
        assertEquals(ResetCause.SYNC_REENABLED, m.cause)
        assertTrue(File(m.backupPath).exists())
        assertTrue(m.toString().contains("SYNC_REENABLED"))
        // The session stays paused; the realm still has the local data.
        assertTrue(r.session().isPaused)
        assertEquals("offline", r.nameOf(2))
        // Performing the reset with the realm open is refused with a clear error.
        val busy = assertThrows<TransactionException> { m.executeClientReset() }
        assertEquals(StatusCode.BUSY, busy.code)
        assertTrue(busy.message!!.isNotEmpty())
        r.close()
        m.executeClientReset()
        m.executeClientReset() // more than once is fine
        // Reopened, the realm starts from the server's state; the backup keeps the local data.
        Realm.open(cfg).use { fresh ->
            fresh.syncAll()
            assertEquals("synced", fresh.nameOf(1))
            assertNull(fresh.nameOf(2))
        }
        Realm.open(localConfig(m.backupPath)).use { b -> assertEquals("offline", b.nameOf(2)) }
        m.close()
        assertThrows<RealmClosedException> { m.executeClientReset() }
    }

    @Test
    fun `the reset demand reaches the error callback`() {
        Realm.open(syncConfig(ts, "e.realm", mode = ClientResetMode.DiscardUnsyncedChanges())).use { r ->
            val errors = CopyOnWriteArrayList<SyncError>()
            val t = r.session().onError { errors += it }
            r.syncAll()
            r.goOffline()
            resetAndWait(r)
            val e = errors.first { it.isClientReset }
            assertEquals(ResetCause.SYNC_REENABLED, e.resetCause)
            assertEquals(ServerErrorCode.CLIENT_RESET_REQUIRED, e.serverCode)
            assertEquals(ErrorAction.CLIENT_RESET, e.action)
            t.close()
        }
    }

    @Test
    fun `fresh copy download reports progress and keepBackup keeps a copy`() {
        Realm.open(syncConfig(ts, "s.realm", user = "bob")).use { seed ->
            seed.write { for (i in 0 until 12_000) create("Item", i) }
            seed.syncAll()
        }
        val progress = CopyOnWriteArrayList<Pair<Long, Long>>()
        val cfg = syncConfig(ts, "a.realm", mode = ClientResetMode.DiscardUnsyncedChanges()) {
            keepBackup(true)
            onDownloadProgress { got, total -> progress += got to total }
        }
        Realm.open(cfg).use { a ->
            a.syncAll()
            assertEquals(12_000, a.count("Item"))
            assertTrue(progress.size >= 2, "several chunks: $progress")
            assertEquals(12_000L to 12_000L, progress.last())
            assertTrue(progress.zipWithNext().all { (x, y) -> x.first < y.first })
            a.goOffline()
            a.item(1_000_000, "offline")
            val rep = resetAndWait(a)
            assertEquals(ResetDecision.DISCARD, rep.decision)
            val backup = rep.backupPath
            assertNotNull(backup, "$rep")
            Realm.open(localConfig(backup!!)).use { b -> assertEquals("offline", b.nameOf(1_000_000)) }
        }
    }

    @Test
    fun `a realm reset twice in a row succeeds`() {
        Realm.open(syncConfig(ts, "a.realm", mode = ClientResetMode.RecoverUnsyncedChanges())).use { a ->
            a.syncAll()
            for (round in 0L until 2L) {
                a.goOffline()
                a.item(round, "offline")
                assertEquals(ResetDecision.RECOVER, resetAndWait(a).decision, "round $round")
            }
            assertEquals(2, a.count("Item"))
            assertFalse(a.isClosed)
        }
    }
}
