#!/usr/bin/env bash
# The C ABI checks: the committed header matches what cbindgen generates from src/ffi/, the header
# compiles as C (included twice) and C++, and every C harness program under tests/c/ passes, both
# plainly and under valgrind (no errors, no definite leaks). test_sync_reset starts the reference
# server (target/debug/driftsync-server, built here) as its child process; valgrind checks only
# the C program, not the server. Exits non-zero on any failure.
#   scripts/test-c.sh            run everything
#   scripts/test-c.sh --regen    rewrite include/driftsync.h, then run everything
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CBINDGEN_VERSION=0.29
# A cbindgen 0.29 on PATH (the vendored one, or the user's) comes first; otherwise one is
# installed under target/tools (needs a crate registry).
CBINDGEN="$TARGET_DIR/tools/bin/cbindgen"
if command -v cbindgen >/dev/null && cbindgen --version 2>/dev/null | grep -q "^cbindgen $CBINDGEN_VERSION\."; then
    CBINDGEN=$(command -v cbindgen)
fi
CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
export RUST_BACKTRACE=0

if ! "$CBINDGEN" --version 2>/dev/null | grep -q "^cbindgen $CBINDGEN_VERSION\."; then
    echo "== installing cbindgen $CBINDGEN_VERSION"
    cargo install cbindgen --version "^$CBINDGEN_VERSION" --root "$TARGET_DIR/tools"
fi
if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y valgrind
    else
        echo "valgrind is required (apt-get install valgrind)" >&2
        exit 1
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== header (cbindgen $("$CBINDGEN" --version | cut -d' ' -f2))"
"$CBINDGEN" --quiet --config cbindgen.toml --output "$work/driftsync.h" src/ffi/mod.rs
if [ "${1:-}" = "--regen" ]; then
    cp "$work/driftsync.h" include/driftsync.h
    echo "include/driftsync.h regenerated"
fi
if ! diff -u include/driftsync.h "$work/driftsync.h"; then
    echo "FAIL: include/driftsync.h is stale; regenerate it with scripts/test-c.sh --regen and commit it" >&2
    exit 1
fi

echo "== library and reference server"
cargo build --lib
cargo build -p driftsync-server
LIB_DIR="$TARGET_DIR/debug"
test -f "$LIB_DIR/libdriftsync.so"
# The library's SONAME is libdriftsync.so.<ABI> (build.rs), the name a program linked against it
# loads; cargo writes only libdriftsync.so, so the harness links against a directory with both.
ABI=$(sed -n 's/^#define DRIFTSYNC_ABI_VERSION \([0-9]*\)$/\1/p' include/driftsync.h)
mkdir -p "$work/lib"
ln -s "$LIB_DIR/libdriftsync.so" "$work/lib/libdriftsync.so"
ln -s "$LIB_DIR/libdriftsync.so" "$work/lib/libdriftsync.so.$ABI"
export DRIFTSYNC_SERVER="$TARGET_DIR/debug/driftsync-server"
test -x "$DRIFTSYNC_SERVER"
# Makes a test CA and server certificate for the wss:// case.
cargo build --example test_pki
export DRIFTSYNC_TEST_PKI="$TARGET_DIR/debug/examples/test_pki"

echo "== compile-only: the header included twice, as C and as C++"
gcc "${CFLAGS[@]}" -Iinclude -fsyntax-only tests/c/compile_twice.c
g++ -fsyntax-only -x c++ -Wall -Wextra -Wpedantic -Werror -Iinclude tests/c/compile_twice.c

status=0
for src in tests/c/test_*.c; do
    name=$(basename "$src" .c)
    exe="$work/$name"
    echo "== $name"
    gcc "${CFLAGS[@]}" -Iinclude "$src" -o "$exe" -L"$work/lib" -ldriftsync -Wl,-rpath,"$work/lib" -pthread
    for mode in plain valgrind; do
        scratch=$(mktemp -d "$work/$name-$mode.XXXX")
        # A harness that hangs is killed (SIGTERM: it kills its server child first); valgrind
        # runs the C program only (no --trace-children), with a longer limit.
        if [ $mode = plain ]; then
            runner=(timeout -k 10 600)
        else
            runner=(timeout -k 10 1800 valgrind -q --error-exitcode=99 --suppressions=tests/c/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite)
        fi
        set +e
        "${runner[@]}" "$exe" "$scratch" >"$work/out" 2>"$work/err"
        rc=$?
        set -e
        last=$(tail -n 1 "$work/out")
        echo "   $mode: $last (exit $rc)"
        if [ $rc -ne 0 ] || ! [[ "$last" =~ ^[0-9]+\ passed,\ 0\ failed$ ]]; then
            grep -v -e 'driftsync_debug_panic' -e 'panicked at' -e '^note: run with' "$work/err" >&2 || true
            echo "FAIL: $name ($mode)" >&2
            status=1
        fi
    done
done
exit $status
