package io.driftsync

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class LibraryTest {
    @Test
    fun `the library loads and its ABI version is checked`() {
        assertEquals(Driftsync.EXPECTED_ABI_VERSION, Driftsync.abiVersion)
        assertTrue(Driftsync.version.matches(Regex("""\d+\.\d+\.\d+""")), Driftsync.version)
    }

    @Test
    fun `the library comes from the jar's resources with no system property`() {
        // The build bundles the native library at JNA's resource path; the tests load it from
        // there, as a consumer of the jar does.
        assertEquals(null, System.getProperty(Driftsync.LIBRARY_PATH_PROPERTY))
        assertEquals(null, System.getProperty("jna.library.path"))
        val resource = Driftsync::class.java.getResource("/linux-x86-64/libdriftsync.so")
        assertTrue(resource != null && resource.protocol == "file", "bundled library: $resource")
        assertEquals(Driftsync.EXPECTED_ABI_VERSION, Driftsync.abiVersion)
    }

    @Test
    fun `every status code has the C name and number`() {
        for (c in StatusCode.entries) {
            if (c == StatusCode.UNKNOWN) continue
            assertEquals(c.name, Driftsync.statusName(c.code), "status ${c.code}")
        }
        assertEquals("UNKNOWN", Driftsync.statusName(777))
        assertEquals(StatusCode.UNKNOWN, StatusCode.of(777))
    }

    @Test
    fun `every status maps to its exception class`() {
        val expected = mapOf(
            StatusCode.INVALID_ARGUMENT to InvalidArgumentException::class,
            StatusCode.INVALID_SCHEMA to SchemaException::class,
            StatusCode.BREAKING_SCHEMA_CHANGE to SchemaException::class,
            StatusCode.UNKNOWN_CLASS to UnknownNameException::class,
            StatusCode.UNKNOWN_PROPERTY to UnknownNameException::class,
            StatusCode.TYPE_MISMATCH to TypeMismatchException::class,
            StatusCode.OBJECT_NOT_FOUND to ObjectNotFoundException::class,
            StatusCode.DUPLICATE_PRIMARY_KEY to DuplicatePrimaryKeyException::class,
            StatusCode.NOT_IN_WRITE_TRANSACTION to TransactionException::class,
            StatusCode.ALREADY_IN_WRITE_TRANSACTION to TransactionException::class,
            StatusCode.WRITE_ON_FROZEN to TransactionException::class,
            StatusCode.BUSY to TransactionException::class,
            StatusCode.FILE_NOT_REALM to RealmFileException::class,
            StatusCode.FILE_FORMAT_TOO_NEW to RealmFileException::class,
            StatusCode.FILE_CORRUPT to RealmFileException::class,
            StatusCode.FILE_IO to RealmFileException::class,
            StatusCode.CLOSED to RealmClosedException::class,
            StatusCode.INDEX_OUT_OF_RANGE to IndexOutOfRangeException::class,
            StatusCode.SYNC to SyncException::class,
            StatusCode.PROTOCOL to SyncException::class,
            StatusCode.PERMISSION_DENIED to SyncException::class,
            StatusCode.CLIENT_RESET to ClientResetRequiredException::class,
            StatusCode.AUTHENTICATION to AuthenticationException::class,
            StatusCode.TIMEOUT to TimeoutException::class,
            StatusCode.CALLBACK_FAILED to CallbackFailedException::class,
            StatusCode.INTERNAL to InternalException::class,
            StatusCode.NULL_ARGUMENT to InternalException::class,
            StatusCode.INVALID_UTF8 to InternalException::class,
            StatusCode.PANIC to InternalException::class,
        )
        for ((code, cls) in expected) {
            val e = DriftsyncException.of(code.code, "m", "c", IllegalStateException("k"))
            assertTrue(cls.isInstance(e), "$code -> ${e.javaClass}")
            assertEquals(code, e.code)
            assertEquals("m", e.message)
            assertEquals("c", e.errorCause)
            assertTrue(e.cause is IllegalStateException)
        }
        val unknown = DriftsyncException.of(4242, "x")
        assertEquals(StatusCode.UNKNOWN, unknown.code)
        assertEquals(4242, unknown.rawCode)
    }

    @Test
    fun `a panic inside the library becomes an exception`() {
        val e = assertThrows<InternalException> { Driftsync.debugPanic() }
        assertEquals(StatusCode.PANIC, e.code)
        assertTrue(e.message!!.contains("driftsync_debug_panic"), e.message)
    }

    @Test
    fun `enums of the sync part have the C numbers`() {
        assertEquals("server_restored", ResetCause.SERVER_RESTORED.serverName)
        assertEquals("role_changed", ResetCause.ROLE_CHANGED.serverName)
        assertEquals("none", ResetCause.NONE.serverName)
        assertEquals(ResetCause.UNKNOWN, ResetCause.of(99))
        assertEquals(ResetDecision.MANUAL, ResetDecision.of(2))
        assertEquals(ClientResetModeKind.RECOVER_OR_DISCARD_UNSYNCED_CHANGES, ClientResetModeKind.of(3))
        assertEquals(ErrorAction.WARNING, ErrorAction.of(4))
        assertEquals(ConnectionState.CONNECTED, ConnectionState.of(2))
        assertEquals(ServerErrorCode.SYNC_TERMINATED, ServerErrorCode.of(8))
    }
}
