#!/usr/bin/env bash
# The project's test command: every check, from a fresh machine. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format and lints"
# A lint that is not installed is said so, never reported as passed.
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all --check
else
    echo "cargo fmt is not installed on this machine: formatting NOT checked"
fi
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets -- -D warnings
else
    echo "cargo clippy is not installed on this machine: lints NOT checked"
fi

echo "== Rust tests"
cargo test --workspace

echo "== C ABI: header freshness, C11/C++ compile checks, harness plain and under valgrind"
./scripts/test-c.sh

echo "== C install: scripts/install.sh into a temporary prefix, pkg-config shared and static, exports"
./scripts/test-install.sh

echo "== Python binding (pytest in a fresh virtual environment)"
./scripts/test-python.sh

echo "== Kotlin binding (JUnit 5 via Maven)"
./scripts/test-kotlin.sh

echo "== Swift binding (XCTest via swift test)"
./scripts/test-swift.sh
