#!/usr/bin/env bash
# Times `scmi-dt check` on generated backend trees (1k / 10k / 100k devices, each with 5,000
# clocks, 2,000 regulators and 64 agents) and on the example board, next to a DeviceTree-only
# open+walk and one run of `dt-validate` with the binding's schema on the same blobs.
#
#   bench/check-bench.sh                    # everything
#   SIZES="1000 10000" bench/check-bench.sh
#   SKIP_DTVALIDATE=1 bench/check-bench.sh  # scmi-dt only
#   DTVALIDATE_TIMEOUT=300 RUNS=10 bench/check-bench.sh
#
# Output goes to bench-out/ (ignored by git). Uses hyperfine when installed, else a
# `date +%s%N` loop. dt-validate is slow, so it runs once per blob and is cut off after
# DTVALIDATE_TIMEOUT seconds.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 10000 100000"}
RUNS=${RUNS:-10}
DTVALIDATE_TIMEOUT=${DTVALIDATE_TIMEOUT:-300}
SCHEMA=schemas/arm,scmi-vio-backend.yaml
OUT=bench-out
mkdir -p "$OUT"

# The release binary as `make release` ships it: Swift runtime linked statically,
# so a run does not pay for resolving libswiftCore/Foundation symbols at start.
RELEASE_FLAGS=(-c release --static-swift-stdlib --scratch-path .build-release)
echo "== building release (static Swift runtime)"
build() {
    local log
    if ! log=$(swift build "${RELEASE_FLAGS[@]}" --product "$1" 2>&1); then
        echo "$log" >&2
        exit 1
    fi
}
build scmi-dt
build scmi-dt-gen-tree
BIN=$(swift build "${RELEASE_FLAGS[@]}" --show-bin-path)
CHECK="$BIN/scmi-dt"
GEN="$BIN/scmi-dt-gen-tree"

blobs=()
for n in $SIZES; do
    "$GEN" --devices "$n" -o "$OUT/gen-$n.dtb"
    blobs+=("$OUT/gen-$n.dtb")
done
if [[ -f examples/board.dtb ]]; then
    blobs+=(examples/board.dtb)
elif [[ -f examples/board.dts ]]; then
    dtc -q -I dts -O dtb -o "$OUT/board.dtb" examples/board.dts
    blobs+=("$OUT/board.dtb")
fi

# mean milliseconds of a command
time_ms() {
    if command -v hyperfine >/dev/null; then
        hyperfine --style none --warmup 2 --runs "$RUNS" --export-csv "$OUT/hyperfine.csv" "$*" >/dev/null 2>&1 || return 1
        awk -F, 'NR == 2 { printf "%.1f", $2 * 1000 }' "$OUT/hyperfine.csv"
    else
        local start end total=0 i
        "$@" >/dev/null 2>&1 || return 1
        for ((i = 0; i < RUNS; i++)); do
            start=$(date +%s%N)
            "$@" >/dev/null 2>&1 || true
            end=$(date +%s%N)
            total=$((total + end - start))
        done
        awk -v t="$total" -v r="$RUNS" 'BEGIN { printf "%.1f", t / r / 1e6 }'
    fi
}

declare -A check_ms walk_ms validate_s verdict
for blob in "${blobs[@]}"; do
    echo "== $blob"
    if "$CHECK" check "$blob" >"$OUT/check.log" 2>&1; then
        verdict[$blob]="clean"
    else
        verdict[$blob]="exit $? ($(tail -1 "$OUT/check.log"))"
        echo "   scmi-dt check did not find it clean: ${verdict[$blob]} (see $OUT/check.log)"
    fi
    check_ms[$blob]=$(time_ms "$CHECK" check "$blob" || echo "failed")
    walk_ms[$blob]=$("$GEN" walk --repeat "$RUNS" "$blob" | sed -E 's/.*open\+walk ([0-9.]+) ms.*/\1/')
    if [[ -n "${SKIP_DTVALIDATE:-}" ]] || ! command -v dt-validate >/dev/null; then
        validate_s[$blob]="-"
        continue
    fi
    start=$(date +%s%N)
    if timeout "$DTVALIDATE_TIMEOUT" dt-validate -s "$SCHEMA" "$blob" >"$OUT/dt-validate-$(basename "$blob").log" 2>&1; then
        end=$(date +%s%N)
        validate_s[$blob]=$(awk -v t="$((end - start))" 'BEGIN { printf "%.2f", t / 1e9 }')
    elif [[ $? -eq 124 ]]; then
        validate_s[$blob]=">$DTVALIDATE_TIMEOUT"
    else
        end=$(date +%s%N)
        validate_s[$blob]=$(awk -v t="$((end - start))" 'BEGIN { printf "%.2f", t / 1e9 }')
        validate_s[$blob]+="(exit!=0)"
    fi
done

echo
printf '%-28s %10s %9s %14s %14s %16s %10s\n' blob bytes nodes "check (ms)" "dt walk (ms)" "dt-validate (s)" "ratio"
for blob in "${blobs[@]}"; do
    bytes=$(stat -c %s "$blob")
    nodes=$("$GEN" walk --repeat 1 "$blob" | sed -E 's/.*\(([0-9]+) nodes.*/\1/')
    ratio="-"
    if [[ "${validate_s[$blob]}" =~ ^[0-9.]+$ && "${check_ms[$blob]}" =~ ^[0-9.]+$ ]]; then
        ratio=$(awk -v v="${validate_s[$blob]}" -v c="${check_ms[$blob]}" 'BEGIN { printf "%.0fx", v * 1000 / c }')
    fi
    printf '%-28s %10s %9s %14s %14s %16s %10s\n' "$blob" "$bytes" "$nodes" "${check_ms[$blob]}" \
        "${walk_ms[$blob]}" "${validate_s[$blob]}" "$ratio"
done
echo
echo "check: mean of $RUNS runs of 'scmi-dt check' (process start to exit) $(command -v hyperfine >/dev/null && echo '(hyperfine)')"
echo "dt walk: best of $RUNS in-process DeviceTree open + walk (scmi-dt-gen-tree walk)"
echo "dt-validate: one run of 'dt-validate -s $SCHEMA'; ratio = dt-validate / check"
for blob in "${blobs[@]}"; do
    [[ "${verdict[$blob]}" == clean ]] || echo "NOTE: $blob was not clean: ${verdict[$blob]}"
done
