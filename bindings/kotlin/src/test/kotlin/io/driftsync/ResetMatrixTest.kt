package io.driftsync

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.Arguments
import org.junit.jupiter.params.provider.MethodSource
import java.io.File
import java.util.concurrent.atomic.AtomicReference

/**
 * Client reset end to end: every cause the reference server can trigger through its admin CLI,
 * in every mode — 7 causes × 4 modes — checking the decision the DESIGN table prescribes, the
 * report, and what happened to the data (recovered, discarded, or backed up for the manual
 * handler, whose backup is opened from Kotlin).
 */
class ResetMatrixTest {
    enum class Cause { SERVER_RESTORED, SYNC_REENABLED, CLIENT_SCHEMA_AHEAD, CLIENT_TOO_OLD, BREAKING_SCHEMA_CHANGE, ROLE_CHANGED, RECOVERY_DISABLED }

    private fun expectedCause(c: Cause) = when (c) {
        Cause.SERVER_RESTORED, Cause.RECOVERY_DISABLED -> ResetCause.SERVER_RESTORED
        Cause.SYNC_REENABLED -> ResetCause.SYNC_REENABLED
        Cause.CLIENT_SCHEMA_AHEAD -> ResetCause.CLIENT_SCHEMA_AHEAD
        Cause.CLIENT_TOO_OLD -> ResetCause.CLIENT_TOO_OLD
        Cause.BREAKING_SCHEMA_CHANGE -> ResetCause.BREAKING_SCHEMA_CHANGE
        Cause.ROLE_CHANGED -> ResetCause.ROLE_CHANGED
    }

    private fun mode(kind: ClientResetModeKind, manual: ManualResetHandler): ClientResetMode = when (kind) {
        ClientResetModeKind.MANUAL -> ClientResetMode.Manual(manual)
        ClientResetModeKind.DISCARD_UNSYNCED_CHANGES -> ClientResetMode.DiscardUnsyncedChanges(onManualResetFallback = manual)
        ClientResetModeKind.RECOVER_UNSYNCED_CHANGES -> ClientResetMode.RecoverUnsyncedChanges(onManualResetFallback = manual)
        else -> ClientResetMode.RecoverOrDiscardUnsyncedChanges(onManualResetFallback = manual)
    }

    @ParameterizedTest(name = "{0} in {1} -> {2}")
    @MethodSource("matrix")
    fun reset(cause: Cause, kind: ClientResetModeKind, expected: ResetDecision) {
        TestServer().use { ts ->
            ts.admin("backup", "early")
            val manual = AtomicReference<ManualClientReset?>()
            val m = mode(kind) { manual.set(it) }
            var realm = Realm.open(syncConfig(ts, "client.realm", mode = m))
            try {
                realm.item(1, "synced")
                realm.syncAll()
                realm.goOffline()
                realm.write {
                    set("Item", 1, "name", "local edit")
                    create("Item", 2, "name" to "offline")
                }
                when (cause) {
                    Cause.SERVER_RESTORED -> ts.admin("restore", "early")
                    Cause.SYNC_REENABLED -> { ts.admin("terminate"); ts.admin("enable") }
                    Cause.CLIENT_SCHEMA_AHEAD -> {
                        // The app ships a class the server does not have yet.
                        realm.close()
                        realm = Realm.open(syncConfig(ts, "client.realm", mode = m, schema = schemaWithExtraClass) { startPaused(true) })
                    }
                    Cause.CLIENT_TOO_OLD -> ts.admin("clock", "advance", "31d")
                    Cause.BREAKING_SCHEMA_CHANGE -> ts.admin("schema", "apply", ts.path("breaking.json"))
                    Cause.ROLE_CHANGED -> ts.admin("role", "assign", "alice", "editor2")
                    Cause.RECOVERY_DISABLED -> {
                        // The flag lives in the server database: restore first, then switch recovery off.
                        ts.admin("restore", "early")
                        ts.admin("recovery", "off")
                    }
                }
                realm.session().resume()
                eventually("the reset report") { realm.lastResetReport() != null }
                val report = realm.lastResetReport()!!
                if (report.decision != ResetDecision.MANUAL) {
                    eventually("reconnected after the reset") { realm.session().state == ConnectionState.CONNECTED }
                    realm.syncAll()
                } else {
                    eventually("the manual handler was called") { manual.get() != null }
                }
                assertEquals(expectedCause(cause), report.cause, "cause")
                assertEquals(expected, report.decision, "decision: $report")
                assertEquals(kind, report.mode)
                val r = realm
                when (expected) {
                    ResetDecision.RECOVER -> {
                        assertEquals(ErrorAction.CLIENT_RESET, report.action)
                        assertEquals("local edit", r.nameOf(1), "recovered edit")
                        assertEquals("offline", r.nameOf(2), "recovered create")
                        assertTrue(report.recoveredChangesets >= 1, "$report")
                        // The recovered changes reach another client through the server.
                        Realm.open(syncConfig(ts, "other.realm", user = "bob")).use { other ->
                            other.syncAll()
                            assertEquals("offline", other.nameOf(2))
                            assertEquals("local edit", other.nameOf(1))
                        }
                    }
                    ResetDecision.DISCARD -> {
                        assertNull(r.nameOf(2), "discarded create is gone")
                        assertTrue(report.discarded.any { it.instruction.contains("Item[2]") }, "${report.discarded}")
                        assertTrue(report.discarded.any { it.instruction.contains("local edit") }, "${report.discarded}")
                    }
                    else -> {
                        val mr = manual.get()!!
                        assertEquals(expectedCause(cause), mr.cause)
                        assertEquals(File(r.path).canonicalPath, File(mr.originalPath).canonicalPath)
                        assertEquals(ResetDecision.MANUAL, mr.report.decision)
                        assertTrue(mr.message.isNotEmpty() || mr.report.serverMessage.isNotEmpty())
                        assertNotNull(report.backupPath)
                        // The backup is a complete realm with the unsynced changes in it, openable without sync.
                        val backupSchema = if (cause == Cause.CLIENT_SCHEMA_AHEAD) schemaWithExtraClass else testSchema
                        Realm.open(localConfig(mr.backupPath, backupSchema)).use { b ->
                            assertEquals("offline", b.nameOf(2))
                            assertEquals("local edit", b.nameOf(1))
                        }
                        // Nothing was reset automatically.
                        assertEquals("offline", r.nameOf(2))
                        mr.close()
                    }
                }
            } finally {
                realm.close()
            }
        }
    }

    companion object {
        private val M = ClientResetModeKind.MANUAL
        private val D = ClientResetModeKind.DISCARD_UNSYNCED_CHANGES
        private val R = ClientResetModeKind.RECOVER_UNSYNCED_CHANGES
        private val RD = ClientResetModeKind.RECOVER_OR_DISCARD_UNSYNCED_CHANGES

        @JvmStatic
        fun matrix(): List<Arguments> {
            val rows = mutableListOf<Arguments>()
            fun row(c: Cause, m: ResetDecision, d: ResetDecision, r: ResetDecision, rd: ResetDecision) {
                rows += Arguments.of(c, M, m); rows += Arguments.of(c, D, d); rows += Arguments.of(c, R, r); rows += Arguments.of(c, RD, rd)
            }
            val man = ResetDecision.MANUAL; val dis = ResetDecision.DISCARD; val rec = ResetDecision.RECOVER
            row(Cause.SERVER_RESTORED, man, dis, rec, rec)
            row(Cause.SYNC_REENABLED, man, dis, rec, rec)
            row(Cause.CLIENT_SCHEMA_AHEAD, man, dis, rec, rec)
            row(Cause.CLIENT_TOO_OLD, man, dis, man, dis)
            row(Cause.BREAKING_SCHEMA_CHANGE, man, man, man, man)
            row(Cause.ROLE_CHANGED, man, dis, rec, rec)
            row(Cause.RECOVERY_DISABLED, man, dis, man, dis)
            return rows
        }
    }
}
