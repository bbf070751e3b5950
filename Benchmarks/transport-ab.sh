#!/usr/bin/env bash
# Compares serve's transport between this work tree (A) and a baseline commit (B):
# Benchmarks/transport-loop built in release against each tree, then run in turn,
# A B A B ..., so that a drift of the machine's speed hits both alike. Not part of
# `make bench` (it builds a second tree): run it by hand when a change to the
# transport needs an A/B figure.
#
#   Benchmarks/transport-ab.sh BASE_REF              # e.g. main, or HEAD~1
#   RUNS=10 ROUNDTRIPS=200000 BATCHES=50000 CONNECTS=1000 Benchmarks/transport-ab.sh BASE_REF
#   PIN=0 Benchmarks/transport-ab.sh BASE_REF    # every thread on CPU 0 (taskset)
#
# Prints, per mode, each side's median of its own figure (ns per message, or per
# connection) and the median, min and max of the A/B ratio over the pairs.
# Builds only offline-resolvable dependencies (no benchmark framework). B's tree is
# a `git archive` in a temporary directory, removed at the end.
set -euo pipefail

BASE=${1:?usage: Benchmarks/transport-ab.sh BASE_REF}
RUNS=${RUNS:-10}
ROUNDTRIPS=${ROUNDTRIPS:-200000}
BATCHES=${BATCHES:-50000}
CONNECTS=${CONNECTS:-1000}

cd "$(dirname "$0")/.."
ROOT=$PWD
source Benchmarks/lib.sh
TMP=$(mktemp -d /tmp/scmi-dt-transport-ab-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

echo "== A: this work tree; B: $BASE ($(git rev-parse --short "$BASE"))"
mkdir -p "$TMP/base"
git archive "$BASE" | tar -x -C "$TMP/base"
rm -rf "$TMP/base/Benchmarks/transport-loop"
mkdir -p "$TMP/base/Benchmarks"
cp -r "$ROOT/Benchmarks/transport-loop" "$TMP/base/Benchmarks/transport-loop"
rm -rf "$TMP/base/Benchmarks/transport-loop/.build"

for side in "$ROOT" "$TMP/base"; do
    echo "== building transport-loop against $side (release)"
    (cd "$side/Benchmarks/transport-loop" && swift build -c release -q)
done
A=$ROOT/Benchmarks/transport-loop/.build/release/transport-loop
B=$TMP/base/Benchmarks/transport-loop/.build/release/transport-loop

for run in "roundtrip $ROUNDTRIPS" "batch $BATCHES" "connect $CONNECTS"; do
    mode=${run%% *}
    echo "== $run"
    for ((i = 0; i < RUNS; i++)); do
        # shellcheck disable=SC2086
        ${PIN:+taskset -c "$PIN"} "$A" $run >>"$TMP/A-$mode.txt"
        # shellcheck disable=SC2086
        ${PIN:+taskset -c "$PIN"} "$B" $run >>"$TMP/B-$mode.txt"
    done
    unit=message
    [[ $mode == connect ]] && unit=connection
    # Each line ends "X ns per UNIT": X is the fourth field from the end.
    paste <(awk '{ print $(NF - 3) }' "$TMP/A-$mode.txt") <(awk '{ print $(NF - 3) }' "$TMP/B-$mode.txt") |
        awk '{ print $1 / $2 }' | spread >"$TMP/ratio-$mode.txt"
    read -r m lo hi <"$TMP/ratio-$mode.txt"
    echo "median ns per $unit: A $(awk '{ print $(NF - 3) }' "$TMP/A-$mode.txt" | spread | cut -d' ' -f1)," \
        "B $(awk '{ print $(NF - 3) }' "$TMP/B-$mode.txt" | spread | cut -d' ' -f1); A/B $(ratio_text "$m" "$lo" "$hi") over $RUNS pairs"
done
