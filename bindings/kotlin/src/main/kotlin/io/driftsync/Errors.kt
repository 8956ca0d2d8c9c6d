package io.driftsync

/**
 * The status codes of the C ABI (`driftsync_status_t`), with their stable numbers. Codes from
 * 1000 on are reported by the C boundary itself.
 */
enum class StatusCode(val code: Int) {
    OK(0),
    INVALID_ARGUMENT(1),
    INVALID_SCHEMA(2),
    UNKNOWN_CLASS(3),
    UNKNOWN_PROPERTY(4),
    TYPE_MISMATCH(5),
    OBJECT_NOT_FOUND(6),
    DUPLICATE_PRIMARY_KEY(7),
    NOT_IN_WRITE_TRANSACTION(8),
    WRITE_ON_FROZEN(9),
    BREAKING_SCHEMA_CHANGE(10),
    FILE_NOT_REALM(11),
    FILE_FORMAT_TOO_NEW(12),
    FILE_CORRUPT(13),
    FILE_IO(14),
    BUSY(15),
    CLOSED(16),
    INDEX_OUT_OF_RANGE(17),
    ALREADY_IN_WRITE_TRANSACTION(18),
    SYNC(19),
    CLIENT_RESET(20),
    TIMEOUT(21),
    PROTOCOL(22),
    PERMISSION_DENIED(23),
    CALLBACK_FAILED(24),
    INTERNAL(25),
    AUTHENTICATION(26),
    NULL_ARGUMENT(1000),
    INVALID_UTF8(1001),
    PANIC(1002),

    /** A number this binding does not know (a newer library). */
    UNKNOWN(-1);

    companion object {
        private val byCode = entries.associateBy { it.code }
        fun of(code: Int): StatusCode = byCode[code] ?: UNKNOWN
    }
}

/**
 * Every error of the binding. [code] is the C status, [message] the library's message, and
 * [errorCause] the reset cause the server gave (for [StatusCode.CLIENT_RESET]; empty otherwise).
 * [cause] (the usual Throwable cause) is set when a Kotlin exception is behind the error, e.g. an
 * exception thrown by a reset hook.
 *
 * Subclasses group the codes: catch [DriftsyncException] for all of them.
 */
open class DriftsyncException(
    val code: StatusCode,
    message: String,
    val errorCause: String = "",
    cause: Throwable? = null,
) : RuntimeException(message, cause) {
    /** The numeric status, also for codes this binding does not know. */
    open val rawCode: Int get() = code.code

    override fun toString(): String =
        "${javaClass.simpleName}[$code${if (errorCause.isNotEmpty()) ", cause=$errorCause" else ""}]: $message"

    companion object {
        /** Makes the exception of the right subclass for a status. */
        @JvmStatic
        fun of(rawCode: Int, message: String, errorCause: String = "", cause: Throwable? = null): DriftsyncException {
            val code = StatusCode.of(rawCode)
            return when (code) {
                StatusCode.INVALID_ARGUMENT -> InvalidArgumentException(code, message, errorCause, cause)
                StatusCode.INVALID_SCHEMA, StatusCode.BREAKING_SCHEMA_CHANGE -> SchemaException(code, message, errorCause, cause)
                StatusCode.UNKNOWN_CLASS, StatusCode.UNKNOWN_PROPERTY -> UnknownNameException(code, message, errorCause, cause)
                StatusCode.TYPE_MISMATCH -> TypeMismatchException(code, message, errorCause, cause)
                StatusCode.OBJECT_NOT_FOUND -> ObjectNotFoundException(code, message, errorCause, cause)
                StatusCode.DUPLICATE_PRIMARY_KEY -> DuplicatePrimaryKeyException(code, message, errorCause, cause)
                StatusCode.NOT_IN_WRITE_TRANSACTION, StatusCode.ALREADY_IN_WRITE_TRANSACTION,
                StatusCode.WRITE_ON_FROZEN, StatusCode.BUSY -> TransactionException(code, message, errorCause, cause)
                StatusCode.FILE_NOT_REALM, StatusCode.FILE_FORMAT_TOO_NEW, StatusCode.FILE_CORRUPT,
                StatusCode.FILE_IO -> RealmFileException(code, message, errorCause, cause)
                StatusCode.CLOSED -> RealmClosedException(code, message, errorCause, cause)
                StatusCode.INDEX_OUT_OF_RANGE -> IndexOutOfRangeException(code, message, errorCause, cause)
                StatusCode.SYNC, StatusCode.PROTOCOL, StatusCode.PERMISSION_DENIED -> SyncException(code, message, errorCause, cause)
                StatusCode.CLIENT_RESET -> ClientResetRequiredException(code, message, errorCause, cause)
                StatusCode.AUTHENTICATION -> AuthenticationException(code, message, errorCause, cause)
                StatusCode.TIMEOUT -> TimeoutException(code, message, errorCause, cause)
                StatusCode.CALLBACK_FAILED -> CallbackFailedException(code, message, errorCause, cause)
                StatusCode.OK, StatusCode.INTERNAL, StatusCode.NULL_ARGUMENT, StatusCode.INVALID_UTF8,
                StatusCode.PANIC, StatusCode.UNKNOWN -> InternalException(code, message, errorCause, cause, rawCode)
            }
        }
    }
}

class InvalidArgumentException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

/** [StatusCode.INVALID_SCHEMA] or [StatusCode.BREAKING_SCHEMA_CHANGE]. */
class SchemaException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

/** [StatusCode.UNKNOWN_CLASS] or [StatusCode.UNKNOWN_PROPERTY]. */
class UnknownNameException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

class TypeMismatchException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

class ObjectNotFoundException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

class DuplicatePrimaryKeyException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

/** Not / already in a write transaction, a write on a frozen snapshot, or another writer too long ([StatusCode.BUSY]). */
class TransactionException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

/** The file is not a realm, too new, corrupt, or cannot be read or written. */
class RealmFileException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

/** The realm (or session) was closed. */
class RealmClosedException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

class IndexOutOfRangeException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

/** [StatusCode.SYNC], [StatusCode.PROTOCOL] or [StatusCode.PERMISSION_DENIED]. */
open class SyncException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

/** The server did not accept the user's token ([StatusCode.AUTHENTICATION]). */
class AuthenticationException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    SyncException(code, message, errorCause, cause)

/** The server demands a client reset; [errorCause] says why (e.g. "ServerRestored"). */
class ClientResetRequiredException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    SyncException(code, message, errorCause, cause)

class TimeoutException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

/** An application callback (a hook, a handler) failed; [cause] is the Kotlin exception if there was one. */
class CallbackFailedException internal constructor(code: StatusCode, message: String, errorCause: String, cause: Throwable?) :
    DriftsyncException(code, message, errorCause, cause)

/** A library bug, a caught panic, or a boundary error (NULL argument, bad UTF-8). */
class InternalException internal constructor(
    code: StatusCode, message: String, errorCause: String, cause: Throwable?,
    override val rawCode: Int,
) : DriftsyncException(code, message, errorCause, cause)
