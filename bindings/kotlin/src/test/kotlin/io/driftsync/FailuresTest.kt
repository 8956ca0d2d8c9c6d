package io.driftsync

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import java.util.logging.Handler
import java.util.logging.Level
import java.util.logging.LogRecord
import java.util.logging.Logger
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** Failures that reach the app at once (issue 11), against the reference server. */
class FailuresTest {
    private lateinit var ts: TestServer

    @BeforeEach
    fun start() {
        ts = TestServer()
    }

    @AfterEach
    fun stop() {
        ts.close()
    }

    private fun config(file: String, token: String = "alice-token", configure: SyncConfiguration.Builder.() -> Unit = {}): RealmConfiguration {
        val sync = SyncConfiguration.Builder(ts.url, token, "main").apply(configure).build()
        return RealmConfiguration.Builder(ts.path(file), testSchema).sync(sync).build()
    }

    /** Runs [f] on a thread; the result is its exception (or null) and when it returned. */
    private fun inThread(f: () -> Unit): Pair<Thread, CopyOnWriteArrayList<Pair<Throwable?, Long>>> {
        val out = CopyOnWriteArrayList<Pair<Throwable?, Long>>()
        val t = Thread {
            val e = try { f(); null } catch (e: Throwable) { e }
            out += e to System.nanoTime()
        }
        t.isDaemon = true
        t.start()
        return t to out
    }

    private fun demandReset() {
        ts.admin("terminate")
        ts.admin("enable")
    }

    @Test
    fun `a wait without timeout on a wrong token throws the authentication error within 1 s`() {
        Realm.open(config("a.realm", token = "wrong-token")).use { r ->
            r.item(1, "pending")
            val (t, out) = inThread { r.session().waitForUpload(Duration.INFINITE) }
            t.join(1_000)
            assertTrue(out.isNotEmpty(), "waitForUpload did not return within 1 s")
            val e = out[0].first
            assertTrue(e is AuthenticationException, "$e")
            assertEquals(StatusCode.AUTHENTICATION, (e as DriftsyncException).code)
            assertThrows<AuthenticationException> { r.session().waitForDownload(Duration.INFINITE) }
        }
    }

    @Test
    fun `a waitForDownload pending when a reset goes to the manual handler throws the reset error`() {
        val handled = CopyOnWriteArrayList<Long>()
        val cfg = config("m.realm") { clientResetMode(ClientResetMode.Manual { handled += System.nanoTime() }) }
        Realm.open(cfg).use { r ->
            r.item(1, "synced")
            r.syncAll()
            r.goOffline()
            r.item(2, "offline")
            val (t, out) = inThread { r.session().waitForDownload(Duration.INFINITE) }
            Thread.sleep(100)
            demandReset()
            r.session().resume()
            t.join(30_000)
            assertTrue(out.isNotEmpty(), "the pending wait never returned")
            val (e, returned) = out[0]
            assertTrue(e is ClientResetRequiredException, "$e")
            assertEquals("sync_reenabled", (e as DriftsyncException).errorCause)
            eventually("manual handler") { handled.isNotEmpty() }
            assertTrue(Math.abs(returned - handled[0]) < 1_000_000_000L, "the wait returned far from the handler call")
        }
    }

    @Test
    fun `a failed automatic reset ends the waits`() {
        Realm.open(config("f.realm") { clientResetMode(ClientResetMode.DiscardUnsyncedChanges()) }).use { r ->
            r.syncAll()
            r.goOffline()
            r.item(1, "offline")
            File(ts.path("f.realm.fresh"), "in-the-way").mkdirs() // a directory in the way of the fresh copy
            demandReset()
            r.session().resume()
            val e = assertThrows<ClientResetRequiredException> { r.session().waitForUpload(30.seconds) }
            assertTrue(e.message!!.contains("automatic client reset failed"), e.message)
            assertEquals("offline", r.nameOf(1))
        }
    }

    @Test
    fun `a retryable error keeps the wait waiting`() {
        val url = ts.url
        ts.close() // the server is down
        val dir = tempDir("down")
        val errors = CopyOnWriteArrayList<SyncError>()
        val sync = SyncConfiguration.Builder(url, "alice-token", "main").onError { errors += it }.build()
        Realm.open(RealmConfiguration.Builder(dir.resolve("d.realm").toString(), testSchema).sync(sync).build()).use { r ->
            r.item(1, "pending")
            assertThrows<TimeoutException> { r.session().waitForUpload(1500.milliseconds) }
            assertTrue(errors.isNotEmpty() && errors.all { it.isRetryable }, "$errors")
            assertFalse(r.session().isPaused)
        }
    }

    @Test
    fun `an unusable URL fails open`() {
        for (url in listOf("http://127.0.0.1:1", "ws://", "ws://host:notaport")) {
            val sync = SyncConfiguration.Builder(url, "t", "main").build()
            assertThrows<InvalidArgumentException>(url) { Realm.open(RealmConfiguration.Builder(ts.path("u.realm"), testSchema).sync(sync).build()) }
        }
    }

    @Test
    fun `handlers on the configuration see the first connection`() {
        val errors = CopyOnWriteArrayList<SyncError>()
        val states = CopyOnWriteArrayList<Pair<ConnectionState, ConnectionState>>()
        val cfg = config("h.realm", token = "wrong-token") {
            onError { errors += it }
            onConnectionStateChange { old, new -> states += old to new }
        }
        Realm.open(cfg).use {
            eventually("the error handler ran") { errors.isNotEmpty() }
            assertEquals(ServerErrorCode.BAD_TOKEN, errors[0].serverCode)
            assertFalse(errors[0].isRetryable)
            assertEquals(ConnectionState.DISCONNECTED to ConnectionState.CONNECTING, states[0])
        }
    }

    @Test
    fun `progress counts local changes while offline`() {
        Realm.open(config("p.realm") { startPaused(true) }).use { r ->
            val base = r.session().progress
            r.item(1, "a")
            r.item(2, "b")
            val p = r.session().progress
            assertEquals(base.uploadable + 2, p.uploadable)
            assertFalse(p.isUploadComplete)
            r.session().resume()
            r.session().waitForUpload(30.seconds)
            assertTrue(r.session().progress.isUploadComplete)
        }
    }

    @Test
    fun `the library's log reaches java util logging by category`() {
        val records = CopyOnWriteArrayList<LogRecord>()
        val handler = object : Handler() {
            override fun publish(record: LogRecord) { records += record }
            override fun flush() {}
            override fun close() {}
        }
        val root = Logger.getLogger("driftsync")
        val oldLevel = root.level
        root.level = Level.ALL
        root.addHandler(handler)
        try {
            Realm.open(config("log.realm") { clientResetMode(ClientResetMode.DiscardUnsyncedChanges()) }).use { r ->
                r.syncAll()
                r.goOffline()
                r.item(1, "offline")
                demandReset()
                r.session().resume()
                eventually("reset") { r.lastResetReport() != null }
                r.syncAll()
            }
            val byLogger = records.groupBy({ it.loggerName }, { it.message })
            assertTrue(byLogger["driftsync.storage"].orEmpty().any { "log.realm" in it }, "${byLogger.keys}")
            assertTrue(byLogger["driftsync.sync"].orEmpty().any { it.startsWith("bound ") })
            val reset = byLogger["driftsync.reset"].orEmpty()
            for (step in listOf("decide: Discard", "download: ", "diff: ", "replay: ", "commit: ")) {
                assertTrue(reset.any { it.startsWith(step) }, "$step in $reset")
            }
        } finally {
            root.removeHandler(handler)
            root.level = oldLevel
        }
    }
}
