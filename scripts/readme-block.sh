#!/usr/bin/env bash
# Prints the fenced code block that follows the marker `<!-- readme-test: NAME -->` in a README,
# so tests run a README's commands exactly as written (a README example that stops working fails
# the build). Exits non-zero when the marker or its block is missing.
#   scripts/readme-block.sh README.md NAME
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/readme-block.sh README NAME" >&2; exit 2; }
awk -v marker="<!-- readme-test: $2 -->" '
    $0 == marker { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { done = 1; exit }
    found == 2 { print }
    END { if (!done) exit 1 }
' "$1" || { echo "readme-block.sh: no block \"$2\" in $1" >&2; exit 1; }
