"""The sync session and the client-reset settings (filled in as the C ABI provides them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional

from ._native import ffi, lib
from .errors import call
from .values import text_args

if TYPE_CHECKING:  # pragma: no cover
    from .config import SyncConfig
    from .realm import Realm

__all__ = ["SyncSession"]


def apply_sync_config(builder: Any, sync: "SyncConfig", keep: List[Any]) -> None:
    u, ul = text_args(sync.url)
    t, tl = text_args(sync.user_token)
    r, rl = text_args(sync.realm_name)
    call(lib.driftsync_config_builder_set_sync, builder, u, ul, t, tl, r, rl)
    call(lib.driftsync_config_builder_set_client_reset_mode, builder, int(sync.client_reset_mode))
    if sync.backup_dir is not None:
        b, bl = text_args(str(sync.backup_dir))
        call(lib.driftsync_config_builder_set_backup_dir, builder, b, bl)


class SyncSession:
    """The sync session of a synced realm."""

    def __init__(self, realm: "Realm") -> None:
        self._realm = realm


def session_of(realm: "Realm") -> Optional[SyncSession]:
    return None
