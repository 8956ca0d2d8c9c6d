#!/usr/bin/env bash
# The Kotlin binding's checks: builds the reference server with cargo, then runs `mvn -q -B test`
# in bindings/kotlin (its generate-resources phase builds the release library with cargo and the
# jar bundles it at linux-x86-64/libdriftsync.so; JUnit 5: the C ABI through JNA, and end-to-end
# client resets against driftsync-server as a child process). Then `mvn install` of the binding
# and a separate consumer project (a copy of bindings/kotlin/consumer-example, which declares the
# README's dependency block and nothing else) built and run against the installed jar with no
# system property. Exits non-zero on any failure.
#   scripts/test-kotlin.sh                 everything
#   scripts/test-kotlin.sh -Dtest=SyncTest extra Maven arguments for `mvn test` (e.g. one class)
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

echo "== reference server (cargo build)"
cargo build -p driftsync-server
cargo build --example test_pki
test -x "$TARGET_DIR/debug/driftsync-server"

echo "== Kotlin binding (mvn test)"
cd "$ROOT/bindings/kotlin"
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

echo "== Kotlin: mvn install, then a consumer project against the installed jar"
mvn -q -B install -DskipTests -Ddriftsync.cargo.target="$TARGET_DIR"
jar="$HOME/.m2/repository/io/driftsync/driftsync-kotlin/0.1.0/driftsync-kotlin-0.1.0.jar"
unzip -Z1 "$jar" | grep -x "linux-x86-64/libdriftsync.so" >/dev/null || { echo "FAIL: kotlin_jar_bundles_library: $jar" >&2; exit 1; }
# The README's dependency block is the consumer's only dependency (whitespace aside).
squash() { tr -d ' \n\t'; }
"$ROOT/scripts/readme-block.sh" "$ROOT/bindings/kotlin/README.md" kotlin-dependency | squash >"$ROOT/target/kotlin-readme-dependency"
grep -qF "$(cat "$ROOT/target/kotlin-readme-dependency")" <(squash <consumer-example/pom.xml) \
    || { echo "FAIL: kotlin_readme_dependency: the README's block is not the consumer's dependency" >&2; exit 1; }
consumer=$(mktemp -d)
trap 'rm -rf "$consumer"' EXIT
cp -r consumer-example/pom.xml consumer-example/src "$consumer/"
out=$(cd "$consumer" && mvn -q -B -Dstyle.color=never package exec:java -Dexec.args="$consumer" | sed 's/\x1b\[[0-9;]*m//g')
echo "$out"
echo "$out" | grep -q "^driftsync [0-9.]*: 1 Task(s), title=from a consumer project$" \
    || { echo "FAIL: kotlin_consumer_project: unexpected output" >&2; exit 1; }
echo "Kotlin consumer project: passed"
