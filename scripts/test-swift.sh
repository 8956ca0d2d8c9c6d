#!/usr/bin/env bash
# The Swift binding's checks: builds the native library and the reference server with cargo,
# writes a pkg-config file (driftsync.pc) pointing at the build tree, then runs `swift test` in
# bindings/swift (XCTest: the C ABI through the CDriftsync module, and end-to-end client resets
# against driftsync-server as a child process). The last line of the output is XCTest's closing
# summary ("Executed N tests, with 0 failures ..."). Exits non-zero on any failure.
#   scripts/test-swift.sh                         everything
#   scripts/test-swift.sh --filter ResetMatrix    extra `swift test` arguments
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export RUST_BACKTRACE=0

if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
for tool in cargo swift pkg-config; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is required for the Swift binding (Swift 5.9+ toolchain with XCTest; pkg-config); it is not installed" >&2
        exit 1
    fi
done

echo "== native library and reference server (cargo build)"
cargo build --lib
cargo build -p driftsync-server
LIB_DIR="$TARGET_DIR/debug"
test -f "$LIB_DIR/libdriftsync.so"
export DRIFTSYNC_SERVER_BIN="$LIB_DIR/driftsync-server"
test -x "$DRIFTSYNC_SERVER_BIN"

# The same name and fields as the driftsync.pc an install writes, pointing at the build tree.
PC_DIR="$TARGET_DIR/pkgconfig"
mkdir -p "$PC_DIR"
define() { sed -n "s/^#define $1 \\([0-9]*\\)\$/\\1/p" include/driftsync.h; }
version="$(define DRIFTSYNC_VERSION_MAJOR).$(define DRIFTSYNC_VERSION_MINOR).$(define DRIFTSYNC_VERSION_PATCH)"
# The library's SONAME is libdriftsync.so.<ABI> (build.rs), the name the test bundle loads;
# cargo writes only libdriftsync.so, so libdir is a directory with both names.
LINK_DIR="$PC_DIR/lib"
mkdir -p "$LINK_DIR"
ln -sfn "$LIB_DIR/libdriftsync.so" "$LINK_DIR/libdriftsync.so"
ln -sfn "$LIB_DIR/libdriftsync.so" "$LINK_DIR/libdriftsync.so.$(define DRIFTSYNC_ABI_VERSION)"
cat >"$PC_DIR/driftsync.pc" <<PC
includedir=$ROOT/include
libdir=$LINK_DIR

Name: driftsync
Description: offline-first object database core (C ABI), build tree
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -ldriftsync
PC
export PKG_CONFIG_PATH="$PC_DIR${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

echo "== Swift binding (swift test)"
cd bindings/swift
log=$(mktemp)
trap 'rm -rf "$log"' EXIT
set +e
# The rpath lets the test bundle find the library in the build tree at run time.
swift test -Xlinker -rpath -Xlinker "$LINK_DIR" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# XCTest prints its summary per suite; the last one is the whole run's. swift-testing prints
# its own (empty) summary after it, so the XCTest line is repeated last.
summary=$(grep -E 'Executed [0-9]+ tests?, with [0-9]+ failures?' "$log" | tail -n 1 | sed 's/^[[:space:]]*//')
if [ -z "$summary" ]; then
    echo "FAIL: swift test printed no XCTest summary (exit $rc)" >&2
    exit 1
fi
echo "$summary"
exit $rc
