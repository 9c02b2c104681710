#!/bin/bash
# Regenerates every golden file under tests/golden from data/sample.pcap, then shows the diff
# for review. Each file is written only if two runs give identical output.
# usage: tests/golden/regen.sh [TAPFLOW]     (default: build/tapflow, built with ninja first)
set -euo pipefail
cd "$(dirname "$0")/../.."
tapflow=${1:-build/tapflow}
if [[ $# -eq 0 ]]; then
    [[ -f build/build.ninja ]] || { echo "+ meson setup build"; meson setup build; }
    echo "+ ninja -C build"
    ninja -C build
fi
for kind in jsonl v5 v9 ipfix; do
    echo "+ tests/golden/golden.py $tapflow . $kind --regen"
    /usr/bin/python3 tests/golden/golden.py "$tapflow" . "$kind" --regen
done
echo "+ tests/golden/docs.py $tapflow . --regen"
/usr/bin/python3 tests/golden/docs.py "$tapflow" . --regen
git --no-pager diff --stat -- tests/golden docs || true
