package io.driftsync

import com.sun.jna.Library
import com.sun.jna.Native
import com.sun.jna.NativeLibrary
import com.sun.jna.Pointer
import com.sun.jna.ptr.PointerByReference
import io.driftsync.internal.NativeLib
import io.driftsync.internal.SyncLib
import java.io.File

/**
 * Loading of the native library and library-wide information.
 *
 * ## Where the native library comes from
 * 1. The system property `driftsync.library.path` ([LIBRARY_PATH_PROPERTY]): either the library
 *    file itself (`.../libdriftsync.so`) or a directory that contains it. The Maven build sets it
 *    for the tests to `${driftsync.cargo.target}/debug`, computed from the project directory
 *    (override with `-Ddriftsync.cargo.target=...` or `-Ddriftsync.library.path=...`).
 * 2. Otherwise JNA's usual search: `jna.library.path`, the system library path, and the jar's
 *    resources (`linux-x86-64/libdriftsync.so`, `darwin-aarch64/libdriftsync.dylib`, …), so a jar
 *    that bundles the library needs no property at all.
 *
 * When the library loads, its ABI version is compared with [EXPECTED_ABI_VERSION]; a mismatch
 * fails the load with an [UnsatisfiedLinkError] that says both numbers.
 */
object Driftsync {
    /** The system property that names the native library file or its directory. */
    const val LIBRARY_PATH_PROPERTY = "driftsync.library.path"

    /** The `DRIFTSYNC_ABI_VERSION` this binding was written against. */
    const val EXPECTED_ABI_VERSION = 1

    /** Loading the library also routes its log to java.util.logging (see [NativeLog]). */
    internal val lib: NativeLib by lazy { load().also { NativeLog.install(Native.load(libName, SyncLib::class.java, options)) } }

    /** The sync-session and client-reset functions (same library). */
    internal val sync: SyncLib by lazy { lib; Native.load(libName, SyncLib::class.java, options) }

    private val options = mapOf(Library.OPTION_STRING_ENCODING to "UTF-8")
    private var libName: String = "driftsync"

    /** The native library's version ("MAJOR.MINOR.PATCH"). */
    val version: String get() = lib.driftsync_version()

    /** The native library's ABI version (equal to [EXPECTED_ABI_VERSION] once loaded). */
    val abiVersion: Int get() = lib.driftsync_abi_version()

    /** The C name of a status without its prefix, e.g. "CLOSED"; "UNKNOWN" for unknown numbers. */
    fun statusName(code: Int): String = lib.driftsync_status_name(code)

    /**
     * Called with every exception a Kotlin callback (an observer, a progress or state listener)
     * throws, since it cannot propagate into the native caller. Defaults to printing it. Hook
     * exceptions are different: they abort the reset and are reported (see [ClientResetMode]).
     */
    @Volatile
    var callbackExceptionHandler: (Throwable) -> Unit = { e ->
        System.err.println("driftsync: exception in a callback: $e")
        e.printStackTrace()
    }

    /** For tests of the panic boundary: makes the library panic inside a call; throws [InternalException] (PANIC). */
    fun debugPanic() {
        check { lib.driftsync_debug_panic(it) }
    }

    private fun load(): NativeLib {
        val prop = System.getProperty(LIBRARY_PATH_PROPERTY)?.takeIf { it.isNotBlank() }
        val name = if (prop != null) {
            val f = File(prop)
            if (f.isFile) {
                f.absolutePath
            } else {
                NativeLibrary.addSearchPath("driftsync", f.absolutePath)
                "driftsync"
            }
        } else {
            "driftsync"
        }
        libName = name
        val lib = try {
            Native.load(name, NativeLib::class.java, options)
        } catch (e: UnsatisfiedLinkError) {
            throw UnsatisfiedLinkError(
                "driftsync: cannot load the native library ($name): ${e.message}. Build it with `cargo build` " +
                    "and point -D$LIBRARY_PATH_PROPERTY at target/debug (or the library file), or bundle it in the jar.",
            ).also { it.initCause(e) }
        }
        val abi = lib.driftsync_abi_version()
        if (abi != EXPECTED_ABI_VERSION) {
            throw UnsatisfiedLinkError(
                "driftsync: the native library has ABI version $abi, this binding needs $EXPECTED_ABI_VERSION " +
                    "(library version ${lib.driftsync_version()})",
            )
        }
        return lib
    }
}

/** Runs a fallible C call with an error out-parameter and throws its error as an exception. */
internal inline fun check(call: (PointerByReference) -> Int) {
    val err = PointerByReference()
    val status = call(err)
    if (status != 0) throw takeError(status, err.value)
}

/** Converts (and frees) a C error. */
internal fun takeError(status: Int, error: Pointer?, cause: Throwable? = null): DriftsyncException {
    val lib = Driftsync.lib
    if (error == null) {
        return DriftsyncException.of(status, "${lib.driftsync_status_name(status)} (no error details)", "", cause)
    }
    try {
        val code = lib.driftsync_error_code(error)
        val message = lib.driftsync_error_message(error).text()
        val errCause = lib.driftsync_error_cause(error).text()
        return DriftsyncException.of(if (code != 0) code else status, message, errCause, cause)
    } finally {
        lib.driftsync_error_free(error)
    }
}

internal fun closedException(what: String = "realm"): RealmClosedException =
    DriftsyncException.of(StatusCode.CLOSED.code, "the $what is closed") as RealmClosedException
