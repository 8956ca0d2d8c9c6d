#!/usr/bin/env bash
# Python binding tests: a virtual environment (target/py-venv, created when missing), the package
# installed from bindings/python (the driftsync crate built by its setup.py), the reference
# server binary, then pytest. Re-runs reuse the venv and skip the reinstall when neither the
# library nor the package sources changed.
#
#   DRIFTSYNC_PY_VENV        venv directory (default target/py-venv)
#   PYTHON                   interpreter used to create it (default python3)
#   DRIFTSYNC_BUILD_PROFILE  cargo profile of the library (default debug here: shares the build
#                            of the server and the Rust tests; pip install alone uses release)
#   extra arguments are passed to pytest (e.g. -k reset -x)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

VENV=${DRIFTSYNC_PY_VENV:-$ROOT/target/py-venv}
PYTHON=${PYTHON:-python3}
export DRIFTSYNC_BUILD_PROFILE=${DRIFTSYNC_BUILD_PROFILE:-debug}

echo "== python: virtual environment $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# Build requirements (installed once so the package builds without isolation) and pytest.
if ! "$PY" -c "import setuptools, wheel, cffi, pytest" 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check "setuptools>=64" wheel "cffi>=1.15" "pytest>=7"
fi

echo "== python: cargo build (library, reference server)"
cargo build -q -p driftsync --lib $([ "$DRIFTSYNC_BUILD_PROFILE" = release ] && echo --release)
cargo build -q -p driftsync-server
cargo build -q --example test_pki
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | "$PY" -c "import json,sys; print(json.load(sys.stdin)['target_directory'])")
PROFILE_DIR=$DRIFTSYNC_BUILD_PROFILE
[ "$PROFILE_DIR" = dev ] && PROFILE_DIR=debug

echo "== python: pip install bindings/python"
STAMP="$VENV/.driftsync-install-stamp"
NEW_STAMP=$( { sha256sum "$TARGET_DIR/$PROFILE_DIR/libdriftsync.so" include/driftsync.h Cargo.toml;
              find bindings/python/src bindings/python/setup.py bindings/python/pyproject.toml -type f \
                   ! -name '_ffi.py' ! -name '_build_info.py' ! -name '*.so' ! -path '*/__pycache__/*' -print0 \
                   | sort -z | xargs -0 sha256sum;
              echo "$DRIFTSYNC_BUILD_PROFILE"; } | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$NEW_STAMP" ] || ! "$PY" -c "import driftsync" 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall ./bindings/python
    echo "$NEW_STAMP" > "$STAMP"
else
    echo "(unchanged: install skipped)"
fi
# The import check of the issue, from outside the source tree.
(cd / && "$PY" -c "import driftsync; print('driftsync', driftsync.__version__, 'ABI', driftsync.abi_version())")

echo "== python: pytest"
export DRIFTSYNC_SERVER_BIN="$TARGET_DIR/debug/driftsync-server"
export DRIFTSYNC_TEST_PKI="$TARGET_DIR/debug/examples/test_pki"
cd bindings/python
exec "$PY" -m pytest -q -p no:cacheprovider "$@" tests
