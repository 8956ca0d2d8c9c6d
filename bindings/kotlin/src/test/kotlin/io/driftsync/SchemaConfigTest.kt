package io.driftsync

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.io.File

class SchemaConfigTest {
    @Test
    fun `a schema declared in Kotlin is validated by the library`() {
        assertEquals(2, testSchema.classCount)
        assertEquals("id", testSchema.classSchema("Item")!!.primaryKey)
        assertEquals(PropertyType.LINK, testSchema.classSchema("Item")!!.property("next")!!.type)
    }

    @Test
    fun `a schema from JSON`() {
        val s = Schema.fromJson(TEST_SCHEMA_JSON)
        assertEquals(2, s.classCount)
        assertTrue(s.classes.isEmpty())
    }

    @Test
    fun `invalid schemas throw SchemaException`() {
        val dup = assertThrows<SchemaException> {
            schema {
                realmClass("A", "id") { int("id") }
                realmClass("A", "id") { int("id") }
            }
        }
        assertEquals(StatusCode.INVALID_SCHEMA, dup.code)
        assertThrows<SchemaException> { schema { realmClass("A", "id") { double("id") } } }
        assertThrows<SchemaException> { schema { realmClass("A", "id") { int("id"); link("l", "Missing") } } }
        assertThrows<SchemaException> { schema { realmClass("A", "missing") { int("id") } } }
        assertThrows<SchemaException> { Schema.fromJson("{not json") }
        val e = assertThrows<SchemaException> { Schema.fromJson("""{"classes":[{"name":"A","primaryKey":"id","properties":[{"name":"id","type":"nope"}]}]}""") }
        assertEquals(StatusCode.INVALID_SCHEMA, e.code)
    }

    @Test
    fun `every property type and optional and list flags`() {
        val s = schema {
            realmClass("All", "id") {
                objectId("id")
                bool("b"); int("i", optional = true); double("d"); string("s", optional = true)
                binary("bin"); timestamp("t"); objectId("o", optional = true); uuid("u")
                link("l", "All"); linkList("ll", "All"); list("li", PropertyType.INT, optional = true)
                property(Property("p", PropertyType.STRING, list = true))
            }
        }
        assertEquals(1, s.classCount)
    }

    @Test
    fun `a local configuration`() {
        val dir = tempDir("cfg")
        val c = RealmConfiguration.Builder(dir.resolve("a.realm").toString(), testSchema).writeTimeoutMs(500).build()
        assertFalse(c.isSynced)
        assertEquals(500L, c.writeTimeoutMs)
        assertThrows<IllegalArgumentException> { RealmConfiguration.Builder("x", testSchema).writeTimeoutMs(-1) }
        dir.toFile().deleteTree()
    }

    @Test
    fun `a synced configuration carries its mode and settings`() {
        val sync = SyncConfiguration.Builder("ws://127.0.0.1:1", "t", "main")
            .clientResetMode(ClientResetMode.DiscardUnsyncedChanges(onBeforeReset = {}, onAfterReset = { _, _, _ -> }, onManualResetFallback = {}))
            .backupDir("/tmp").keepBackup(true).startPaused(true).onDownloadProgress { _, _ -> }
            .build()
        val c = RealmConfiguration.Builder("/tmp/never-opened.realm", testSchema).sync(sync).build()
        assertTrue(c.isSynced)
        assertEquals(ClientResetModeKind.DISCARD_UNSYNCED_CHANGES, c.sync!!.clientResetMode.kind)
        for (m in listOf(
            ClientResetMode.Manual {},
            ClientResetMode.RecoverUnsyncedChanges(),
            ClientResetMode.RecoverOrDiscardUnsyncedChanges(),
        )) {
            RealmConfiguration.Builder("/tmp/never-opened.realm", testSchema).sync(SyncConfiguration.Builder("ws://h:1", "t", "r").clientResetMode(m).build()).build()
        }
        assertEquals(ClientResetModeKind.RECOVER_OR_DISCARD_UNSYNCED_CHANGES, SyncConfiguration.Builder("u", "t", "r").build().clientResetMode.kind)
    }

    @Test
    fun `opening where the directory does not exist is a file error`() {
        val e = assertThrows<RealmFileException> { Realm.open(localConfig("/nonexistent-dir-driftsync/x.realm")) }
        assertEquals(StatusCode.FILE_IO, e.code)
    }

    @Test
    fun `opening a file that is not a realm`() {
        val dir = tempDir("notrealm")
        val f = dir.resolve("junk.realm").toFile()
        f.writeText("this is not a database, just some text that is long enough to be looked at. ".repeat(100))
        val e = assertThrows<RealmFileException> { Realm.open(localConfig(f.path)) }
        assertTrue(e.code == StatusCode.FILE_NOT_REALM || e.code == StatusCode.FILE_CORRUPT, e.toString())
        dir.toFile().deleteTree()
    }

    @Test
    fun `additive schema changes migrate, breaking ones throw`() {
        val dir = tempDir("migrate")
        val path = dir.resolve("m.realm").toString()
        Realm.open(localConfig(path)).use { it.item(1, "one") }
        Realm.open(localConfig(path, schemaWithExtraClass)).use { r ->
            assertEquals("one", r.nameOf(1))
            r.write { create("Note", 1, "text" to "hi") }
        }
        val breaking = Schema.fromJson(BREAKING_SCHEMA_JSON)
        val e = assertThrows<SchemaException> { Realm.open(localConfig(path, breaking)) }
        assertEquals(StatusCode.BREAKING_SCHEMA_CHANGE, e.code)
        File(path).delete()
        dir.toFile().deleteTree()
    }
}
