#!/usr/bin/env bash
# The C install checks: scripts/install.sh into a temporary prefix, then
#   - the files, the SONAME, a stripped library that exports only driftsync_* (nm -D: no sqlite3_);
#   - a static library whose only global symbols are driftsync_*;
#   - examples/c/hello.c built with `pkg-config --cflags --libs driftsync` and again fully static
#     with `--static` (Libs.private), both run;
#   - a program with its own sqlite3_* symbols links against the static library (no clash);
#   - the README's "Use from C" commands, run as written (HOME set to a temporary directory).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "   ok: $*"; }

PREFIX="$work/prefix"
./scripts/install.sh "$PREFIX"
ABI=$(sed -n 's/^#define DRIFTSYNC_ABI_VERSION \([0-9]*\)$/\1/p' include/driftsync.h)
LIB="$PREFIX/lib/libdriftsync.so.$ABI"

echo "== install_layout"
for f in include/driftsync.h "lib/libdriftsync.so.$ABI" lib/libdriftsync.a lib/pkgconfig/driftsync.pc; do
    [ -f "$PREFIX/$f" ] || fail "install_layout: $f missing"
done
[ "$(readlink "$PREFIX/lib/libdriftsync.so")" = "libdriftsync.so.$ABI" ] || fail "install_layout: libdriftsync.so is not a symlink to libdriftsync.so.$ABI"
# (outputs are read whole before grep: with pipefail, `cmd | grep -q` can fail by SIGPIPE)
dynamic=$(readelf -d "$LIB")
grep -q "Library soname: \[libdriftsync.so.$ABI\]" <<<"$dynamic" || fail "install_soname: no SONAME libdriftsync.so.$ABI"
sections=$(readelf -S -W "$LIB")
if grep -q -e '\.symtab' -e '\.debug_' <<<"$sections"; then fail "install_stripped: $LIB has a symbol table or debug info"; fi
pass "layout, SONAME libdriftsync.so.$ABI, stripped"

echo "== install_exports_only_driftsync"
exported=$(nm -D --defined-only "$LIB" | awk '{print $3}')
[ -n "$exported" ] || fail "install_exports_only_driftsync: nothing exported"
if grep -q '^sqlite3_' <<<"$exported"; then fail "install_exports_only_driftsync: the shared library exports sqlite3_ symbols"; fi
others=$(grep -v -e '^driftsync_' -e '^DRIFTSYNC_[0-9]*$' <<<"$exported" || true)
[ -z "$others" ] || fail "install_exports_only_driftsync: also exported: $(head -5 <<<"$others")"
static_globals=$(nm -g --defined-only "$PREFIX/lib/libdriftsync.a" 2>/dev/null | awk 'NF == 3 {print $3}')
grep -q '^driftsync_realm_open$' <<<"$static_globals" || fail "install_static_globals: driftsync_realm_open not global in libdriftsync.a"
others=$(grep -v '^driftsync_' <<<"$static_globals" || true)
[ -z "$others" ] || fail "install_static_globals: libdriftsync.a also has global: $(head -5 <<<"$others")"
pass "$(wc -l <<<"$exported") symbols exported, all driftsync_*; libdriftsync.a global symbols all driftsync_*"

export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
echo "== install_pkg_config_shared"
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror examples/c/hello.c -o "$work/hello" $(pkg-config --cflags --libs driftsync) -Wl,-rpath,"$PREFIX/lib"
dynamic=$(readelf -d "$work/hello")
grep -q "NEEDED.*\[libdriftsync.so.$ABI\]" <<<"$dynamic" || fail "install_pkg_config_shared: hello does not need libdriftsync.so.$ABI"
out=$("$work/hello" "$work/shared.realm") || fail "install_pkg_config_shared: hello failed"
version=$(cargo metadata --no-deps --format-version 1 | grep -o '"name":"driftsync","version":"[^"]*"' | cut -d'"' -f8)
[ "$out" = "driftsync $version: 1 Task object(s) in $work/shared.realm" ] || fail "install_pkg_config_shared: unexpected output: $out"
pass "$out"

echo "== install_pkg_config_static"
# Fully static: the Libs.private libraries are needed, nothing is loaded at run time.
# shellcheck disable=SC2046
gcc -std=c11 -static examples/c/hello.c -o "$work/hello-static" $(pkg-config --cflags --libs --static driftsync) 2>"$work/static.err" \
    || { cat "$work/static.err" >&2; fail "install_pkg_config_static: link failed"; }
dynamic=$(readelf -d "$work/hello-static" 2>&1 || true)
if grep -q NEEDED <<<"$dynamic"; then fail "install_pkg_config_static: hello-static is not static"; fi
"$work/hello-static" "$work/static.realm" >/dev/null || fail "install_pkg_config_static: hello-static failed"
out=$("$work/hello-static" "$work/static.realm")
[[ "$out" == *": 2 Task object(s) in $work/static.realm" ]] || fail "install_pkg_config_static: unexpected output: $out"
pass "$out"

echo "== install_static_no_sqlite_clash"
# An app with its own SQLite symbols (every iOS app links one) links the static library too.
cat >"$work/clash.c" <<'C'
#include <driftsync.h>
#include <stdio.h>
#include <string.h>
const char *sqlite3_libversion(void) { return "the app's own sqlite"; }
int sqlite3_open(const char *name, void **db) { (void)name; *db = 0; return 0; }
int main(void) {
    void *db;
    if (strcmp(sqlite3_libversion(), "the app's own sqlite") != 0 || sqlite3_open("x", &db) != 0) return 1;
    printf("app sqlite + driftsync %s\n", driftsync_version());
    return driftsync_abi_version() == DRIFTSYNC_ABI_VERSION ? 0 : 1;
}
C
# shellcheck disable=SC2046
gcc -std=c11 "$work/clash.c" -o "$work/clash" $(pkg-config --cflags driftsync) "$PREFIX/lib/libdriftsync.a" $(pkg-config --libs-only-l --static driftsync | sed 's/-ldriftsync//') \
    || fail "install_static_no_sqlite_clash: link failed (duplicate sqlite3_ symbols?)"
"$work/clash" || fail "install_static_no_sqlite_clash: run failed"
pass "links and runs beside its own sqlite3_open / sqlite3_libversion"

echo "== readme_c_install (README.md, \"Use from C\", as written)"
./scripts/readme-block.sh README.md c-install >"$work/readme-c.sh"
mkdir -p "$work/home"
# The README installs into ~/.local: HOME is a temporary directory; cargo keeps its own home.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
(cd "$ROOT" && HOME="$work/home" CARGO_HOME="$cargo_home" RUSTUP_HOME="$rustup_home" \
    PKG_CONFIG_PATH='' bash -euo pipefail "$work/readme-c.sh") >"$work/readme.out" 2>&1 \
    || { cat "$work/readme.out" >&2; fail "readme_c_install: the README's commands failed"; }
grep -q "Task object(s) in" "$work/readme.out" || { cat "$work/readme.out" >&2; fail "readme_c_install: no output from hello"; }
pass "$(tail -n 1 "$work/readme.out")"
echo "C install: all checks passed"
