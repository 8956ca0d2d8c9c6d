package io.driftsync

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** wss:// against the reference server with a CA made at test time (examples/test_pki). */
class SecurityTest {
    @Test
    fun `security wss sync with a test CA`() {
        val pki = TestPki()
        TestServer(tlsDir = pki.dir).use { ts ->
            assertTrue(ts.url.startsWith("wss://"), ts.url)
            Realm.open(syncConfig(ts, "a.realm") { trustedCaPem(pki.caPem) }).use { a ->
                Realm.open(syncConfig(ts, "b.realm", user = "bob") { trustedCaPem(pki.caPem) }).use { b ->
                    a.item(1, "over tls")
                    a.syncAll()
                    b.syncAll()
                    assertEquals("over tls", b.nameOf(1))
                }
            }
        }
    }

    @Test
    fun `security wss without the CA fails without retrying`() {
        val pki = TestPki()
        TestServer(tlsDir = pki.dir).use { ts ->
            Realm.open(syncConfig(ts, "a.realm")).use { a ->
                val s = a.session()
                eventually("the TLS failure") { s.isPaused && s.lastError != null }
                val e = s.lastError!!
                assertFalse(e.isRetryable, "$e")
                assertTrue(e.message.contains("certificate"), e.message)
            }
        }
    }

    @Test
    fun `security cleartext to a host that is not loopback is refused at open`() {
        val dir = tempDir("cleartext")
        fun config(allow: Boolean) = RealmConfiguration.Builder(dir.resolve("a.realm").toString(), testSchema)
            .sync(SyncConfiguration.Builder("ws://203.0.113.7:9", "t", "main").startPaused(true).allowCleartext(allow).build())
            .build()
        assertThrows<InvalidArgumentException> { Realm.open(config(false)) }
        Realm.open(config(true)).close()
        dir.toFile().deleteTree()
    }
}
