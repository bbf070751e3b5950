#!/usr/bin/env bash
# Compares serve's transport between this work tree (A) and a baseline commit (B):
# bench/transport-loop built in release against each tree, then run in turn,
# A B A B ..., so that a drift of the machine's speed hits both alike.
#
#   bench/transport-ab.sh BASE_REF              # e.g. main, or HEAD~1
#   RUNS=10 ROUNDTRIPS=200000 BATCHES=50000 CONNECTS=1000 bench/transport-ab.sh BASE_REF
#   PIN=0 bench/transport-ab.sh BASE_REF    # every thread on CPU 0 (farm-bench --pin)
#
# With farm-bench on the PATH, each mode is one `farm-bench --vs B -- A` call,
# which times whole processes and prints the A/B ratio run pair by run pair;
# without it, each run's own figure (ns per message, or per connection) is printed.
# Builds only offline-resolvable dependencies (no benchmark framework). B's tree is
# a `git archive` in a temporary directory, removed at the end.
set -euo pipefail

BASE=${1:?usage: bench/transport-ab.sh BASE_REF}
RUNS=${RUNS:-10}
ROUNDTRIPS=${ROUNDTRIPS:-200000}
BATCHES=${BATCHES:-50000}
CONNECTS=${CONNECTS:-1000}

cd "$(dirname "$0")/.."
ROOT=$PWD
TMP=$(mktemp -d /tmp/scmi-dt-transport-ab-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

echo "== A: this work tree; B: $BASE ($(git rev-parse --short "$BASE"))"
mkdir -p "$TMP/base"
git archive "$BASE" | tar -x -C "$TMP/base"
rm -rf "$TMP/base/bench/transport-loop"
mkdir -p "$TMP/base/bench"
cp -r "$ROOT/bench/transport-loop" "$TMP/base/bench/transport-loop"
rm -rf "$TMP/base/bench/transport-loop/.build"

for side in "$ROOT" "$TMP/base"; do
    echo "== building transport-loop against $side (release)"
    (cd "$side/bench/transport-loop" && swift build -c release -q)
done
A=$ROOT/bench/transport-loop/.build/release/transport-loop
B=$TMP/base/bench/transport-loop/.build/release/transport-loop

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'; }

for run in "roundtrip $ROUNDTRIPS" "batch $BATCHES" "connect $CONNECTS"; do
    mode=${run%% *}
    echo "== $run"
    if command -v farm-bench >/dev/null; then
        # Each run appends its own figure ("MODE N: X ns per ...") to a file.
        farm-bench -n "$RUNS" --timeout 3600 ${PIN:+--pin "$PIN"} --vs "sh -c 'exec $B $run >>$TMP/B-$mode.txt'" \
            -- sh -c "exec $A $run >>$TMP/A-$mode.txt"
    else
        for ((i = 0; i < RUNS; i++)); do
            # shellcheck disable=SC2086
            "$A" $run >>"$TMP/A-$mode.txt"
            # shellcheck disable=SC2086
            "$B" $run >>"$TMP/B-$mode.txt"
        done
    fi
    a=$(awk '{ print $(NF - 3) }' "$TMP/A-$mode.txt" | median)
    b=$(awk '{ print $(NF - 3) }' "$TMP/B-$mode.txt" | median)
    unit=message
    [[ $mode == connect ]] && unit=connection
    echo "own figures, median ns per $unit: A $a, B $b, A/B $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')"
done
