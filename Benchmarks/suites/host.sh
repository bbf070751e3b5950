#!/usr/bin/env bash
# host.sh - what reaching the host costs (README, "Reaching the host"), as whole processes:
#
#   1. a hook action per second: serve examples/board.dtb --host-hook HOOK, where HOOK is a
#      shell script that exits 0, so every action includes starting a process; the round
#      trip of a CLOCK_RATE_SET that runs it, against the same change on a model clock;
#   2. a mediator: the round trip of a CLOCK_RATE_SET through a mediator serve
#      (examples/mediator/board.dtb, --upstream vhost-user:) to a firmware serve
#      (examples/mediator/firmware.dtb), against the same change on a model clock of the
#      same mediator plus one round trip straight to the firmware; goal: under 3x.
#
# Each round trip is measured by Benchmarks/transport-loop's `rate-set` mode: a guest-like
# vhost-user frontend (the one `scmi-dt call` uses) enables a clock, then sets it
# $HOST_ROUNDTRIPS times alternating two rates, so that each set changes the physical
# state; only the sets are timed. The figures of one run are measured in turn; $RUNS
# runs, medians with min-max, ratios run by run.
# Environment as suites/README.md says; HOST_ROUNDTRIPS [2000], HOOK_ACTIONS [500].
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib.sh
source "$BENCH_LIB"
BIN=${SCMI_DT:?}
RUNS=${RUNS:-5}
ROUNDTRIPS=${HOST_ROUNDTRIPS:-2000}
HOOK_ACTIONS=${HOOK_ACTIONS:-500}
DIR=$(mktemp -d /tmp/scmi-dt-bench-host.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT
(cd Benchmarks/transport-loop && swift build -c release -q) >"$OUT/host-transport-loop.log" 2>&1 || {
    tail -20 "$OUT/host-transport-loop.log"
    echo "bench: building Benchmarks/transport-loop failed" >&2
    exit 1
}
LOOP=Benchmarks/transport-loop/.build/release/transport-loop

# start NAME BLOB ARGS...: serve BLOB with its sockets in $DIR/NAME until its control
# socket listens; 1 if it does not start (its log is $OUT/host-NAME.log)
start() {
    local name=$1 blob=$2
    shift 2
    "$BIN" serve "$blob" --socket-dir "$DIR/$name" "$@" >"$OUT/host-$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do [[ -S $DIR/$name/control ]] && return 0; sleep 0.1; done
    return 1
}

# per_message SOCKET CLOCK RATE_A RATE_B COUNT: nanoseconds per rate change (transport-loop
# rate-set: COUNT sets alternating the two rates on one connection, only the sets timed)
per_message() {
    "$LOOP" rate-set "$@" | awk '{ print $(NF - 3) }'
}
# column FILE N: "median min max" of the Nth column of FILE
column() { awk -v n="$2" '{ print $n }' "$1" | spread; }
us() { awk -v n="$1" 'BEGIN { printf "%.1f us", n / 1000 }'; }

# ---------------------------------------------------------------- 1. hook

echo "   hook actions: serve examples/board.dtb --host-hook (a shell script that exits 0), $HOOK_ACTIONS rate changes per run"
printf '#!/bin/sh\nexit 0\n' >"$DIR/exit0-hook"
chmod +x "$DIR/exit0-hook"
dtc -q -I dts -O dtb -o "$DIR/board.dtb" examples/board.dts
mkdir -p /tmp/scmi-dt-example && echo 41000 >/tmp/scmi-dt-example/board-temp   # the board's file sensor
if start model "$DIR/board.dtb" && start hooked "$DIR/board.dtb" --host-hook "$DIR/exit0-hook"; then
    # examples/board.dts: vm-ivi's clock 2 (ccu-gpu-core), 1 MHz .. 1 GHz in 1 MHz steps
    : >"$OUT/host-hook.tsv"
    per_message "$DIR/model/vm-ivi.sock" 2 300000000 400000000 "$HOOK_ACTIONS" >/dev/null   # warm-up
    for ((i = 0; i < RUNS; i++)); do
        hooked=$(per_message "$DIR/hooked/vm-ivi.sock" 2 300000000 400000000 "$HOOK_ACTIONS")
        model=$(per_message "$DIR/model/vm-ivi.sock" 2 300000000 400000000 "$HOOK_ACTIONS")
        echo "$hooked $model" >>"$OUT/host-hook.tsv"
    done
    read -r hm hlo hhi < <(column "$OUT/host-hook.tsv" 1)
    read -r mm _ _ < <(column "$OUT/host-hook.tsv" 2)
    per_second=$(awk -v n="$hm" 'BEGIN { printf "%.0f", 1e9 / n }')
    printf '  %-52s %s (%s-%s), %s actions/s\n' "CLOCK_RATE_SET running the hook, round trip" "$(us "$hm")" "$(us "$hlo")" "$(us "$hhi")" "$per_second"
    printf '  %-52s %s\n' "the same change, model (no hook)" "$(us "$mm")"
    row "hook actions per second (sh script exiting 0; round trip vs model)" "$per_second /s ($(us "$hm"))" "$(us "$mm")" \
        "$(awk -v h="$hm" -v m="$mm" 'BEGIN { printf "%.0fx", h / m }')" "reported" "-"
else
    echo "bench: the hook serves did not start (logs: $OUT/host-model.log, $OUT/host-hooked.log)" >&2
    row "hook actions per second" "not run" "-" "-" "reported" "not run"
fi

# ---------------------------------------------------------------- 2. mediator

echo "   mediator: examples/mediator/board.dtb --upstream vhost-user: to examples/mediator/firmware.dtb, $ROUNDTRIPS rate changes per run"
dtc -q -I dts -O dtb -o "$DIR/firmware.dtb" examples/mediator/firmware.dts
dtc -q -I dts -O dtb -o "$DIR/mediator.dtb" examples/mediator/board.dts
if start firmware "$DIR/firmware.dtb" && start mediator "$DIR/mediator.dtb" --upstream "vhost-user:$DIR/firmware/mediator.sock"; then
    # The mediator's clock 0 is the firmware's clock 2 (gpu-core: 200, 400, 600, 800 MHz),
    # its clock 1 a model clock (audio-pll); the firmware's agent "host" may set its
    # clock 1 (disp-pixel, 25 .. 300 MHz).
    : >"$OUT/host-mediator.tsv"
    per_message "$DIR/mediator/vm-ivi.sock" 0 400000000 600000000 "$ROUNDTRIPS" >/dev/null   # warm-up
    for ((i = 0; i < RUNS; i++)); do
        mediated=$(per_message "$DIR/mediator/vm-ivi.sock" 0 400000000 600000000 "$ROUNDTRIPS")
        model=$(per_message "$DIR/mediator/vm-ivi.sock" 1 24576000 22579200 "$ROUNDTRIPS")
        upstream=$(per_message "$DIR/firmware/host.sock" 1 100000000 200000000 "$ROUNDTRIPS")
        echo "$mediated $model $upstream" >>"$OUT/host-mediator.tsv"
    done
    read -r dm dlo dhi < <(column "$OUT/host-mediator.tsv" 1)
    read -r mm _ _ < <(column "$OUT/host-mediator.tsv" 2)
    read -r um _ _ < <(column "$OUT/host-mediator.tsv" 3)
    read -r rm rlo rhi < <(awk '{ print $1 / ($2 + $3) }' "$OUT/host-mediator.tsv" | spread)
    printf '  %-52s %s (%s-%s)\n' "CLOCK_RATE_SET through the mediator to the firmware" "$(us "$dm")" "$(us "$dlo")" "$(us "$dhi")"
    printf '  %-52s %s\n' "the same change on the mediator's model clock" "$(us "$mm")"
    printf '  %-52s %s\n' "the same change straight to the firmware" "$(us "$um")"
    printf '  %-52s %s\n' "mediated / (model + upstream)" "$(ratio_text "$rm" "$rlo" "$rhi")"
    row "mediated CLOCK_RATE_SET / (model + upstream round trip)" "$(us "$dm")" "$(us "$mm") + $(us "$um")" \
        "$(ratio_text "$rm" "$rlo" "$rhi")" "< 3x" "$(verdict "$rm < 3")"
else
    echo "bench: the firmware or the mediator serve did not start (logs: $OUT/host-firmware.log, $OUT/host-mediator.log)" >&2
    tail -3 "$OUT/host-mediator.log" >&2 || true
    row "mediated CLOCK_RATE_SET / (model + upstream round trip)" "not run" "-" "-" "< 3x" "not run"
fi
