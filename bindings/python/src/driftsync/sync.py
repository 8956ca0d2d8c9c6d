"""The sync session of a realm, and the sync / client-reset settings handed to the C config."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

from ._handles import Owned, Registration, report_callback_exception, user_data_free
from ._native import ffi, lib
from .errors import InvalidArgumentError, call
from .reset import (
    ConnectionState,
    ManualReset,
    ResetDecision,
    ResetReport,
    SyncErrorInfo,
    SyncProgress,
    _enum,
    read_sync_error,
    take_report,
)
from .values import text_args

if TYPE_CHECKING:  # pragma: no cover
    from .config import SyncConfig
    from .realm import Realm, Token
    from .schema import Schema

__all__ = ["SyncSession", "HookState"]

_FOREVER_MS = 2**63 - 1


class HookState:
    """What the client-reset hooks of one config raised (shared by every realm opened from it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: (hook name, exception) in the order they happened
        self.exceptions: List[Tuple[str, BaseException]] = []
        self.last_before: Optional[BaseException] = None
        self.last_after: Optional[BaseException] = None
        self.manual_resets: List[ManualReset] = []

    def record(self, where: str, exc: BaseException) -> None:
        with self.lock:
            self.exceptions.append((where, exc))
            if where == "before_reset":
                self.last_before = exc
            elif where == "after_reset":
                self.last_after = exc
        report_callback_exception(where, exc, _WHAT_FOLLOWED.get(where))


#: What the library does after a hook raised (said with the exception, not "ignored").
_WHAT_FOLLOWED = {
    "before_reset": "the before_reset hook failed: the automatic client reset was aborted and handed to the "
    "manual reset handler (the realm is unchanged; the report's before_hook_error has the exception)",
    "after_reset": "the after_reset hook failed: the client reset itself had already completed (the report's "
    "after_hook_error has the exception)",
    "manual_reset": "the manual_reset handler failed: sync stays paused; the reset runs when "
    "ManualReset.perform() is called or at the next open",
}


def _lent_realm(ptr: Any, schema: "Schema", path: str) -> "Realm":
    from .realm import Realm

    return Realm(ptr, schema, path, None, owned=False)


def _exception_text(exc: BaseException) -> str:
    """``type: message`` of an exception (just ``type`` when its message is empty)."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:  # pragma: no cover - a broken __str__
        text = ""
    return f"{name}: {text}" if text else name


def _fail_hook(result: Any, exc: BaseException) -> None:
    """Hands a hook's exception text to the library (the report's before/after-hook error)."""
    try:
        b = _exception_text(exc).encode("utf-8", errors="replace")
        lib.driftsync_hook_result_fail(result, ffi.new("char[]", b), len(b), ffi.NULL)
    except BaseException:  # pragma: no cover - the hook still fails through its return value
        pass


@ffi.callback("driftsync_before_reset_v2_fn")
def _before_trampoline(user_data: Any, before: Any, result: Any) -> bool:
    try:
        reg = ffi.from_handle(user_data)
        schema, path, state = reg.extra
    except BaseException:  # pragma: no cover
        return False
    r = None
    try:
        r = _lent_realm(before, schema, path)
        reg.fn(r)
        return True
    except BaseException as e:
        state.record("before_reset", e)
        _fail_hook(result, e)
        return False
    finally:
        if r is not None:
            r._h.release()


@ffi.callback("driftsync_after_reset_v2_fn")
def _after_trampoline(user_data: Any, before: Any, live: Any, did_recover: bool, result: Any) -> bool:
    try:
        reg = ffi.from_handle(user_data)
        schema, path, state = reg.extra
    except BaseException:  # pragma: no cover
        return False
    rb = rl = None
    try:
        rb = _lent_realm(before, schema, path)
        rl = _lent_realm(live, schema, path)
        reg.fn(rb, rl, bool(did_recover))
        return True
    except BaseException as e:
        state.record("after_reset", e)
        _fail_hook(result, e)
        try:  # a transaction left open by the failing hook is rolled back by the core too
            if rl is not None and rl.in_write_transaction:
                rl.cancel_write()
        except BaseException:
            pass
        return False
    finally:
        for r in (rb, rl):
            if r is not None:
                r._h.release()


@ffi.callback("driftsync_manual_reset_fn")
def _manual_trampoline(user_data: Any, reset: Any) -> None:
    try:
        reg = ffi.from_handle(user_data)
        _, _, state = reg.extra
    except BaseException:  # pragma: no cover
        return
    try:
        m = ManualReset._from_borrowed(reset)
        with state.lock:
            state.manual_resets.append(m)
        reg.fn(m)
    except BaseException as e:
        state.record("manual_reset", e)


@ffi.callback("driftsync_download_progress_fn")
def _progress_trampoline(user_data: Any, received: int, total: int) -> None:
    try:
        reg = ffi.from_handle(user_data)
    except BaseException:  # pragma: no cover
        return
    try:
        reg.fn(int(received), int(total))
    except BaseException as e:
        reg.record(e)


@ffi.callback("driftsync_sync_state_fn")
def _state_trampoline(user_data: Any, old: int, new: int) -> None:
    try:
        reg = ffi.from_handle(user_data)
    except BaseException:  # pragma: no cover
        return
    try:
        reg.fn(_enum(ConnectionState, int(old)), _enum(ConnectionState, int(new)))
    except BaseException as e:
        reg.record(e)


@ffi.callback("driftsync_sync_error_fn")
def _error_trampoline(user_data: Any, error: Any) -> None:
    try:
        reg = ffi.from_handle(user_data)
    except BaseException:  # pragma: no cover
        return
    try:
        reg.fn(read_sync_error(error))
    except BaseException as e:
        reg.record(e)


def apply_sync_config(builder: Any, sync: "SyncConfig", keep: List[Any], schema: "Schema", path: str) -> HookState:
    """Hands the sync settings to a config builder; returns the hooks' shared state."""
    u, ul = text_args(sync.url)
    t, tl = text_args(sync.user_token)
    r, rl = text_args(sync.realm_name)
    call(lib.driftsync_config_builder_set_sync, builder, u, ul, t, tl, r, rl)
    call(lib.driftsync_config_builder_set_client_reset_mode, builder, int(sync.client_reset_mode))
    if sync.backup_dir is not None:
        b, bl = text_args(str(sync.backup_dir))
        call(lib.driftsync_config_builder_set_backup_dir, builder, b, bl)
    if sync.start_paused:
        call(lib.driftsync_config_builder_set_start_paused, builder, True)
    if sync.keep_backup:
        call(lib.driftsync_config_builder_set_keep_backup, builder, True)
    for pem in sync.trusted_ca_pem:
        p, pl = text_args(pem)
        call(lib.driftsync_config_builder_add_trusted_ca_pem, builder, p, pl)
    if sync.allow_cleartext:
        call(lib.driftsync_config_builder_set_allow_cleartext, builder, True)
    state = sync._hook_state
    extra = (schema, path, state)
    hooks = [
        (sync.before_reset, "before_reset", lib.driftsync_config_builder_set_before_reset_v2, _before_trampoline),
        (sync.after_reset, "after_reset", lib.driftsync_config_builder_set_after_reset_v2, _after_trampoline),
        (sync.manual_reset, "manual_reset", lib.driftsync_config_builder_set_manual_reset_handler, _manual_trampoline),
        (sync.on_download_progress, "download_progress", lib.driftsync_config_builder_set_download_progress, _progress_trampoline),
        (sync.on_error, "sync error", lib.driftsync_config_builder_set_sync_error_handler, _error_trampoline),
        (sync.on_connection_state, "sync state", lib.driftsync_config_builder_set_connection_state_handler, _state_trampoline),
    ]
    for fn, where, setter, tramp in hooks:
        if fn is None:
            continue
        if not callable(fn):
            raise TypeError(f"{where} must be callable")
        reg = Registration(fn, where, extra)
        keep.append(reg)
        call(setter, builder, tramp, reg.handle, user_data_free)
    return state


class SyncSession:
    """The sync session of a synced realm (`realm.sync_session`). Methods raise `ClosedError`
    once the realm is closed."""

    def __init__(self, realm: "Realm") -> None:
        self._realm = realm

    def _call(self, fn: Any, *args: Any) -> None:
        with self._realm._h as p:
            call(fn, p, *args)

    @property
    def state(self) -> ConnectionState:
        out = ffi.new("driftsync_connection_state_t *")
        self._call(lib.driftsync_realm_sync_state, out)
        return _enum(ConnectionState, int(out[0]))

    @property
    def progress(self) -> SyncProgress:
        out = ffi.new("driftsync_sync_progress_t *")
        self._call(lib.driftsync_realm_sync_progress, out)
        return SyncProgress(int(out.uploaded), int(out.uploadable), int(out.downloaded), int(out.downloadable))

    @property
    def is_paused(self) -> bool:
        out = ffi.new("bool *")
        self._call(lib.driftsync_realm_sync_is_paused, out)
        return bool(out[0])

    def pause(self) -> None:
        """Disconnects and stays disconnected until `resume()`; local writes go on."""
        self._call(lib.driftsync_realm_sync_pause)

    def resume(self) -> None:
        """Connects again after `pause()` (or a start-paused config, or a manual reset)."""
        self._call(lib.driftsync_realm_sync_resume)

    def wait_for_upload(self, timeout: Optional[float] = None) -> None:
        """Blocks until every change committed before this call is acknowledged by the server.
        `timeout` in seconds (None: no limit) → `driftsync.TimeoutError`. An error that ends the
        session (see `SyncConfig`) raises at once, also in a wait already pending: e.g.
        `AuthenticationError`, `ClientResetError`. Not from a callback."""
        self._call(lib.driftsync_realm_sync_wait_for_upload, _ms(timeout))

    def wait_for_download(self, timeout: Optional[float] = None) -> None:
        """Blocks until everything the server had at this call is integrated locally (as
        `wait_for_upload`)."""
        self._call(lib.driftsync_realm_sync_wait_for_download, _ms(timeout))

    @property
    def last_error(self) -> Optional[SyncErrorInfo]:
        """The session's last sync error, or None."""
        out = ffi.new("driftsync_sync_error_t **")
        self._call(lib.driftsync_realm_sync_last_error, out)
        if out[0] == ffi.NULL:
            return None
        try:
            return read_sync_error(out[0])
        finally:
            lib.driftsync_sync_error_free(out[0])

    def on_state_change(self, callback: Callable[[ConnectionState, ConnectionState], Any]) -> "Token":
        """Calls ``callback(old, new)`` on every connection state change, on the sync thread.
        Keep the token (closing it unregisters the callback)."""
        return self._register(lib.driftsync_realm_sync_on_state_change, _state_trampoline, callback, "sync state")

    def on_error(self, callback: Callable[[SyncErrorInfo], Any]) -> "Token":
        """Calls ``callback(error)`` with every sync error (reset demands included, before the
        reset runs), on the sync thread. Keep the token."""
        return self._register(lib.driftsync_realm_sync_on_error, _error_trampoline, callback, "sync error")

    def _register(self, fn: Any, tramp: Any, callback: Any, where: str) -> "Token":
        from .realm import Token

        if not callable(callback):
            raise TypeError("the callback must be callable")
        reg = Registration(callback, where)
        out = ffi.new("driftsync_token_t **")
        self._call(fn, tramp, reg.handle, user_data_free, out)
        return Token(out[0], self._realm, reg)

    @property
    def hook_exceptions(self) -> List[Tuple[str, BaseException]]:
        """(hook name, exception) for every exception a client-reset hook or the manual handler
        of this realm's config raised (each one aborted what the hook was for and was reported)."""
        st = self._state()
        if st is None:
            return []
        with st.lock:
            return list(st.exceptions)

    @property
    def manual_resets(self) -> List[ManualReset]:
        """Every manual reset handed to this config's manual handler (newest last)."""
        st = self._state()
        if st is None:
            return []
        with st.lock:
            return list(st.manual_resets)

    def _state(self) -> Optional[HookState]:
        cfg = self._realm.config
        if cfg is None or cfg.sync is None:
            return None
        return cfg.sync._hook_state


def _ms(timeout: Optional[float]) -> int:
    if timeout is None:
        return _FOREVER_MS
    if timeout < 0:
        raise InvalidArgumentError("timeout must be >= 0")
    return int(timeout * 1000)


def session_of(realm: "Realm") -> Optional[SyncSession]:
    cfg = realm.config
    if cfg is not None and cfg.sync is None:
        return None
    out = ffi.new("driftsync_connection_state_t *")
    errp = ffi.new("driftsync_error_t **")
    with realm._h as p:
        st = lib.driftsync_realm_sync_state(p, out, errp)
    if st != 0:
        lib.driftsync_error_free(errp[0])
        return None
    return SyncSession(realm)


def last_reset_report(realm: "Realm") -> Optional[ResetReport]:
    out = ffi.new("driftsync_reset_report_t **")
    with realm._h as p:
        call(lib.driftsync_realm_last_reset_report, p, out)
    rep = take_report(out[0])
    if rep is not None and realm.config is not None and realm.config.sync is not None:
        st = realm.config.sync._hook_state
        with st.lock:
            if rep.before_hook_error:
                rep.before_hook_exception = st.last_before
            if rep.after_hook_error:
                rep.after_hook_exception = st.last_after
    return rep


def preview_reset(realm: "Realm", decision: ResetDecision) -> ResetReport:
    out = ffi.new("driftsync_reset_report_t **")
    with realm._h as p:
        call(lib.driftsync_realm_preview_reset, p, int(decision), out)
    rep = take_report(out[0])
    assert rep is not None
    return rep
