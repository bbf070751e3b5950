#!/usr/bin/env bash
# `make bench`: every benchmark of scmi-dt, each figure next to its reference measured
# in the same run, then one table with each goal of issue 14.
#
#   1. builds the release binaries (`make release`'s flags), the C libfdt floor
#      (floor/fdt-floor.c, cc -lfdt) and generated trees: N devices, N/2 clocks,
#      N/4 regulators, 64 agents, for N in $SIZES;
#   2. check: `scmi-dt check` against the C floor, run in turn, ratio pair by pair;
#      against one run of dt-validate with the binding's schema (trees up to
#      $DTVALIDATE_MAX devices, cut off after $DTVALIDATE_TIMEOUT s);
#   3. serve: start-up until the control socket (created after every agent's
#      socket) listens, paired with `check` of the same blob; resident memory once
#      it listens, per tree size;
#   4. Engine (Package.swift here, ordo-one/benchmark with its malloc interposer):
#      SCMI messages per second through one AgentSession, mallocs per message, for a
#      clock, voltage, power, performance, sensor and reset message;
#   5. Transport (same package): serve's backend and a real frontend over a Unix
#      socket: round trip against the eventfd ping-pong floor, 64 requests per kick
#      against the same 64 on one thread, each with a guest that sleeps until its call,
#      with serve polling its ring, and with both polling (the goal row); mallocs per
#      message over every thread; a notification into the eventq; the round trip with
#      64 subscriptions vs none, in turn, in RUNS processes (pinned to $PINNED_CPU); once as the scheduler
#      places the threads, once all on CPU $PINNED_CPU; then whole runs of
#      transport-loop (echo device) with nothing, serve, and guest + serve polling:
#      time and CPU per message;
#   6. every executable suites/*.sh (other benchmarks; see suites/README.md);
#   7. the table.
#
# Knobs (defaults in brackets): SIZES ["1000 10000 100000"], RUNS [5] pairs per
# figure, DTVALIDATE_MAX [10000], DTVALIDATE_TIMEOUT [120], SKIP_DTVALIDATE=1,
# SKIP_CHECK=1, SKIP_SERVE=1, SKIP_ENGINE=1, SKIP_TRANSPORT=1, SKIP_SUITES=1,
# PINNED_CPU [0] (empty: no pinned Transport run). Everything it writes goes to
# bench-out/ (ignored by git).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
export OUT=$ROOT/bench-out
export BENCH_LIB=$ROOT/Benchmarks/lib.sh
# shellcheck source=lib.sh
source "$BENCH_LIB"
SIZES=${SIZES:-"1000 10000 100000"}
RUNS=${RUNS:-5}
DTVALIDATE_MAX=${DTVALIDATE_MAX:-10000}
DTVALIDATE_TIMEOUT=${DTVALIDATE_TIMEOUT:-120}
PINNED_CPU=${PINNED_CPU-0}
SCHEMA=schemas/arm,scmi-vio-backend.yaml
export SIZES RUNS
mkdir -p "$OUT"
: >"$OUT/rows.tsv"

# ---------------------------------------------------------------- 1. builds and trees

echo "== building (release, static Swift runtime, as \`make release\`), the C floor, the trees"
for dts in examples/*.dts; do dtc -q -I dts -O dtb -o "${dts%.dts}.dtb" "$dts"; done
# RELEASE_FLAGS (lib.sh): as the Makefile's `release`.
for product in scmi-dt scmi-dt-gen-tree; do
    if ! log=$(swift build "${RELEASE_FLAGS[@]}" --product "$product" 2>&1); then
        echo "$log" >&2
        exit 1
    fi
done
BIN=$(swift build "${RELEASE_FLAGS[@]}" --show-bin-path)
export SCMI_DT=$BIN/scmi-dt GEN=$BIN/scmi-dt-gen-tree FLOOR=$OUT/fdt-floor
cc -O2 -Wall -o "$FLOOR" Benchmarks/floor/fdt-floor.c -lfdt

declare -A BLOB
for n in $SIZES; do
    BLOB[$n]=$OUT/gen-$n.dtb
    "$GEN" --devices "$n" --clocks $((n / 2 > 0 ? n / 2 : 1)) --regulators $((n / 4 > 0 ? n / 4 : 1)) \
        -o "${BLOB[$n]}" >/dev/null
done
BLOB[example]=examples/board.dtb
ALL=(example $SIZES)
label() { [[ $1 == example ]] && echo "examples/board.dtb" || echo "$1 devices"; }
for key in "${ALL[@]}"; do
    if ! "$SCMI_DT" check "${BLOB[$key]}" >"$OUT/check-$key.log" 2>&1; then
        echo "bench: $(label "$key") is not clean for check (see $OUT/check-$key.log)" >&2
        exit 1
    fi
done

# ---------------------------------------------------------------- 2. check

CURRENT=
check_current() { "$SCMI_DT" check "$CURRENT"; }
floor_current() { "$FLOOR" "$CURRENT"; }

if [[ -z "${SKIP_CHECK:-}" ]]; then
    echo
    echo "== check: against the C libfdt floor ($RUNS pairs, in turn) and dt-validate (one run)"
    printf '  %-20s %10s %12s %12s %-26s %16s %s\n' tree bytes "check ms" "floor ms" "check/floor (min-max)" "dt-validate s" "dt-validate/check"
    for key in "${ALL[@]}"; do
        CURRENT=${BLOB[$key]}
        paired "$RUNS" check_current floor_current
        check_ms=$PAIRED_A floor_ms=$PAIRED_B
        read -r fm flo fhi <<<"$PAIRED_RATIO"
        validate="-" vratio="-"
        n=${key/example/0}
        if [[ -z "${SKIP_DTVALIDATE:-}" ]] && command -v dt-validate >/dev/null && ((n <= DTVALIDATE_MAX)); then
            start=$(now_ns)
            if timeout "$DTVALIDATE_TIMEOUT" dt-validate -s "$SCHEMA" "$CURRENT" >"$OUT/dt-validate-$key.log" 2>&1; then
                end=$(now_ns)
                validate=$(awk -v t=$((end - start)) 'BEGIN { printf "%.2f", t / 1e9 }')
                # check's median of the pairs either side of it: the same machine state.
                vratio=$(awk -v v="$validate" -v c="$check_ms" 'BEGIN { printf "%.0f", v * 1000 / c }')
            else
                validate=">$DTVALIDATE_TIMEOUT"
                vratio=$(awk -v v="$DTVALIDATE_TIMEOUT" -v c="$check_ms" 'BEGIN { printf ">%.0f", v * 1000 / c }')
            fi
        fi
        printf '  %-20s %10s %12s %12s %-26s %16s %s\n' "$(label "$key")" "$(stat -c %s "$CURRENT")" "$check_ms" \
            "$floor_ms" "$(ratio_text "$fm" "$flo" "$fhi")" "$validate" "$([[ $vratio == - ]] && echo - || echo "${vratio}x")"
        if [[ $key == 10000 ]]; then
            goal="not run"
            [[ $vratio == - ]] || goal=$(verdict "${vratio#>} >= 1000")
            row "check, 10k devices, vs dt-validate" "$check_ms ms" "$validate s" "$([[ $vratio == - ]] && echo - || echo "${vratio}x")" ">= 1000x" "$goal"
        fi
        if [[ $key == 100000 ]]; then
            row "check, 100k devices, vs the C libfdt floor" "$check_ms ms" "$floor_ms ms" \
                "$(ratio_text "$fm" "$flo" "$fhi")" "<= 2x" "$(verdict "$fm <= 2")"
        fi
    done
    echo "  check and floor: median of $RUNS runs each, whole processes, run in turn; ratio median (min-max) over the pairs"
fi

# ---------------------------------------------------------------- 3. serve

# Starts serve on $CURRENT with a socket per agent and a control socket, and sets SELF_NS
# to the time from exec until it logs the control socket (created after every agent's
# socket listens). Appends its resident memory then (kB, from /proc) to $OUT/serve-rss-KEY.
SERVE_KEY=
serve_current() {
    local dir line start pid
    dir=$(mktemp -d /tmp/scmi-dt-bench-serve-XXXXXX)
    start=$(now_ns)
    coproc SERVE { exec "$SCMI_DT" serve "$CURRENT" --socket-dir "$dir" --control "$dir/control.sock" 2>&1; }
    pid=$SERVE_PID
    SELF_NS=
    while IFS= read -r line <&"${SERVE[0]}"; do
        if [[ $line == *"control socket:"* ]]; then
            SELF_NS=$(($(now_ns) - start))
            break
        fi
    done
    sleep 0.2  # idle: let the start-up's transient memory go back
    awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" >>"$OUT/serve-rss-$SERVE_KEY" 2>/dev/null || true
    awk '/^Anonymous:/ { print $2 }' "/proc/$pid/smaps_rollup" >>"$OUT/serve-anon-$SERVE_KEY" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
    [[ -n $SELF_NS ]]
}

# As `paired`, but A times itself (SELF_NS): serve's start-up without its shutdown.
paired_self() {
    local runs=$1 a=$2 b=$3 i start end ta=() tb=() ratios=()
    "$a" >/dev/null 2>&1 || true
    "$b" >/dev/null 2>&1 || true
    for ((i = 0; i < runs; i++)); do
        SELF_NS=
        "$a" >/dev/null 2>&1 || { echo "bench: $a failed" >&2; exit 1; }
        start=$(now_ns)
        "$b" >/dev/null 2>&1 || true
        end=$(now_ns)
        ta+=("$SELF_NS")
        tb+=($((end - start)))
        ratios+=("$(awk -v a="$SELF_NS" -v b=$((end - start)) 'BEGIN { printf "%.4f", a / b }')")
    done
    PAIRED_A=$(printf '%s\n' "${ta[@]}" | spread | awk '{ printf "%.1f", $1 / 1e6 }')
    PAIRED_B=$(printf '%s\n' "${tb[@]}" | spread | awk '{ printf "%.1f", $1 / 1e6 }')
    PAIRED_RATIO=$(printf '%s\n' "${ratios[@]}" | spread)
}

if [[ -z "${SKIP_SERVE:-}" ]]; then
    echo
    echo "== serve: start-up until every socket listens, against check of the same blob ($RUNS pairs); RSS once listening"
    printf '  %-20s %12s %12s %-26s %-22s %s\n' tree "serve ms" "check ms" "serve/check (min-max)" "RSS MB (min-max)" "of it anonymous MB"
    declare -A START_MS RSS_MB ANON_MB
    for key in "${ALL[@]}"; do
        CURRENT=${BLOB[$key]} SERVE_KEY=$key
        : >"$OUT/serve-rss-$key"
        : >"$OUT/serve-anon-$key"
        paired_self "$RUNS" serve_current check_current
        read -r sm slo shi <<<"$PAIRED_RATIO"
        START_MS[$key]=$PAIRED_A
        RSS_MB[$key]=$(spread <"$OUT/serve-rss-$key" | awk '{ printf "%.1f", $1 / 1024 }')
        ANON_MB[$key]=$(spread <"$OUT/serve-anon-$key" | awk '{ printf "%.1f", $1 / 1024 }')
        rss_range=$(spread <"$OUT/serve-rss-$key" | awk '{ printf "%.1f-%.1f", $2 / 1024, $3 / 1024 }')
        printf '  %-20s %12s %12s %-26s %-22s %s\n' "$(label "$key")" "$PAIRED_A" "$PAIRED_B" \
            "$(ratio_text "$sm" "$slo" "$shi")" "${RSS_MB[$key]} ($rss_range)" "${ANON_MB[$key]}"
        if [[ $key == 10000 ]]; then
            row "serve until every socket listens, 10k devices, vs check" "$PAIRED_A ms" "$PAIRED_B ms" \
                "$(ratio_text "$sm" "$slo" "$shi")" "<= 3x" "$(verdict "$sm <= 3")"
        fi
    done
    if [[ -n "${START_MS[10000]:-}" && -n "${START_MS[100000]:-}" ]]; then
        growth=$(awk -v a="${START_MS[100000]}" -v b="${START_MS[10000]}" 'BEGIN { printf "%.1f", a / b }')
        row "serve start-up, 100k / 10k devices (10x the input)" "${START_MS[100000]} ms" "${START_MS[10000]} ms" \
            "${growth}x" "linear: <= 12x" "$(verdict "$growth <= 12")"
    fi
    rss_list="" anon_list=""
    for key in "${ALL[@]}"; do
        rss_list+="${rss_list:+ / }${RSS_MB[$key]}"
        anon_list+="${anon_list:+ / }${ANON_MB[$key]}"
    done
    rss_goal="-"
    [[ -n "${RSS_MB[10000]:-}" ]] && rss_goal=$(verdict "${RSS_MB[10000]} <= 20")
    row "serve RSS listening: $(IFS=/; echo "${ALL[*]}" | sed 's|/| / |g')" "$rss_list MB" "-" "-" "<= 20 MB at 10k" "$rss_goal"
    row "  of it anonymous (the rest: the binary's pages)" "$anon_list MB" "-" "-" "-" "-"
    if [[ -n "${RSS_MB[10000]:-}" && -n "${RSS_MB[100000]:-}" ]]; then
        slope=$(awk -v a="${RSS_MB[100000]}" -v b="${RSS_MB[10000]}" 'BEGIN { printf "%.2f", (a - b) * 1024 / 90000 }')
        growth=$(awk -v a="${RSS_MB[100000]}" -v b="${RSS_MB[10000]}" 'BEGIN { printf "%.1f", a / b }')
        row "serve RSS, 100k / 10k devices" "$slope kB per device" "-" "${growth}x" "linear: <= 10x" "$(verdict "$growth <= 10")"
    fi
    echo "  serve: median of $RUNS starts, exec until the control socket is logged; RSS: VmRSS 0.2 s later, median (min-max);"
    echo "  anonymous: smaps_rollup's Anonymous then (heap, stacks); the rest of RSS is the binary's file pages"
fi

# ---------------------------------------------------------------- 4-5. Engine and Transport

# Runs one benchmark target and leaves one percentile table per benchmark and metric in
# $OUT/<dir> (ordo-one's histogramPercentiles export). With PIN set, every thread runs on
# that one CPU (taskset).
run_target() {
    local target=$1 dir=$2
    rm -rf "${OUT:?}/$dir"
    mkdir -p "$OUT/$dir"
    echo "   $target${FILTER:+ ($FILTER)}${PIN:+ pinned to CPU $PIN} (release build of Benchmarks/ on first use)"
    (cd Benchmarks && timeout 1200 ${PIN:+taskset -c "$PIN"} swift package benchmark --target "$target" \
        ${FILTER:+--filter "$FILTER"} --no-progress --format histogramPercentiles --path "$OUT/$dir") >"$OUT/$dir.log" 2>&1 || {
        tail -30 "$OUT/$dir.log"
        echo "bench: the $target benchmarks failed (log: $OUT/$dir.log)" >&2
        exit 1
    }
}

# value at percentile $4 of metric $3 of the benchmark whose file name matches $2, in $OUT/$1
# (the pattern must match one benchmark: the files come in no particular order)
percentile() {
    local dir=$1 name=$2 metric=$3 p=$4 file
    file=$(compgen -G "$OUT/$dir/Current_run.*.$name.$metric.histogram.percentiles.tsv" | head -1) || true
    [[ -n "$file" ]] || { echo "nan"; return; }
    awk -v p="$p" 'NR > 1 && $1 == p { print $2 }' "$file"
}
us() { awk -v n="$1" 'BEGIN { printf "%.2f us", n / 1000 }'; }
rate() { awk -v n="$2" -v k="$1" 'BEGIN { printf "%.2f", k * 1000 / n }'; }  # M msg/s of $1 messages in $2 ns

if [[ -z "${SKIP_ENGINE:-}" ]]; then
    echo
    echo "== engine: one AgentSession on one core, 1000 messages per iteration"
    PIN= run_target Engine engine
    # label:file-name glob, one per message benchmarked in Benchmarks/Engine (the
    # sets alternate two values, so that each one changes the physical state).
    for figure in "CLOCK_RATE_GET:CLOCK_RATE_GET" "BASE_PROTOCOL_VERSION:BASE_PROTOCOL_VERSION" \
        "CLOCK_DESCRIBE_RATES:CLOCK_DESCRIBE_RATES" "CLOCK_RATE_SET (arbitrated):CLOCK_RATE_SET*" \
        "VOLTAGE_LEVEL_SET (coupled rail):VOLTAGE_LEVEL_SET*" "POWER_STATE_SET (arbitrated):POWER_STATE_SET*" \
        "POWER_STATE_GET:POWER_STATE_GET" "PERFORMANCE_LEVEL_SET (arbitrated):PERFORMANCE_LEVEL_SET*" \
        "SENSOR_READING_GET:SENSOR_READING_GET*" "RESET (pulse):RESET*" \
        "POWER_STATE_SET + POWER_STATE_CHANGED:notification*POWER_STATE_SET*" \
        "RESET (pulse) + RESET_ISSUED:notification*RESET*"; do
        label=${figure%%:*} name=${figure#*:}
        ns=$(percentile engine "$name" wallClock 50)
        mallocs=$(percentile engine "$name" mallocCountTotal 100)
        printf '  %-40s %s M msg/s (%s ns/msg), max %s mallocs/msg\n' "$label" "$(rate 1 "$ns")" "$ns" "$mallocs"
        row "engine $label (one session, one core)" "$(rate 1 "$ns") M msg/s" "-" "-" "0 mallocs/msg" \
            "$([[ $mallocs == 0 ]] && echo "met ($mallocs)" || echo "MISSED ($mallocs)")"
    done
    control=$(percentile engine 'control*' mallocCountTotal 50)
    printf '  %-40s %s (expected 1: the counter is live)\n' "control: mallocs per message" "$control"
fi

# The Transport figures of run $1 (and, with $2 set, its rows in the table, labelled with $2).
# Three ways to wait, in the same process: the default (serve's ring worker sleeps after
# every batch, the frontend sleeps on its call eventfd as a guest waits for its interrupt);
# "poll": serve --ring-poll-us 50 (adaptive ring polling), the frontend still sleeping;
# "pollboth": that, and a frontend that polls its used ring up to 50 us before it sleeps
# (VhostUserFrontendOptions.completionPolling, as Linux's SCMI core polls atomic transfers).
transport_summary() {
    local dir=$1 goals=${2:-} rt50 rt99 rtMallocs fl50 fl99 batch50 batchMallocs ring50 ringMallocs control
    local np50 npBatch50 pb50 pbBatch50 pbMallocs
    rt50=$(percentile "$dir" 'round_trip:_one_CLOCK_RATE_GET*' wallClock 50)
    rt99=$(percentile "$dir" 'round_trip:_one_CLOCK_RATE_GET*' wallClock 99)
    rtMallocs=$(percentile "$dir" 'round_trip:_one_CLOCK_RATE_GET*' mallocCountTotal 100)
    np50=$(percentile "$dir" 'poll_round_trip*' wallClock 50)
    pb50=$(percentile "$dir" 'pollboth_round_trip*' wallClock 50)
    fl50=$(percentile "$dir" 'floor*' wallClock 50)
    fl99=$(percentile "$dir" 'floor*' wallClock 99)
    batch50=$(percentile "$dir" 'batch:*' wallClock 50)
    batchMallocs=$(percentile "$dir" 'batch:*' mallocCountTotal 100)
    npBatch50=$(percentile "$dir" 'poll_batch*' wallClock 50)
    pbBatch50=$(percentile "$dir" 'pollboth_batch*' wallClock 50)
    pbMallocs=$(percentile "$dir" 'pollboth_batch*' mallocCountTotal 100)
    ring50=$(percentile "$dir" 'breakdown*' wallClock 50)
    ringMallocs=$(percentile "$dir" 'breakdown*' mallocCountTotal 100)
    control=$(percentile "$dir" 'control*' mallocCountTotal 50)
    local ratio50 ratio99 share npShare pbShare rtVsNopoll rtBothVsNopoll
    ratio50=$(awk -v a="$rt50" -v b="$fl50" 'BEGIN { printf "%.2f", a / b }')
    ratio99=$(awk -v a="$rt99" -v b="$fl99" 'BEGIN { printf "%.2f", a / b }')
    rtVsNopoll=$(awk -v a="$np50" -v b="$rt50" 'BEGIN { printf "%.2f", a / b }')  # polling / default
    rtBothVsNopoll=$(awk -v a="$pb50" -v b="$rt50" 'BEGIN { printf "%.2f", a / b }')
    share=$(awk -v a="$batch50" -v b="$ring50" 'BEGIN { printf "%.0f", 100 * b / a }')
    npShare=$(awk -v a="$npBatch50" -v b="$ring50" 'BEGIN { printf "%.0f", 100 * b / a }')
    pbShare=$(awk -v a="$pbBatch50" -v b="$ring50" 'BEGIN { printf "%.0f", 100 * b / a }')
    printf '  %-52s p50 %-10s p99 %-10s max %s mallocs/msg\n' "round trip, 1 CLOCK_RATE_GET in flight" "$(us "$rt50")" "$(us "$rt99")" "$rtMallocs"
    printf '  %-52s p50 %-10s\n' "  the same, serve polling 50 us" "$(us "$np50")"
    printf '  %-52s p50 %-10s\n' "  the same, guest and serve polling 50 us" "$(us "$pb50")"
    printf '  %-52s p50 %-10s p99 %-10s\n' "floor: eventfd ping-pong, two threads" "$(us "$fl50")" "$(us "$fl99")"
    printf '  %-52s p50 %-10s p99 %-10s\n' "round trip / floor" "${ratio50}x" "${ratio99}x"
    printf '  %-52s %s M msg/s (p50 %s per 64), max %s mallocs per 64\n' "64 CLOCK_RATE_GET per kick, guest waits for its call" "$(rate 64 "$batch50")" "$(us "$batch50")" "$batchMallocs"
    printf '  %-52s %s M msg/s (p50 %s per 64)\n' "  the same, serve polling 50 us" "$(rate 64 "$npBatch50")" "$(us "$npBatch50")"
    printf '  %-52s %s M msg/s (p50 %s per 64), max %s mallocs per 64\n' "  the same, guest and serve polling 50 us" "$(rate 64 "$pbBatch50")" "$(us "$pbBatch50")" "$pbMallocs"
    printf '  %-52s %s M msg/s (p50 %s per 64), max %s mallocs per 64\n' "the same 64 on one thread (no wake-ups)" "$(rate 64 "$ring50")" "$(us "$ring50")" "$ringMallocs"
    printf '  %-52s %s%% (serve polling: %s%%; guest and serve polling: %s%%)\n' "64 per kick / one thread" "$share" "$npShare" "$pbShare"
    printf '  %-52s %s (expected 1: the counter sees every thread)\n' "control: mallocs per pong on the other thread" "$control"
    # Platform → agent (EventQueue.swift): one notification from the engine into a real
    # eventq; the cmdq round trip of a CLOCK_RATE_SET with 64 subscriptions held and none,
    # measured in turn within the same iterations (A B, B A, ...): median of each, and
    # the median of the ratios pair by pair.
    local nt50 ntMallocs sub0 sub64 subMallocs subRatio
    nt50=$(percentile "$dir" 'notification:*' wallClock 50)
    ntMallocs=$(percentile "$dir" 'notification:*' mallocCountTotal 100)
    sub0=$(percentile "$dir" 'round_trip:_one_CLOCK_RATE_SET*' no_subscriptions_ns 50)
    sub64=$(percentile "$dir" 'round_trip:_one_CLOCK_RATE_SET*' 64_subscriptions_ns 50)
    subRatio=$(percentile "$dir" 'round_trip:_one_CLOCK_RATE_SET*' 64_subscriptions_per_mille_of_none 50)
    subRatio=$(awk -v r="$subRatio" 'BEGIN { printf "%.3f", r / 1000 }')
    subMallocs=$(percentile "$dir" 'round_trip:_one_CLOCK_RATE_SET*' mallocCountTotal 100)
    printf '  %-52s %s k/s (p50 %s), max %s mallocs each\n' "notification into another agent's eventq" \
        "$(awk -v n="$nt50" 'BEGIN { printf "%.1f", 1e6 / n }')" "$(us "$nt50")" "$ntMallocs"
    printf '  %-52s p50 %-10s (none: %s), pair by pair %sx, max %s mallocs per pair\n' "round trip, CLOCK_RATE_SET, 64 subscriptions" \
        "$(us "$sub64")" "$(us "$sub0")" "$subRatio" "$subMallocs"
    local clean=no
    [[ "$rtMallocs" == 0 && "$batchMallocs" == 0 && "$pbMallocs" == 0 && "$ringMallocs" == 0 && "$control" == 1 ]] && clean=yes
    # The goals are for threads placed as serve runs; pinned, the same rows for reference.
    local goal=">= 50%" sameGoal="no worse (<= 1.05x)" shareVerdict sameVerdict bothVerdict
    shareVerdict=$(verdict "$pbShare >= 50")
    sameVerdict=$(verdict "$rtVsNopoll <= 1.05")
    bothVerdict=$(verdict "$rtBothVsNopoll <= 1.05")
    if [[ $goals == " (pinned)" ]]; then
        goal="(reference)" sameGoal="(reference)" shareVerdict="-" sameVerdict="-" bothVerdict="-"
    elif [[ -n $goals ]]; then
        row "round trip / eventfd ping-pong floor, p50$goals" "$(us "$rt50")" "$(us "$fl50")" "${ratio50}x" "<= 2x" "$(verdict "$ratio50 <= 2")"
    fi
    [[ -n $goals ]] || return 0
    row "round trip, serve polling 50 us / default, p50$goals" "$(us "$np50")" "$(us "$rt50")" "${rtVsNopoll}x" "$sameGoal" "$sameVerdict"
    row "round trip, guest + serve polling 50 us / default, p50$goals" "$(us "$pb50")" "$(us "$rt50")" "${rtBothVsNopoll}x" "$sameGoal" "$bothVerdict"
    row "64 per kick, guest + serve polling 50 us, vs the same 64 on one thread$goals" "$(rate 64 "$pbBatch50") M msg/s" \
        "$(rate 64 "$ring50") M msg/s" "${pbShare}%" "$goal" "$shareVerdict"
    row "  the same, guest waits for its call (serve polling 50 us / not)$goals" \
        "$(rate 64 "$batch50") M msg/s ($(rate 64 "$npBatch50") polling)" "$(rate 64 "$ring50") M msg/s" \
        "${share}% (${npShare}%)" "(reported)" "-"
    if [[ $goals != " (pinned)" ]]; then
        row "mallocs per message, every thread$goals" "$rtMallocs / $batchMallocs / $pbMallocs / $ringMallocs" "control $control" "-" "0" \
            "$([[ $clean == yes ]] && echo met || echo MISSED)"
        row "notification into the eventq$goals" "$(awk -v n="$nt50" 'BEGIN { printf "%.1f", 1e6 / n }') k/s" "-" "-" "0 mallocs" \
            "$([[ $ntMallocs == 0 ]] && echo "met ($ntMallocs)" || echo "MISSED ($ntMallocs)")"
    fi
}

# The subscriptions round trip again, in $RUNS processes of its own: a round trip is two
# wake-ups, and where the scheduler puts each rig's threads differs from process to process
# and can favour one rig for a whole run (an A/A run, SCMI_DT_BENCH_A_A=1, shows it: one rig
# 8x slower than its twin for a whole process, either one), so the row takes the median over
# the processes of each one's in-turn ratio (median pair by pair), with every thread on
# $PINNED_CPU when it is set: there both rigs pay the same wake-up, and what is left between
# them is the look for subscribers. A spread beyond 0.9-1.1x says the rigs were not
# comparable in some process, and the row says so rather than call the median met.
subscription_runs() {
    local i ratios=() engine0=() engine64=()
    for ((i = 0; i < RUNS; i++)); do
        FILTER='round trip: one CLOCK_RATE_SET.*' PIN=$PINNED_CPU run_target Transport "transport-subscriptions-$i"
        ratios+=("$(percentile "transport-subscriptions-$i" 'round_trip:_one_CLOCK_RATE_SET*' 64_subscriptions_per_mille_of_none 50)")
        engine0+=("$(percentile "transport-subscriptions-$i" 'round_trip:_one_CLOCK_RATE_SET*' engine_no_subscriptions_ns 50)")
        engine64+=("$(percentile "transport-subscriptions-$i" 'round_trip:_one_CLOCK_RATE_SET*' engine_64_subscriptions_ns 50)")
    done
    local rm rlo rhi e0 e64
    read -r rm rlo rhi <<<"$(printf '%s\n' "${ratios[@]}" | spread | awk '{ printf "%.3f %.3f %.3f", $1 / 1000, $2 / 1000, $3 / 1000 }')"
    e0=$(printf '%s\n' "${engine0[@]}" | spread | awk '{ print $1 }')
    e64=$(printf '%s\n' "${engine64[@]}" | spread | awk '{ print $1 }')
    printf '  %-52s %s (runs: %s)\n' "round trip, 64 subscriptions / none, $RUNS processes" "$(ratio_text "$rm" "$rlo" "$rhi")" \
        "$(printf '%s ' "${ratios[@]}" | awk '{ for (i = 1; i <= NF; i++) printf "%s%.3f", (i > 1 ? " " : ""), $i / 1000 }')"
    printf '  %-52s %s ns with 64, %s ns with none\n' "  the engine alone (the other agent's CLOCK_RATE_SET)" "$e64" "$e0"
    local placement="pinned to CPU $PINNED_CPU" judged
    [[ -n "$PINNED_CPU" ]] || placement=unpinned
    judged=$(verdict "$rm <= 1.05")
    if awk -v lo="$rlo" -v hi="$rhi" 'BEGIN { exit !(lo < 0.9 || hi > 1.1) }'; then judged="UNSTEADY: runs $rlo-${rhi}x"; fi
    row "round trip, 64 subscriptions / none, p50 in turn, median of $RUNS runs ($placement)" "${e64} ns engine" "${e0} ns engine" \
        "$(ratio_text "$rm" "$rlo" "$rhi")" "<= 1.05x" "$judged"
}

if [[ -z "${SKIP_TRANSPORT:-}" ]]; then
    echo
    echo "== transport: VhostUserBackend + SCMIChainHandler over examples/board.dtb and a VhostUserFrontend"
    echo "   (Unix socket, memfd, eventfds); one round trip, or 64 messages, per iteration; load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "   (polling bets on idle CPUs: while other work keeps both CPUs busy, the polling rows lose to the default)"
    PIN= run_target Transport transport
    if [[ -n "$PINNED_CPU" ]]; then PIN=$PINNED_CPU run_target Transport transport-pinned; fi
    echo " threads placed by the scheduler, as serve runs"
    transport_summary transport " (unpinned)"
    subscription_runs
    if [[ -n "$PINNED_CPU" ]]; then
        echo " every thread on CPU $PINNED_CPU (reference: wake-ups without inter-processor interrupts)"
        transport_summary transport-pinned " (pinned)"
    fi
fi

# Polling as whole processes: Benchmarks/transport-loop (serve's transport with an echo
# device) in three ways, in turn: nothing polls (serve's default, a guest waiting for its
# interrupt); serve's ring worker polls (--ring-poll-us POLL_US); both poll (the frontend
# also looks at its used ring up to POLL_US before it sleeps). Each run's own time per
# message and the CPU the process used (user + system, /usr/bin/time), per message.
if [[ -z "${SKIP_TRANSPORT:-}" ]]; then
    echo
    echo "== polling: whole runs of Benchmarks/transport-loop: none, serve (--ring-poll-us ${POLL_US:=50}), guest + serve, in turn ($RUNS runs each); load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd Benchmarks/transport-loop && swift build -c release -q) >"$OUT/transport-loop.log" 2>&1 || {
        tail -20 "$OUT/transport-loop.log"
        echo "bench: building Benchmarks/transport-loop failed" >&2
        exit 1
    }
    LOOP=Benchmarks/transport-loop/.build/release/transport-loop
    declare -A POLL_ARGS=([none]="0 0" [serve]="$POLL_US 0" [both]="$POLL_US $POLL_US")
    declare -A POLL_LABEL=([serve]="serve polling" [both]="guest + serve polling")
    printf '  %-18s %-8s %12s %14s %10s %s\n' run polling "ns/msg" "CPU ns/msg" "CPUs busy" "time / none (min-max)"
    for run in "roundtrip ${POLL_ROUNDTRIPS:-50000}" "batch ${POLL_BATCHES:-20000}"; do
        mode=${run%% *}
        : >"$OUT/poll-$mode.tsv"
        for ((i = 0; i < RUNS; i++)); do
            for way in none serve both; do
                # shellcheck disable=SC2086
                figure=$(/usr/bin/time -f "%e %U %S" -o "$OUT/poll-time.txt" "$LOOP" $run ${POLL_ARGS[$way]} | awk '{ print $(NF - 3) }')
                read -r wall user system <"$OUT/poll-time.txt"
                echo "$way $figure $wall $user $system" >>"$OUT/poll-$mode.tsv"
            done
        done
        messages=${run#* }
        [[ $mode == batch ]] && messages=$((messages * 64))
        # median over the runs of: ns (the loop's own figure), cpu (ns per message), busy (CPU / wall)
        median_of() { awk -v w="$1" -v c="$2" -v n="$messages" '$1 == w { print (c == "cpu") ? ($4 + $5) * 1e9 / n : (c == "busy" ? ($4 + $5) / $3 : $2) }' \
            "$OUT/poll-$mode.tsv" | spread | awk -v c="$2" '{ printf (c == "busy" ? "%.2f" : "%.0f"), $1 }'; }
        # "median min max" of way $1 / none, run by run, of column $2 (time) or CPU
        ratio_of() { paste <(awk -v w="$1" -v c="$2" '$1 == w { print (c == "cpu") ? $4 + $5 : $2 }' "$OUT/poll-$mode.tsv") \
            <(awk -v c="$2" '$1 == "none" { print (c == "cpu") ? $4 + $5 : $2 }' "$OUT/poll-$mode.tsv") | awk '{ print $1 / $2 }' | spread; }
        for way in none serve both; do
            read -r rm rlo rhi <<<"$(ratio_of "$way" ns)"
            printf '  %-18s %-8s %12s %14s %10s %s\n' "$run" "$way" "$(median_of "$way" ns)" "$(median_of "$way" cpu)" \
                "$(median_of "$way" busy)" "$([[ $way == none ]] && echo - || ratio_text "$rm" "$rlo" "$rhi")"
            [[ $way == none ]] && continue
            read -r cm clo chi <<<"$(ratio_of "$way" cpu)"
            sameGoal="(reference)" sameVerdict=-
            if [[ $mode == roundtrip ]]; then sameGoal="no worse (<= 1.05x)" sameVerdict=$(verdict "$rm <= 1.05"); fi
            row "$mode, ${POLL_LABEL[$way]} / none, time per message (echo device)" "$(median_of "$way" ns) ns" \
                "$(median_of none ns) ns" "$(ratio_text "$rm" "$rlo" "$rhi")" "$sameGoal" "$sameVerdict"
            row "$mode, ${POLL_LABEL[$way]} / none, CPU per message (echo device)" "$(median_of "$way" cpu) ns" \
                "$(median_of none cpu) ns" "$(ratio_text "$cm" "$clo" "$chi")" "reported" "-"
        done
    done
    echo "  each run: the loop's own ns per message; CPU = user + system of the whole process / messages;"
    echo "  CPUs busy = CPU time / wall time; medians of $RUNS runs each, ratios run by run against the"
    echo "  run of none just before"
fi

# ---------------------------------------------------------------- 6. other suites

if [[ -z "${SKIP_SUITES:-}" ]]; then
    for suite in Benchmarks/suites/*.sh; do
        [[ -x $suite ]] || continue
        echo
        echo "== $(basename "$suite" .sh) ($suite)"
        "$suite" || echo "bench: $suite failed (exit $?)" >&2
    done
fi

# ---------------------------------------------------------------- 7. the table

echo
echo "== summary ($(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'), load now $(cut -d' ' -f1-3 /proc/loadavg), RUNS=$RUNS; ratios against references measured in this run)"
{
    printf 'figure\tnow\treference\tratio\tgoal\tverdict\n'
    cat "$OUT/rows.tsv"
} | column -t -s $'\t' | sed 's/^/  /'
