"""driftsync: an offline-first object database with sync and client reset (Python binding).

    import driftsync

    schema = {"Dog": {"id": "int", "name": "string", "tags": "string[]"}}
    with driftsync.open("dogs.realm", schema=schema) as realm:
        with realm.write():
            realm.create("Dog", 1, name="Rex", tags=["good"])
        print(realm.get("Dog", 1).name)

The package is a thin layer over the library's C ABI (shipped inside the package, in `driftsync._ffi`). Errors are
`driftsync.Error` subclasses; see `Realm`, `Config`, `SyncConfig` and `ClientResetMode`.
"""

from __future__ import annotations

import atexit as _atexit

from . import _log
from ._handles import set_callback_error_handler
from ._native import ABI_VERSION, LIBRARY_PATH, ffi as _ffi, lib as _lib
from .config import ClientResetMode, Config, SyncConfig, open
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .embedded import EmbeddedList, EmbeddedObject
from .realm import Changes, ClassChanges, CollectionChanges, Dictionary, List, Object, Realm, Set, Token, WriteTransaction, close_all_realms
from .schema import ClassSchema, Property, Schema
from .reset import (
    ConnectionState,
    DroppedChange,
    ErrorAction,
    ManualReset,
    ResetCause,
    ResetDecision,
    ResetReport,
    ResetTimings,
    ServerErrorCode,
    SyncErrorInfo,
    SyncProgress,
)
from .sync import SyncSession
from .mixed import MixedDict, MixedList
from .values import ObjectId, TypedLink

#: The package version (equal to the library's version: maturin takes it from Cargo.toml).
__version__: str = _ffi.string(_lib.driftsync_version()).decode()


def library_version() -> str:
    """The version of the loaded native library."""
    return _ffi.string(_lib.driftsync_version()).decode()


def abi_version() -> int:
    """The C ABI version of the loaded native library (checked against `ABI_VERSION` at import)."""
    return int(_lib.driftsync_abi_version())


def status_name(code: int) -> str:
    """The name of a status code, e.g. ``status_name(16) == "CLOSED"``."""
    return _ffi.string(_lib.driftsync_status_name(int(code))).decode()


_atexit.register(close_all_realms)
_log.install()
_atexit.register(_log.uninstall)

__all__ = [
    "__version__",
    "ABI_VERSION",
    "LIBRARY_PATH",
    "library_version",
    "abi_version",
    "status_name",
    "open",
    "Config",
    "SyncConfig",
    "ClientResetMode",
    "Schema",
    "ClassSchema",
    "Property",
    "Realm",
    "Object",
    "List",
    "Set",
    "Dictionary",
    "MixedList",
    "MixedDict",
    "TypedLink",
    "EmbeddedList",
    "EmbeddedObject",
    "Token",
    "Changes",
    "ClassChanges",
    "CollectionChanges",
    "WriteTransaction",
    "SyncSession",
    "ConnectionState",
    "DroppedChange",
    "ErrorAction",
    "ManualReset",
    "ResetCause",
    "ResetDecision",
    "ResetReport",
    "ResetTimings",
    "ServerErrorCode",
    "SyncErrorInfo",
    "SyncProgress",
    "ObjectId",
    "set_callback_error_handler",
    *_errors_all,
]
