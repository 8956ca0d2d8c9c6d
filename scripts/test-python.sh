#!/usr/bin/env bash
# Python binding tests: a virtual environment (target/py-venv, created when missing), the wheel
# built from bindings/python by maturin (cffi mode: it runs cargo, generates the declarations and
# strips the library), checked (tagged py3-none-<platform>, library stripped), installed; the
# sdist (maturin sdist) checked and built into a wheel by pip with cargo; then
# pytest (including tests/test_readme.py: the README's example as written). Re-runs reuse
# the venv and skip the rebuild when neither the crate nor the package sources changed.
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
PROFILE=${DRIFTSYNC_BUILD_PROFILE:-debug}

echo "== python: virtual environment $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# The build backend (maturin's Python shim) runs the `maturin` executable from PATH.
export PATH="$VENV/bin:$PATH"
# Build requirements (installed once so the package builds without isolation) and pytest.
if ! "$PY" -c "import maturin, cffi, pytest" 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check "maturin>=1.9,<2" "cffi>=1.15" "pytest>=7"
fi

echo "== python: cargo build (reference server)"
cargo build -q -p driftsync-server
cargo build -q --example test_pki
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | "$PY" -c "import json,sys; print(json.load(sys.stdin)['target_directory'])")
export DRIFTSYNC_SERVER_BIN="$TARGET_DIR/debug/driftsync-server"

echo "== python: wheel of bindings/python (maturin, cargo profile $PROFILE)"
WHEELS="$TARGET_DIR/py-wheels"
STAMP="$VENV/.driftsync-install-stamp"
NEW_STAMP=$( { find src include build.rs driftsync.map cbindgen.toml Cargo.toml Cargo.lock bindings/python/src \
                    bindings/python/pyproject.toml -type f ! -path '*/__pycache__/*' -print0 \
                   | sort -z | xargs -0 sha256sum; echo "$PROFILE"; } | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$NEW_STAMP" ] || ! "$PY" -c "import driftsync" 2>/dev/null; then
    rm -rf "$WHEELS"
    # maturin's own cargo profile flag; the wheel is what `pip install` would install.
    [ "$PROFILE" = release ] || export MATURIN_PEP517_ARGS="--profile ${PROFILE/debug/dev}"
    "$PY" -m pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps -w "$WHEELS" ./bindings/python
    wheel=$(ls "$WHEELS"/driftsync-*.whl)
    "$PY" - "$wheel" <<'PY'
import re, subprocess, sys, tempfile, zipfile
wheel = sys.argv[1]
# One wheel for every Python 3 on the platform: the library is not a CPython extension.
tag = re.search(r"-(py3-none-[^.]+)\.whl$", wheel)
assert tag and re.fullmatch(r"py3-none-(linux|manylinux_\d+_\d+)_x86_64", tag.group(1)), f"wheel_tag: {wheel}"
with zipfile.ZipFile(wheel) as z:
    libs = [n for n in z.namelist() if n.startswith("driftsync/_ffi/") and ".so" in n]
    assert len(libs) == 1, f"wheel_library: {z.namelist()}"
    with tempfile.NamedTemporaryFile(suffix=".so") as f:
        f.write(z.read(libs[0]))
        f.flush()
        sections = subprocess.run(["readelf", "-S", "-W", f.name], check=True, capture_output=True, text=True).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections, "wheel_stripped: the library has symbols"
    print(f"   ok: {tag.group(1)}, {libs[0]} stripped ({z.getinfo(libs[0]).file_size // 1024} KiB)")
PY
    "$PY" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel"

    echo "== python: sdist (maturin sdist), built into a wheel by pip with cargo"
    rm -rf "$TARGET_DIR/py-sdist"
    (cd bindings/python && maturin sdist -o "$TARGET_DIR/py-sdist") >"$TARGET_DIR/py-sdist.log" 2>&1 \
        || { cat "$TARGET_DIR/py-sdist.log" >&2; echo "FAIL: python_sdist: maturin sdist failed" >&2; exit 1; }
    sdist=$(ls "$TARGET_DIR"/py-sdist/driftsync-*.tar.gz)
    listing=$(tar tzf "$sdist")
    for f in Cargo.toml Cargo.lock build.rs driftsync.map cbindgen.toml include/driftsync.h src/lib.rs src/ffi/mod.rs \
             pyproject.toml bindings/python/pyproject.toml bindings/python/src/driftsync/__init__.py; do
        grep -qx "driftsync-[^/]*/$f" <<<"$listing" || { echo "FAIL: python_sdist_contents: $f missing from $sdist" >&2; exit 1; }
    done
    # Unpacked elsewhere by pip, so it builds from what the sdist holds, in a fresh cargo target
    # dir: the sdist's files carry fixed mtimes, which a reused target dir would take as built.
    CARGO_TARGET_DIR="$TARGET_DIR/py-sdist/target" "$PY" -m pip wheel -q --disable-pip-version-check --no-build-isolation \
        --no-deps -w "$TARGET_DIR/py-sdist/wheel" "$sdist"
    ls "$TARGET_DIR"/py-sdist/wheel/driftsync-*-py3-none-*.whl >/dev/null
    echo "   ok: $(basename "$sdist") builds: $(basename "$(ls "$TARGET_DIR"/py-sdist/wheel/*.whl)")"
    echo "$NEW_STAMP" > "$STAMP"
else
    echo "(unchanged: rebuild skipped)"
fi
# The import check of the issue, from outside the source tree.
(cd / && "$PY" -c "import driftsync; print('driftsync', driftsync.__version__, 'ABI', driftsync.abi_version())")

echo "== python: pytest"
export DRIFTSYNC_TEST_PKI="$TARGET_DIR/debug/examples/test_pki"
cd bindings/python
exec "$PY" -m pytest -q -p no:cacheprovider "$@" tests
