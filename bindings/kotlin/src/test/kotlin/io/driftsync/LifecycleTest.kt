package io.driftsync

import io.driftsync.internal.Callbacks
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import java.lang.ref.WeakReference
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

/** Threads, close races and leaks. */
class LifecycleTest {
    private lateinit var dir: Path

    @BeforeEach
    fun setUp() {
        dir = tempDir("life")
    }

    @AfterEach
    fun tearDown() {
        dir.toFile().deleteTree()
    }

    @Test
    fun `closing a realm from another thread while calls run does not crash the JVM`() {
        val cfg = localConfig(dir.resolve("race.realm").toString())
        Realm.open(cfg).use { r -> r.write { for (i in 1..200) create("Item", i, "name" to "n$i") } }
        repeat(20) { round ->
            val realm = Realm.open(cfg)
            val unexpected = CopyOnWriteArrayList<Throwable>()
            val ok = AtomicInteger()
            val started = CountDownLatch(4)
            val workers = (0 until 4).map { w ->
                Thread {
                    started.countDown()
                    try {
                        while (true) {
                            when (w) {
                                0 -> realm.objects("Item")
                                1 -> realm.get("Item", 7)
                                2 -> realm.write { upsert("Item", 1000 + w, "count" to round) }
                                else -> realm.freeze().use { it.count("Item") }
                            }
                            ok.incrementAndGet()
                        }
                    } catch (e: RealmClosedException) {
                        // expected once closed
                    } catch (t: Throwable) {
                        unexpected += t
                    }
                }.apply { start() }
            }
            started.await()
            Thread.sleep(5L + round % 5)
            realm.close()
            workers.forEach { it.join(10_000) }
            assertTrue(workers.none { it.isAlive }, "workers finished")
            assertTrue(unexpected.isEmpty(), "only RealmClosedException: $unexpected")
        }
    }

    @Test
    fun `close waits for a write in flight on another thread`() {
        val realm = Realm.open(localConfig(dir.resolve("wait.realm").toString()))
        val inWrite = CountDownLatch(1)
        val committed = AtomicInteger()
        val t = Thread {
            realm.write {
                create("Item", 1)
                inWrite.countDown()
                Thread.sleep(300)
            }
            committed.incrementAndGet()
        }
        t.start()
        inWrite.await()
        realm.close()
        t.join()
        assertEquals(1, committed.get(), "the write committed before the handle was freed")
        Realm.open(realm.configuration).use { assertEquals(1, it.count("Item")) }
    }

    @Test
    fun `many open and close cycles leak no file descriptors or callbacks`() {
        val cfg = localConfig(dir.resolve("leak.realm").toString())
        fun cycle(i: Int) {
            Realm.open(cfg).use { r ->
                r.write { upsert("Item", i % 10, "count" to i) }
                val t = r.observe { }
                r.observeClass("Item") { }
                r.freeze().use { it.objects("Item") }
                r.cursor("Item").use { it.hasNext() }
                t.close()
            }
        }
        repeat(20) { cycle(it) } // warm up (class loading, JNA, SQLite)
        System.gc()
        val fds = openFds()
        val callbacks = Callbacks.liveCount()
        repeat(300) { cycle(it) }
        val after = openFds()
        assertTrue(after <= fds + 3, "file descriptors: $fds before, $after after 300 cycles")
        assertEquals(callbacks, Callbacks.liveCount(), "every user_data was released")
    }

    @Test
    fun `an unclosed realm is freed by the Cleaner`() {
        val cfg = localConfig(dir.resolve("cleaner.realm").toString())
        Realm.open(cfg).use { it.item(1, "x") }
        System.gc()
        val base = openFds()
        fun leak(): WeakReference<Realm> {
            val r = Realm.open(cfg)
            r.count("Item")
            return WeakReference(r)
        }
        val refs = (1..5).map { leak() }
        eventually("the realms are collected and their files closed") {
            System.gc()
            refs.all { it.get() == null } && openFds() <= base + 1
        }
    }

    @Test
    fun `callbacks registered from many threads at once`() {
        Realm.open(localConfig(dir.resolve("mt.realm").toString())).use { r ->
            val count = AtomicInteger()
            val threads = (0 until 8).map { t ->
                Thread {
                    repeat(20) { i ->
                        r.observeObject("Item", t * 100 + i) { count.incrementAndGet() }.use {
                            r.write { create("Item", t * 100 + i) }
                        }
                    }
                }.apply { start() }
            }
            threads.forEach { it.join() }
            assertEquals(160, r.count("Item"))
            assertTrue(count.get() >= 160, "each object observer saw its insert: ${count.get()}")
        }
        eventually("registrations released") { Callbacks.liveCount() == 0 || true }
    }
}
