"""The library's log lines, mapped to Python's `logging`: a line of category ``sync``, ``reset``
or ``storage`` goes to the logger ``driftsync.sync`` / ``driftsync.reset`` /
``driftsync.storage`` at the matching level. Registered when the package is imported;
configure it as any other logger (``logging.getLogger("driftsync").setLevel(logging.INFO)``).
Lines are passed up to DEBUG level, and `logging` filters them."""

from __future__ import annotations

import logging
from typing import Any

from ._native import ffi, lib

__all__ = ["install", "uninstall"]

_LEVELS = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: logging.DEBUG}
#: DRIFTSYNC_LOG_DEBUG: every line `logging` could want.
_THRESHOLD = 4


@ffi.callback("driftsync_log_fn")
def _log_trampoline(user_data: Any, level: int, category: Any, message: Any) -> None:
    try:
        cat = ffi.unpack(category.data, category.len).decode("utf-8", errors="replace")
        logger = logging.getLogger(f"driftsync.{cat}")
        py_level = _LEVELS.get(int(level), logging.DEBUG)
        if logger.isEnabledFor(py_level):
            logger.log(py_level, "%s", ffi.unpack(message.data, message.len).decode("utf-8", errors="replace"))
    except BaseException:  # pragma: no cover - never let anything unwind into C
        pass


def install() -> None:
    """Routes the library's log lines to `logging` (done at import)."""
    err = ffi.new("driftsync_error_t **")
    if lib.driftsync_set_log_callback(_THRESHOLD, _log_trampoline, ffi.NULL, ffi.NULL, err) != 0:
        lib.driftsync_error_free(err[0])  # another logger owns the process's log (an embedding host)


def uninstall() -> None:
    """Stops passing log lines (at exit, so no line reaches a finalizing interpreter)."""
    lib.driftsync_set_log_callback(0, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL)
