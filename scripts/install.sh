#!/usr/bin/env bash
# Installs the C library the way C libraries are installed:
#   PREFIX/include/driftsync.h
#   PREFIX/lib/libdriftsync.so.<ABI>   SONAME libdriftsync.so.<ABI> (ABI = DRIFTSYNC_ABI_VERSION),
#                                      stripped, exports only driftsync_* (driftsync.map)
#   PREFIX/lib/libdriftsync.so         -> libdriftsync.so.<ABI> (for -ldriftsync)
#   PREFIX/lib/libdriftsync.a          one relocatable object; only driftsync_* stay global
#   PREFIX/lib/pkgconfig/driftsync.pc  `pkg-config --cflags --libs [--static] driftsync`
#
#   scripts/install.sh PREFIX          (builds with `cargo build --release --lib` first)
#
# The static library is a partial link (`ld -r`) of cargo's staticlib whose symbols other than
# driftsync_* are then made local (objcopy), so the bundled SQLite and the Rust runtime inside it
# cannot clash with an application's own SQLite or Rust code.
set -euo pipefail
if [ $# -ne 1 ] || [ -z "$1" ] || [ "${1#-}" != "$1" ]; then
    echo "usage: scripts/install.sh PREFIX" >&2
    exit 2
fi
mkdir -p "$1"
PREFIX=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
for tool in cargo ld objcopy ar strip; do
    command -v "$tool" >/dev/null || { echo "install.sh: $tool is required" >&2; exit 1; }
done

header=include/driftsync.h
define() { sed -n "s/^#define $1 \\([0-9]*\\)\$/\\1/p" "$header"; }
VERSION="$(define DRIFTSYNC_VERSION_MAJOR).$(define DRIFTSYNC_VERSION_MINOR).$(define DRIFTSYNC_VERSION_PATCH)"
ABI=$(define DRIFTSYNC_ABI_VERSION)
[ "$VERSION" != ".." ] && [ -n "$ABI" ] || { echo "install.sh: no version in $header" >&2; exit 1; }

echo "== cargo build --release --lib"
cargo build --release --lib
BUILT="$TARGET_DIR/release"
SONAME="libdriftsync.so.$ABI"
if command -v readelf >/dev/null && ! readelf -d "$BUILT/libdriftsync.so" | grep -q "Library soname: \[$SONAME\]"; then
    echo "install.sh: $BUILT/libdriftsync.so has no SONAME $SONAME (build.rs)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== static library: partial link, only driftsync_* global"
ld -r --whole-archive "$BUILT/libdriftsync.a" -o "$work/driftsync.o"
# The partial link concatenates the objects' embedded LLVM bitcode (.llvmbc/.llvmcmd) into
# something no LTO plugin can read (ar and nm crash on it), and .llvm_addrsig means nothing once
# merged: all three are dropped; the machine code is what gets linked.
objcopy --wildcard --keep-global-symbol='driftsync_*' --strip-debug \
    --remove-section=.llvmbc --remove-section=.llvmcmd --remove-section=.llvm_addrsig "$work/driftsync.o"
rm -f "$work/libdriftsync.a"
ar rcs "$work/libdriftsync.a" "$work/driftsync.o"

echo "== installing into $PREFIX"
install -d "$PREFIX/include" "$PREFIX/lib/pkgconfig"
install -m 644 "$header" "$PREFIX/include/driftsync.h"
install -m 755 "$BUILT/libdriftsync.so" "$PREFIX/lib/$SONAME"
strip --strip-unneeded "$PREFIX/lib/$SONAME"
ln -sfn "$SONAME" "$PREFIX/lib/libdriftsync.so"
install -m 644 "$work/libdriftsync.a" "$PREFIX/lib/libdriftsync.a"
# Libs.private: what the Rust standard library and SQLite need from libc when linking statically.
cat >"$PREFIX/lib/pkgconfig/driftsync.pc" <<EOF
prefix=$PREFIX
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: driftsync
Description: Offline-first object database core with sync and client reset (C ABI $ABI)
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} -ldriftsync
Libs.private: -lm -lpthread -ldl
EOF
echo "installed driftsync $VERSION (ABI $ABI) into $PREFIX"
