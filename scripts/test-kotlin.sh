#!/usr/bin/env bash
# The Kotlin binding's checks: builds the native library and the reference server with cargo,
# then runs `mvn -q -B test` in bindings/kotlin (JUnit 5: the C ABI through JNA, and end-to-end
# client resets against driftsync-server as a child process). Maven downloads Kotlin, JNA and
# JUnit from Maven Central on a clean machine. Exits non-zero on any failure.
#   scripts/test-kotlin.sh                 everything
#   scripts/test-kotlin.sh -Dtest=SyncTest extra Maven arguments (e.g. one test class)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export RUST_BACKTRACE=0

for tool in cargo java mvn; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is required (Java 17+ and Maven 3.8+ for the Kotlin binding)" >&2
        exit 1
    fi
done

echo "== native library and reference server (cargo build)"
cargo build --lib
cargo build -p driftsync-server
cargo build --example test_pki
test -f "$TARGET_DIR/debug/libdriftsync.so"
test -x "$TARGET_DIR/debug/driftsync-server"

echo "== Kotlin binding (mvn test)"
cd bindings/kotlin
mvn -q -B test -Ddriftsync.cargo.target="$TARGET_DIR" "$@"
# Maven runs quietly; the count comes from Surefire's reports.
python3 - <<'PY'
import glob, xml.etree.ElementTree as ET
t = f = s = 0
for path in glob.glob("target/surefire-reports/TEST-*.xml"):
    r = ET.parse(path).getroot()
    t += int(r.get("tests", 0)); s += int(r.get("skipped", 0))
    f += int(r.get("failures", 0)) + int(r.get("errors", 0))
print(f"Kotlin: {t - f - s} passed, {f} failed, {s} skipped")
PY
