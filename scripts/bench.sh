#!/usr/bin/env bash
# `make bench`: every benchmark of scmi-dt in one go, then a summary with each goal.
#
#   1. compiles examples/*.dts with dtc;
#   2. bench/check-bench.sh: `scmi-dt check` against dt-validate on generated trees;
#   3. Benchmarks/ (ordo-one/benchmark, malloc interposer), target Engine: SCMI
#      messages per second through one AgentSession on one core;
#   4. Benchmarks/, target Transport, in one process: serve's backend on a Unix
#      socket with a real frontend (round trip with one request in flight, 64
#      requests per kick), an eventfd ping-pong between two threads as the floor,
#      and mallocs per message counted over every thread.
#
#   SKIP_CHECK_BENCH=1 scripts/bench.sh   # steps 3-4 only
#   SKIP_BOARD_BENCH=1 scripts/bench.sh   # without bench/board-bench.sh (inventory, scaffold)
#   SIZES="1000" DTVALIDATE_TIMEOUT=60 scripts/bench.sh   # passed on to check-bench.sh
#
# Raw results go to bench-out/ (ignored by git): check-bench.txt, and one
# percentile table per benchmark and metric under bench-out/engine and
# bench-out/transport. `cd Benchmarks && swift package benchmark --target Transport`
# prints the harness's own tables.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench-out
mkdir -p "$OUT"

echo "== examples"
for dts in examples/*.dts; do
    dtc -q -I dts -O dtb -o "${dts%.dts}.dtb" "$dts"
done

if [[ -z "${SKIP_CHECK_BENCH:-}" ]]; then
    echo "== check vs dt-validate (bench/check-bench.sh)"
    # dt-validate needs minutes on the 100k-device tree: cap it so the whole run stays short.
    SIZES=${SIZES:-"1000 10000 100000"} DTVALIDATE_TIMEOUT=${DTVALIDATE_TIMEOUT:-90} RUNS=${RUNS:-5} \
        bench/check-bench.sh | tee "$OUT/check-bench.txt"
fi

# Issue 11's board benchmarks, kept in their own script (bench/board-bench.sh) so that they
# can move with the others: inventory and scaffold + check on the largest real board, inventory
# on generated trees, and the Debian arm64 board set when it can be fetched (or BOARDS_DIR).
if [[ -z "${SKIP_BOARD_BENCH:-}" ]]; then
    echo "== boards: inventory, scaffold + check (bench/board-bench.sh)"
    SIZES=${SIZES:-"1000 10000 100000"} RUNS=${RUNS:-5} bench/board-bench.sh | tee "$OUT/board-bench.txt"
fi

# Runs one benchmark target and leaves one percentile table per benchmark and
# metric in $OUT/<dir> (ordo-one's histogramPercentiles export). With PIN set,
# every thread runs on that one CPU (taskset).
run_target() {
    local target=$1 dir=$2
    shift 2
    rm -rf "${OUT:?}/$dir"
    mkdir -p "$OUT/$dir"
    echo "== $target${PIN:+ pinned to CPU $PIN} (Benchmarks/, release build on first use)"
    (cd Benchmarks && timeout 1200 ${PIN:+taskset -c "$PIN"} swift package benchmark --target "$target" \
        --no-progress --format histogramPercentiles --path "$OUT/$dir" "$@") >"$OUT/$dir.log" 2>&1 || {
        tail -30 "$OUT/$dir.log"
        echo "bench: the $target benchmarks failed (log: $OUT/$dir.log)" >&2
        exit 1
    }
}

PIN= run_target Engine engine
# As serve runs: the scheduler places the threads.
PIN= run_target Transport transport
# For reference, everything on one CPU: a wake-up is then a context switch on
# that CPU instead of an inter-processor interrupt to an idle (in a VM: halted)
# one. PINNED_CPU= (empty) skips it.
PINNED_CPU=${PINNED_CPU-0}
if [[ -n "$PINNED_CPU" ]]; then
    PIN=$PINNED_CPU run_target Transport transport-pinned
fi

# value at percentile $4 of metric $3 of the benchmark whose file name matches $2, in $OUT/$1
percentile() {
    local dir=$1 name=$2 metric=$3 p=$4 file
    file=$(compgen -G "$OUT/$dir/Current_run.*.$name.$metric.histogram.percentiles.tsv" | head -1) || true
    [[ -n "$file" ]] || { echo "nan"; return; }
    awk -v p="$p" 'NR > 1 && $1 == p { print $2 }' "$file"
}

us() { awk -v n="$1" 'BEGIN { printf "%.2f us", n / 1000 }'; }
rate() { awk -v n="$2" -v k="$1" 'BEGIN { printf "%.2f", k * 1000 / n }'; }  # M msg/s of $1 messages in $2 ns
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }

engine_row() {
    local label=$1 name=$2 ns mallocs
    ns=$(percentile engine "$name" wallClock 50)
    mallocs=$(percentile engine "$name" mallocCountTotal 100)
    printf '  %-40s %s M msg/s (%s ns/msg), max %s mallocs/msg; goal >= 5 M msg/s, 0 mallocs: %s\n' "$label" \
        "$(rate 1 "$ns")" "$ns" "$mallocs" "$(verdict "1000 / $ns >= 5 && $mallocs == 0")"
}

# The Transport figures of run $1; with $2 = goals, each with its goal and verdict.
transport_summary() {
    local dir=$1 goals=${2:-} rt50 rt99 rtMallocs fl50 fl99 flMallocs batch50 batchMallocs ring50 ringMallocs control
    rt50=$(percentile "$dir" 'round_trip*' wallClock 50)
    rt99=$(percentile "$dir" 'round_trip*' wallClock 99)
    rtMallocs=$(percentile "$dir" 'round_trip*' mallocCountTotal 100)
    fl50=$(percentile "$dir" 'floor*' wallClock 50)
    fl99=$(percentile "$dir" 'floor*' wallClock 99)
    flMallocs=$(percentile "$dir" 'floor*' mallocCountTotal 100)
    batch50=$(percentile "$dir" 'batch*' wallClock 50)
    batchMallocs=$(percentile "$dir" 'batch*' mallocCountTotal 100)
    ring50=$(percentile "$dir" 'breakdown*' wallClock 50)
    ringMallocs=$(percentile "$dir" 'breakdown*' mallocCountTotal 100)
    control=$(percentile "$dir" 'control*' mallocCountTotal 50)
    local ratio50 ratio99 batchRate
    ratio50=$(awk -v a="$rt50" -v b="$fl50" 'BEGIN { printf "%.2f", a / b }')
    ratio99=$(awk -v a="$rt99" -v b="$fl99" 'BEGIN { printf "%.2f", a / b }')
    batchRate=$(rate 64 "$batch50")

    printf '  %-40s p50 %-10s p99 %-10s max %s mallocs/msg\n' "round trip, 1 CLOCK_RATE_GET in flight" \
        "$(us "$rt50")" "$(us "$rt99")" "$rtMallocs"
    printf '  %-40s p50 %-10s p99 %-10s max %s mallocs\n' "floor: eventfd ping-pong, two threads" \
        "$(us "$fl50")" "$(us "$fl99")" "$flMallocs"
    printf '  %-40s p50 %-10s p99 %-10s%s\n' "round trip / floor" "${ratio50}x" "${ratio99}x" \
        "${goals:+ goal <= 2x at p50: $(verdict "$ratio50 <= 2")}"
    printf '  %-40s %s M msg/s (p50 %s per 64), max %s mallocs per 64 msgs%s\n' "64 CLOCK_RATE_GET per kick" \
        "$batchRate" "$(us "$batch50")" "$batchMallocs" "${goals:+; goal >= 1 M msg/s: $(verdict "$batchRate >= 1")}"
    printf '  %-40s %s M msg/s (p50 %s per 64), max %s mallocs\n' "breakdown: same 64 on one thread" \
        "$(rate 64 "$ring50")" "$(us "$ring50")" "$ringMallocs"
    printf '  %-40s %s\n' "  so the batch's wake-ups and handover" "$(us "$(awk -v a="$batch50" -v b="$ring50" 'BEGIN { print a - b }')")"
    printf '  %-40s %s malloc(s) per round trip (expected 1: the counter sees every thread)\n' \
        "control: other thread mallocs per pong" "$control"
    printf '  %-40s %s\n' "no heap allocation per message" \
        "$([[ "$rtMallocs" == 0 && "$batchMallocs" == 0 && "$ringMallocs" == 0 && "$control" == 1 ]] \
            && echo "met (whole process, every iteration)" || echo MISSED)"
}

echo
echo "== summary ($(nproc) CPUs; p50/p99 over iterations; Engine: 1000 messages per iteration;"
echo "   Transport: one round trip, or 64 messages, per iteration; mallocs counted over every thread)"
echo "engine (one AgentSession, one core)"
engine_row "CLOCK_RATE_GET" CLOCK_RATE_GET
engine_row "BASE PROTOCOL_VERSION" BASE_PROTOCOL_VERSION
echo "transport, threads placed by the scheduler as in serve (VhostUserBackend + SCMIChainHandler over"
echo "examples/board.dtb, VhostUserFrontend; Unix socket, memfd, eventfds)"
transport_summary transport goals
if [[ -n "$PINNED_CPU" ]]; then
    echo "transport, every thread on CPU $PINNED_CPU (reference: wake-ups without inter-processor interrupts)"
    transport_summary transport-pinned
fi
