"""Ownership of C handles and of the Python objects handed to C as `user_data`.

Internal. A C handle is freed exactly once: by `close()`, or by the garbage collector
(weakref.finalize), and never while another Python thread is still inside a call with it.
"""

from __future__ import annotations

import sys
import threading
import traceback
from typing import Any, Callable, Dict, List, Optional

from ._native import ffi
from .errors import ClosedError

__all__ = ["Owned", "Registration", "report_callback_exception", "set_callback_error_handler"]


class Owned:
    """A C pointer with a use count. `with owned as ptr:` marks a call in progress."""

    __slots__ = ("ptr", "_free", "_lock", "_users", "_closing", "what", "__weakref__")

    def __init__(self, ptr: Any, free: Optional[Callable[[Any], None]], what: str = "handle") -> None:
        self.ptr = ptr
        self._free = free
        self._lock = threading.Lock()
        self._users = 0
        self._closing = False
        self.what = what

    def __enter__(self) -> Any:
        with self._lock:
            if self.ptr is None:
                raise ClosedError(f"the {self.what} is closed")
            self._users += 1
            return self.ptr

    def __exit__(self, *exc: Any) -> None:
        p = None
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._closing and self.ptr is not None:
                p, self.ptr = self.ptr, None
        if p is not None and self._free is not None:
            self._free(p)

    @property
    def alive(self) -> bool:
        return self.ptr is not None and not self._closing

    def release(self) -> None:
        """Frees the pointer now, or when the last running call with it returns."""
        with self._lock:
            if self.ptr is None or self._closing:
                return
            self._closing = True
            if self._users:
                return
            p, self.ptr = self.ptr, None
        if self._free is not None:
            self._free(p)


# -- user_data ------------------------------------------------------------------------------

_registry: Dict[int, "Registration"] = {}
_registry_lock = threading.Lock()


class Registration:
    """A Python callable handed to C as user_data. It stays referenced (so it is not collected
    while C may call it) until C runs user_data_free."""

    __slots__ = ("fn", "handle", "exceptions", "where", "extra", "__weakref__")

    def __init__(self, fn: Any, where: str, extra: Any = None) -> None:
        self.fn = fn
        self.where = where
        self.extra = extra
        self.exceptions: List[BaseException] = []
        self.handle = ffi.new_handle(self)
        with _registry_lock:
            _registry[id(self)] = self

    def record(self, exc: BaseException) -> None:
        if len(self.exceptions) < 100:
            self.exceptions.append(exc)
        report_callback_exception(self.where, exc)


def live_registrations() -> int:
    """How many callables C still holds (for tests)."""
    with _registry_lock:
        return len(_registry)


@ffi.callback("driftsync_user_data_free_fn")
def user_data_free(user_data: Any) -> None:
    try:
        reg = ffi.from_handle(user_data)
        with _registry_lock:
            _registry.pop(id(reg), None)
    except BaseException:  # pragma: no cover - never let anything unwind into C
        pass


# -- errors raised by callbacks -------------------------------------------------------------

_handler: Optional[Callable[[str, BaseException], None]] = None


def set_callback_error_handler(handler: Optional[Callable[[str, BaseException], None]]) -> None:
    """Sets what happens to an exception raised by an observer, hook or other callback that the
    library called (`handler(where, exception)`). By default the traceback is printed to stderr.
    The exception never propagates into the library; hooks additionally report failure to it."""
    global _handler
    _handler = handler


def report_callback_exception(where: str, exc: BaseException, followed: Optional[str] = None) -> None:
    """Reports an exception a callback raised: to the handler set by `set_callback_error_handler`,
    else on stderr with what followed (for a hook: what the library did instead)."""
    try:
        h = _handler
        if h is not None:
            h(where, exc)
        else:
            what = followed or f"the {where} callback raised; the exception did not reach the library"
            print(f"driftsync: {what}:", file=sys.stderr)
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    except BaseException:  # pragma: no cover
        pass
