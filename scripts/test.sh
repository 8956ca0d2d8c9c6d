#!/usr/bin/env bash
# The project's test command: every check, from a fresh machine. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== Rust tests"
cargo test --workspace

echo "== C ABI: header freshness, C11/C++ compile checks, harness plain and under valgrind"
./scripts/test-c.sh

echo "== Python binding (pytest in a fresh virtual environment)"
./scripts/test-python.sh

echo "== Kotlin binding (JUnit 5 via Maven)"
./scripts/test-kotlin.sh
