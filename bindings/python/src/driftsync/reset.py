"""Client reset: causes, decisions, the reset report, the manual reset and sync errors as plain
Python data."""

from __future__ import annotations

import enum
import weakref
from dataclasses import dataclass, field
from typing import Any, List, Optional

from ._handles import Owned
from ._native import ffi, lib
from .config import ClientResetMode
from .errors import call, string_view

__all__ = [
    "ResetCause",
    "ResetDecision",
    "ErrorAction",
    "ConnectionState",
    "ServerErrorCode",
    "DroppedChange",
    "ResetTimings",
    "ResetReport",
    "ManualReset",
    "SyncErrorInfo",
    "SyncProgress",
]


class ResetCause(enum.IntEnum):
    """Why the server demands a client reset."""

    NONE = 0
    SERVER_RESTORED = 1
    SYNC_REENABLED = 2
    CLIENT_SCHEMA_AHEAD = 3
    CLIENT_TOO_OLD = 4
    BREAKING_SCHEMA_CHANGE = 5
    ROLE_CHANGED = 6

    @property
    def server_name(self) -> str:
        """The cause as the server spells it (e.g. "server_restored")."""
        return ffi.string(lib.driftsync_reset_cause_name(int(self))).decode()


class ResetDecision(enum.IntEnum):
    """What a client reset does with the local realm."""

    RECOVER = 0
    DISCARD = 1
    MANUAL = 2


class ErrorAction(enum.IntEnum):
    """What the client must do about a server error."""

    CLIENT_RESET = 0
    CLIENT_RESET_NO_RECOVERY = 1
    RETRY = 2
    FATAL = 3
    WARNING = 4


class ConnectionState(enum.IntEnum):
    """The connection state of a sync session."""

    DISCONNECTED = 0
    CONNECTING = 1
    CONNECTED = 2


class ServerErrorCode(enum.IntEnum):
    """The server's error code of a sync error (NONE: a connection error)."""

    NONE = 0
    UNSUPPORTED_PROTOCOL_VERSION = 1
    BAD_TOKEN = 2
    UNKNOWN_REALM = 3
    BAD_MESSAGE = 4
    BAD_CHANGESET = 5
    PERMISSION_DENIED = 6
    CLIENT_RESET_REQUIRED = 7
    SYNC_TERMINATED = 8
    INTERNAL = 9


def _enum(cls: Any, v: int) -> Any:
    try:
        return cls(v)
    except ValueError:
        return v


@dataclass
class DroppedChange:
    """One local instruction a reset did not apply as recorded, and why."""

    local_version: int
    instruction: str
    reason: str
    #: True if it applied in part (e.g. a link left null) and is still uploaded
    partially: bool


@dataclass
class ResetTimings:
    """Time per reset phase; `completed_at_ms` since the Unix epoch (0 for a preview).

    The `*_us` fields (microseconds) include the change-summary phase and add up to `total_us`;
    the older `*_ms` fields have no summary phase."""

    download_ms: int = 0
    diff_ms: int = 0
    replay_ms: int = 0
    commit_ms: int = 0
    completed_at_ms: int = 0
    download_us: int = 0
    diff_us: int = 0
    replay_us: int = 0
    #: producing the change summary and the report's counts
    summary_us: int = 0
    commit_us: int = 0
    #: download through commit: the sum of the five phases
    total_us: int = 0


@dataclass
class ResetReport:
    """What a client reset did (or, from `Realm.preview_reset`, would do)."""

    cause: ResetCause
    action: ErrorAction
    server_message: str
    mode: ClientResetMode
    decision: ResetDecision
    objects_inserted: int
    objects_erased: int
    objects_modified: int
    recovered_changesets: int
    recovered_instructions: int
    #: local instructions recovery could not apply (or applied in part)
    dropped: List[DroppedChange] = field(default_factory=list)
    #: local instructions a discard threw away
    discarded: List[DroppedChange] = field(default_factory=list)
    before_hook_error: Optional[str] = None
    after_hook_error: Optional[str] = None
    backup_path: Optional[str] = None
    timings: ResetTimings = field(default_factory=ResetTimings)
    #: payload bytes of the fresh copy's messages, both directions
    transferred_bytes: int = 0
    #: key ranges that differed between this realm and the server (0 for a full copy)
    ranges_differed: int = 0
    #: the Python exception the before hook raised (when this process ran the hook)
    before_hook_exception: Optional[BaseException] = None
    #: the Python exception the after hook raised (when this process ran the hook)
    after_hook_exception: Optional[BaseException] = None


def _str_out(fn: Any, obj: Any) -> str:
    s = ffi.new("driftsync_string_t *")
    call(fn, obj, s)
    return string_view(s)


def _changes(count_fn: Any, get_fn: Any, report: Any) -> List[DroppedChange]:
    n = ffi.new("size_t *")
    call(count_fn, report, n)
    out = []
    c = ffi.new("driftsync_dropped_change_t *")
    for i in range(n[0]):
        call(get_fn, report, i, c)
        out.append(DroppedChange(int(c.local_version), string_view(c.instruction), string_view(c.reason), bool(c.partially)))
    return out


def read_report(report: Any) -> ResetReport:
    """Converts a `driftsync_reset_report_t *` (not freed here)."""
    cause = ffi.new("driftsync_reset_cause_t *")
    call(lib.driftsync_reset_report_cause, report, cause)
    action = ffi.new("driftsync_error_action_t *")
    call(lib.driftsync_reset_report_action, report, action)
    mode = ffi.new("driftsync_client_reset_mode_t *")
    call(lib.driftsync_reset_report_mode, report, mode)
    decision = ffi.new("driftsync_reset_decision_t *")
    call(lib.driftsync_reset_report_decision, report, decision)
    objs = ffi.new("uint64_t[3]")
    call(lib.driftsync_reset_report_objects, report, objs + 0, objs + 1, objs + 2)
    rec = ffi.new("uint64_t[2]")
    call(lib.driftsync_reset_report_recovered, report, rec + 0, rec + 1)
    t = ffi.new("driftsync_reset_timings_t *")
    call(lib.driftsync_reset_report_timings, report, t)
    t2 = ffi.new("driftsync_reset_timings_v2_t *")
    call(lib.driftsync_reset_report_timings_v2, report, t2)
    transfer = ffi.new("uint64_t[2]")
    call(lib.driftsync_reset_report_transfer, report, transfer + 0, transfer + 1)
    return ResetReport(
        cause=_enum(ResetCause, int(cause[0])),
        action=_enum(ErrorAction, int(action[0])),
        server_message=_str_out(lib.driftsync_reset_report_server_message, report),
        mode=_enum(ClientResetMode, int(mode[0])),
        decision=_enum(ResetDecision, int(decision[0])),
        objects_inserted=int(objs[0]),
        objects_erased=int(objs[1]),
        objects_modified=int(objs[2]),
        recovered_changesets=int(rec[0]),
        recovered_instructions=int(rec[1]),
        dropped=_changes(lib.driftsync_reset_report_dropped_count, lib.driftsync_reset_report_dropped, report),
        discarded=_changes(lib.driftsync_reset_report_discarded_count, lib.driftsync_reset_report_discarded, report),
        before_hook_error=_str_out(lib.driftsync_reset_report_before_hook_error, report) or None,
        after_hook_error=_str_out(lib.driftsync_reset_report_after_hook_error, report) or None,
        backup_path=_str_out(lib.driftsync_reset_report_backup_path, report) or None,
        timings=ResetTimings(
            int(t.download_ms), int(t.diff_ms), int(t.replay_ms), int(t.commit_ms), int(t.completed_at_ms),
            download_us=int(t2.download_us), diff_us=int(t2.diff_us), replay_us=int(t2.replay_us),
            summary_us=int(t2.summary_us), commit_us=int(t2.commit_us), total_us=int(t2.total_us),
        ),
        transferred_bytes=int(transfer[0]),
        ranges_differed=int(transfer[1]),
    )


def take_report(ptr: Any) -> Optional[ResetReport]:
    """Converts and frees an owned report pointer (None for NULL)."""
    if ptr == ffi.NULL:
        return None
    try:
        return read_report(ptr)
    finally:
        lib.driftsync_reset_report_free(ptr)


class ManualReset:
    """A client reset handed to the application's manual handler.

    It may be kept past the handler: call `perform()` once every handle of the realm is closed
    (else `BusyError`); if the app never does, the reset runs at the next open. The backup at
    `backup_path` is a complete realm with the unsynced changes in it: open it with
    ``driftsync.open(reset.backup_path, schema=...)`` (no sync settings)."""

    def __init__(self, ptr: Any) -> None:
        self._h = Owned(ptr, lib.driftsync_manual_reset_free, "manual reset")
        weakref.finalize(self, self._h.release)
        with self._h as p:
            c = ffi.new("driftsync_reset_cause_t *")
            call(lib.driftsync_manual_reset_cause, p, c)
            self.cause: ResetCause = _enum(ResetCause, int(c[0]))
            self.message: str = _str_out(lib.driftsync_manual_reset_message, p)
            self.original_path: str = _str_out(lib.driftsync_manual_reset_original_path, p)
            self.backup_path: str = _str_out(lib.driftsync_manual_reset_backup_path, p)
            out = ffi.new("driftsync_reset_report_t **")
            call(lib.driftsync_manual_reset_report, p, out)
            self.report: Optional[ResetReport] = take_report(out[0])

    @classmethod
    def _from_borrowed(cls, ptr: Any) -> "ManualReset":
        out = ffi.new("driftsync_manual_reset_t **")
        call(lib.driftsync_manual_reset_clone, ptr, out)
        return cls(out[0])

    def perform(self) -> None:
        """Performs the reset now: deletes the realm file (the backup keeps its data); the next
        open starts from the server's state. Every handle of the realm must be closed first."""
        with self._h as p:
            call(lib.driftsync_manual_reset_perform, p)

    def close(self) -> None:
        """Releases the native copy (after this, `perform` raises `ClosedError`)."""
        self._h.release()

    def __repr__(self) -> str:
        return f"<driftsync.ManualReset cause={self.cause.name if isinstance(self.cause, ResetCause) else self.cause} backup={self.backup_path!r}>"


@dataclass
class SyncErrorInfo:
    """A sync error as the session saw it (the error callback's argument and `last_error`)."""

    server_code: ServerErrorCode
    action: ErrorAction
    cause: ResetCause
    message: str
    is_retryable: bool

    @property
    def is_client_reset(self) -> bool:
        return self.action in (ErrorAction.CLIENT_RESET, ErrorAction.CLIENT_RESET_NO_RECOVERY)


def read_sync_error(e: Any) -> SyncErrorInfo:
    code = ffi.new("driftsync_server_error_code_t *")
    call(lib.driftsync_sync_error_server_code, e, code)
    action = ffi.new("driftsync_error_action_t *")
    call(lib.driftsync_sync_error_action, e, action)
    cause = ffi.new("driftsync_reset_cause_t *")
    call(lib.driftsync_sync_error_reset_cause, e, cause)
    retry = ffi.new("bool *")
    call(lib.driftsync_sync_error_is_retryable, e, retry)
    return SyncErrorInfo(
        server_code=_enum(ServerErrorCode, int(code[0])),
        action=_enum(ErrorAction, int(action[0])),
        cause=_enum(ResetCause, int(cause[0])),
        message=_str_out(lib.driftsync_sync_error_message, e),
        is_retryable=bool(retry[0]),
    )


@dataclass
class SyncProgress:
    """Upload and download progress, in versions."""

    uploaded: int
    uploadable: int
    downloaded: int
    downloadable: int

    @property
    def upload_complete(self) -> bool:
        return self.uploaded >= self.uploadable

    @property
    def download_complete(self) -> bool:
        return self.downloaded >= self.downloadable

