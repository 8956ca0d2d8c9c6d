"""Loads the shared library shipped in this package and checks its ABI version.

Internal: the rest of the package calls the C ABI through `ffi` and `lib` from here.
"""

from __future__ import annotations

import os
from typing import Any

from . import _build_info
from ._ffi import ffi

__all__ = ["ffi", "lib", "LIBRARY_PATH", "ABI_VERSION"]

LIBRARY_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), _build_info.LIBRARY_FILE)

#: The ABI version this package was generated for (DRIFTSYNC_ABI_VERSION of its header).
ABI_VERSION: int = _build_info.HEADER_ABI_VERSION


def _load() -> Any:
    try:
        library = ffi.dlopen(LIBRARY_PATH)
    except OSError as e:  # pragma: no cover - a broken installation
        raise ImportError(
            f"driftsync: cannot load the native library {LIBRARY_PATH}: {e}. Reinstall the package "
            "(pip install --force-reinstall bindings/python)."
        ) from e
    check_abi(int(library.driftsync_abi_version()), ffi.string(library.driftsync_version()).decode())
    return library


def check_abi(found: int, library_version: str) -> None:
    """Raises ImportError when the loaded library speaks another ABI than the declarations."""
    if found != ABI_VERSION:
        raise ImportError(
            f"driftsync: ABI version mismatch: the Python package was built for C ABI version "
            f"{ABI_VERSION} (header {_build_info.HEADER_VERSION}) but the library at {LIBRARY_PATH} "
            f"is version {library_version} with ABI version {found}. Rebuild and reinstall the "
            "package from one checkout (pip install --force-reinstall bindings/python)."
        )


lib = _load()


def has(name: str) -> bool:
    """Whether the loaded library and header provide the C function `name`."""
    try:
        getattr(lib, name)
        return True
    except AttributeError:
        return False
