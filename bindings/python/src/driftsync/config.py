"""Realm configuration: `Config`, `SyncConfig` and `ClientResetMode`."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Union

from ._native import ffi, lib
from .errors import InvalidArgumentError, call
from .schema import Schema, SchemaLike
from .values import text_args

if TYPE_CHECKING:  # pragma: no cover
    from .realm import Realm
    from .reset import ManualReset

__all__ = ["ClientResetMode", "SyncConfig", "Config", "open"]


class ClientResetMode(enum.IntEnum):
    """What to do with unsynced changes when the server demands a client reset."""

    #: Hand the reset to the application's manual handler (the realm is backed up first).
    MANUAL = 0
    #: Replace the local state with the server's; unsynced changes are reported and dropped.
    DISCARD_UNSYNCED_CHANGES = 1
    #: Replay unsynced changes on top of the server's state; manual when recovery is not allowed.
    RECOVER_UNSYNCED_CHANGES = 2
    #: Recover when allowed, else discard (the default).
    RECOVER_OR_DISCARD_UNSYNCED_CHANGES = 3


@dataclass
class SyncConfig:
    """Sync settings of a realm.

    Hooks run on the library's sync thread:
      * ``before_reset(before: Realm)`` gets a frozen snapshot of the realm as it was. Raising
        aborts the automatic reset (it falls back to the manual handler); the exception is kept on
        `Realm.sync_session.hook_exceptions` and its ``type: message`` text (e.g.
        ``"ValueError: bad data"``) is the reset report's `before_hook_error`.
      * ``after_reset(before: Realm, after: Realm, did_recover: bool)`` gets the frozen
        before-snapshot and the live realm. An exception's ``type: message`` text is the reset
        report's `after_hook_error` (the reset itself has already happened).
      * ``manual_reset(reset: ManualReset)`` gets the cause, paths and an action that resets now.
      * ``on_error(error: SyncErrorInfo)`` gets every sync error and ``on_connection_state(old,
        new)`` every connection state change, from the first connection on (unlike
        `SyncSession.on_error`, which can only be set after `open`).
    The realms handed to hooks are valid only during the call.

    When an error ends the session (a refused token, a role that may not open the realm, a reset
    handed to the manual handler, a failed automatic reset), every pending and later
    `SyncSession.wait_for_upload` / `wait_for_download` raises it at once (`AuthenticationError`,
    `PermissionDeniedError`, `ProtocolError`, `SyncError`, `ClientResetError` with its `cause`);
    a retryable error (server down) leaves them waiting. A URL that is not ``ws://`` or
    ``wss://`` with a host fails `open` with `InvalidArgumentError`.
    """

    url: str
    user_token: str
    realm_name: str = "main"
    client_reset_mode: ClientResetMode = ClientResetMode.RECOVER_OR_DISCARD_UNSYNCED_CHANGES
    before_reset: Optional[Callable[["Realm"], Any]] = None
    after_reset: Optional[Callable[["Realm", "Realm", bool], Any]] = None
    manual_reset: Optional[Callable[["ManualReset"], Any]] = None
    backup_dir: Optional[Union[str, os.PathLike]] = None
    #: ``on_download_progress(received, total)``: progress of a reset's fresh-copy download (in
    #: objects), on the sync thread (or the thread calling `Realm.preview_reset`)
    on_download_progress: Optional[Callable[[int, int], Any]] = None
    #: do not connect until `realm.sync_session.resume()`
    start_paused: bool = False
    #: keep a copy of the realm as it was before each automatic reset (path in the report)
    keep_backup: bool = False
    #: extra trusted CA certificates (PEM text each) for ``wss://``, on top of the system roots
    trusted_ca_pem: List[str] = field(default_factory=list)
    #: allow ``ws://`` (cleartext) to a host that is not loopback; off, opening such a realm fails
    allow_cleartext: bool = False
    #: ``on_error(error)``: every sync error, from the first connection on (sync thread)
    on_error: Optional[Callable[["SyncErrorInfo"], Any]] = None
    #: ``on_connection_state(old, new)``: every connection state change, from the first connection
    #: on (sync thread)
    on_connection_state: Optional[Callable[["ConnectionState", "ConnectionState"], Any]] = None
    _hook_state: Any = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        from .sync import HookState

        self.client_reset_mode = ClientResetMode(self.client_reset_mode)
        self._hook_state = HookState()


@dataclass
class Config:
    """Everything needed to open a realm: a path, a schema and optional sync settings."""

    path: Union[str, os.PathLike]
    schema: SchemaLike
    sync: Optional[SyncConfig] = None
    #: seconds `begin_write` waits for another writer before `BusyError` (default: the core's 10 s)
    write_timeout: Optional[float] = None

    def __post_init__(self) -> None:
        self.path = os.fspath(self.path)
        self.schema = Schema.of(self.schema)

    def _build(self, keep: List[Any]) -> Any:
        """A new `driftsync_config_t *` (caller frees it). `keep` receives the registrations of
        callables the config hands to C."""
        b = lib.driftsync_config_builder_new()
        if b == ffi.NULL:  # pragma: no cover
            raise InvalidArgumentError("driftsync_config_builder_new failed")
        schema_ptr = ffi.NULL
        try:
            p, n = text_args(str(self.path))
            call(lib.driftsync_config_builder_set_path, b, p, n)
            schema_ptr = self.schema._build()  # type: ignore[union-attr]
            call(lib.driftsync_config_builder_set_schema, b, schema_ptr)
            if self.write_timeout is not None:
                call(lib.driftsync_config_builder_set_write_timeout_ms, b, int(self.write_timeout * 1000))
            if self.sync is not None:
                from .sync import apply_sync_config

                apply_sync_config(b, self.sync, keep, self.schema, str(self.path))  # type: ignore[arg-type]
        except BaseException:
            lib.driftsync_config_builder_free(b)
            raise
        finally:
            lib.driftsync_schema_free(schema_ptr)
        out = ffi.new("driftsync_config_t **")
        call(lib.driftsync_config_builder_build, b, out)  # consumes the builder
        return out[0]

    @property
    def is_synced(self) -> bool:
        """Whether the config syncs (asked of the core)."""
        keep: List[Any] = []
        c = self._build(keep)
        try:
            return bool(lib.driftsync_config_is_synced(c))
        finally:
            lib.driftsync_config_free(c)

    @property
    def client_reset_mode(self) -> ClientResetMode:
        """The client reset mode of a synced config (`InvalidArgumentError` for a local one)."""
        keep: List[Any] = []
        c = self._build(keep)
        try:
            out = ffi.new("driftsync_client_reset_mode_t *")
            call(lib.driftsync_config_client_reset_mode, c, out)
            return ClientResetMode(int(out[0]))
        finally:
            lib.driftsync_config_free(c)

    def open(self) -> "Realm":
        """Opens (or creates) the realm."""
        from .realm import Realm

        keep: List[Any] = []
        c = self._build(keep)
        out = ffi.new("driftsync_realm_t **")
        try:
            call(lib.driftsync_realm_open, c, out)
        finally:
            lib.driftsync_config_free(c)
        realm = Realm(out[0], self.schema, str(self.path), self)  # type: ignore[arg-type]
        realm._keep.extend(keep)
        return realm


def open(
    path: Union[str, os.PathLike],
    schema: SchemaLike,
    sync: Optional[Union[SyncConfig, dict]] = None,
    *,
    write_timeout: Optional[float] = None,
) -> "Realm":
    """Opens (or creates) a realm: ``driftsync.open("app.realm", schema={...})``.

    `schema` is anything `Schema.of` accepts; `sync` a `SyncConfig` (or its fields as a dict)."""
    if isinstance(sync, dict):
        sync = SyncConfig(**sync)
    return Config(path, schema, sync, write_timeout).open()
