"""The exception hierarchy: `driftsync.Error` and one subclass per C status code."""

from __future__ import annotations

import builtins
import enum
from typing import Any, Dict, Optional, Type

from ._native import ffi, lib

__all__ = [
    "Status",
    "Error",
    "InvalidArgumentError",
    "InvalidSchemaError",
    "UnknownClassError",
    "UnknownPropertyError",
    "TypeMismatchError",
    "ObjectNotFoundError",
    "DuplicatePrimaryKeyError",
    "NotInWriteTransactionError",
    "WriteOnFrozenError",
    "BreakingSchemaChangeError",
    "FileNotRealmError",
    "FileFormatTooNewError",
    "FileCorruptError",
    "FileIOError",
    "BusyError",
    "ClosedError",
    "IndexOutOfRangeError",
    "AlreadyInWriteTransactionError",
    "SyncError",
    "ClientResetError",
    "TimeoutError",
    "ProtocolError",
    "PermissionDeniedError",
    "CallbackFailedError",
    "InternalError",
    "AuthenticationError",
    "NullArgumentError",
    "InvalidUtf8Error",
    "PanicError",
]


class Status(enum.IntEnum):
    """The C ABI's status codes (`driftsync_status_t`)."""

    OK = 0
    INVALID_ARGUMENT = 1
    INVALID_SCHEMA = 2
    UNKNOWN_CLASS = 3
    UNKNOWN_PROPERTY = 4
    TYPE_MISMATCH = 5
    OBJECT_NOT_FOUND = 6
    DUPLICATE_PRIMARY_KEY = 7
    NOT_IN_WRITE_TRANSACTION = 8
    WRITE_ON_FROZEN = 9
    BREAKING_SCHEMA_CHANGE = 10
    FILE_NOT_REALM = 11
    FILE_FORMAT_TOO_NEW = 12
    FILE_CORRUPT = 13
    FILE_IO = 14
    BUSY = 15
    CLOSED = 16
    INDEX_OUT_OF_RANGE = 17
    ALREADY_IN_WRITE_TRANSACTION = 18
    SYNC = 19
    CLIENT_RESET = 20
    TIMEOUT = 21
    PROTOCOL = 22
    PERMISSION_DENIED = 23
    CALLBACK_FAILED = 24
    INTERNAL = 25
    AUTHENTICATION = 26
    NULL_ARGUMENT = 1000
    INVALID_UTF8 = 1001
    PANIC = 1002


class Error(Exception):
    """Any error reported by driftsync.

    Attributes:
        code: the status code (a `Status`, or a plain int for a code this package does not know).
        message: the library's message.
        cause: for client resets, why the server demands the reset (e.g. "ServerRestored");
            otherwise None.
    """

    code: Any = None
    #: The status this class stands for (None for the base class).
    status: Optional[Status] = None

    def __init__(self, message: str = "", code: Any = None, cause: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is None:
            code = self.status
        self.code = code
        self.cause = cause

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, Status) else str(self.code)
        s = f"[{name}] {self.message}"
        if self.cause:
            s += f" (cause: {self.cause})"
        return s


def _sub(name: str, status: Status, *bases: Type[BaseException], doc: str) -> Type[Error]:
    cls = type(name, (Error, *bases), {"status": status, "__doc__": doc, "__module__": "driftsync"})
    return cls  # type: ignore[return-value]


InvalidArgumentError = _sub("InvalidArgumentError", Status.INVALID_ARGUMENT, ValueError, doc="An argument the call cannot accept.")
InvalidSchemaError = _sub("InvalidSchemaError", Status.INVALID_SCHEMA, ValueError, doc="The schema is invalid.")
UnknownClassError = _sub("UnknownClassError", Status.UNKNOWN_CLASS, doc="The class is not in the schema.")
UnknownPropertyError = _sub("UnknownPropertyError", Status.UNKNOWN_PROPERTY, doc="The property is not in the class.")
TypeMismatchError = _sub("TypeMismatchError", Status.TYPE_MISMATCH, TypeError, doc="A value does not match the schema.")
ObjectNotFoundError = _sub("ObjectNotFoundError", Status.OBJECT_NOT_FOUND, doc="No object has this primary key.")
DuplicatePrimaryKeyError = _sub("DuplicatePrimaryKeyError", Status.DUPLICATE_PRIMARY_KEY, doc="An object with this primary key exists.")
NotInWriteTransactionError = _sub("NotInWriteTransactionError", Status.NOT_IN_WRITE_TRANSACTION, doc="A write needs `with realm.write():`.")
WriteOnFrozenError = _sub("WriteOnFrozenError", Status.WRITE_ON_FROZEN, doc="A frozen snapshot cannot be written to.")
BreakingSchemaChangeError = _sub("BreakingSchemaChangeError", Status.BREAKING_SCHEMA_CHANGE, doc="The schema change is not additive.")
FileNotRealmError = _sub("FileNotRealmError", Status.FILE_NOT_REALM, doc="The file is not a driftsync realm.")
FileFormatTooNewError = _sub("FileFormatTooNewError", Status.FILE_FORMAT_TOO_NEW, doc="The file was written by a newer library.")
FileCorruptError = _sub("FileCorruptError", Status.FILE_CORRUPT, doc="The file is damaged.")
FileIOError = _sub("FileIOError", Status.FILE_IO, OSError, doc="The file or its directory cannot be read or written.")
BusyError = _sub("BusyError", Status.BUSY, doc="Another writer held the realm longer than the write timeout.")
ClosedError = _sub("ClosedError", Status.CLOSED, doc="The handle is closed.")
IndexOutOfRangeError = _sub("IndexOutOfRangeError", Status.INDEX_OUT_OF_RANGE, IndexError, doc="A list index is out of range.")
AlreadyInWriteTransactionError = _sub("AlreadyInWriteTransactionError", Status.ALREADY_IN_WRITE_TRANSACTION, doc="This thread already has a write transaction.")
SyncError = _sub("SyncError", Status.SYNC, doc="A sync error.")
ClientResetError = _sub("ClientResetError", Status.CLIENT_RESET, doc="The server demands a client reset; `cause` says why.")
TimeoutError = _sub("TimeoutError", Status.TIMEOUT, builtins.TimeoutError, doc="A wait timed out.")
ProtocolError = _sub("ProtocolError", Status.PROTOCOL, doc="The server spoke the protocol wrongly.")
PermissionDeniedError = _sub("PermissionDeniedError", Status.PERMISSION_DENIED, PermissionError, doc="The server refused the user.")
CallbackFailedError = _sub("CallbackFailedError", Status.CALLBACK_FAILED, doc="An application callback reported failure.")
InternalError = _sub("InternalError", Status.INTERNAL, doc="A bug or unexpected failure inside the library.")
AuthenticationError = _sub(
    "AuthenticationError", Status.AUTHENTICATION, PermissionError, doc="The server did not accept the user's token."
)
NullArgumentError = _sub("NullArgumentError", Status.NULL_ARGUMENT, doc="A required pointer was NULL (a binding bug).")
InvalidUtf8Error = _sub("InvalidUtf8Error", Status.INVALID_UTF8, UnicodeError, doc="A string was not valid UTF-8.")
PanicError = _sub("PanicError", Status.PANIC, doc="The library panicked; the panic was caught at the boundary.")

_BY_CODE: Dict[int, Type[Error]] = {
    c.status: c  # type: ignore[misc]
    for c in [
        InvalidArgumentError, InvalidSchemaError, UnknownClassError, UnknownPropertyError,
        TypeMismatchError, ObjectNotFoundError, DuplicatePrimaryKeyError, NotInWriteTransactionError,
        WriteOnFrozenError, BreakingSchemaChangeError, FileNotRealmError, FileFormatTooNewError,
        FileCorruptError, FileIOError, BusyError, ClosedError, IndexOutOfRangeError,
        AlreadyInWriteTransactionError, SyncError, ClientResetError, TimeoutError, ProtocolError,
        PermissionDeniedError, CallbackFailedError, InternalError, AuthenticationError, NullArgumentError,
        InvalidUtf8Error, PanicError,
    ]
}


def error_class(code: int) -> Type[Error]:
    """The exception class for a status code (`Error` for an unknown one)."""
    return _BY_CODE.get(code, Error)


def make_error(code: int, message: str = "", cause: Optional[str] = None) -> Error:
    try:
        c: Any = Status(code)
    except ValueError:
        c = code
    if not message:
        message = ffi.string(lib.driftsync_status_name(int(code))).decode()
    return error_class(code)(message, c, cause or None)


def string_view(s: Any) -> str:
    """A `driftsync_string_t` view as a Python str."""
    if s.len == 0 or s.data == ffi.NULL:
        return ""
    return ffi.unpack(s.data, s.len).decode("utf-8", "replace")


def error_from_ptr(code: int, err: Any) -> Error:
    """Converts (and frees) an owned `driftsync_error_t *`."""
    if err == ffi.NULL:
        return make_error(code)
    try:
        c = int(lib.driftsync_error_code(err))
        return make_error(c or code, string_view(lib.driftsync_error_message(err)), string_view(lib.driftsync_error_cause(err)))
    finally:
        lib.driftsync_error_free(err)


def call(fn: Any, *args: Any) -> None:
    """Calls a fallible C function (appending the out-error argument); raises on failure."""
    errp = ffi.new("driftsync_error_t **")
    status = fn(*args, errp)
    if status != 0:
        raise error_from_ptr(int(status), errp[0])
