#!/bin/bash
# demo.sh - the main job on the bundled example, as `make demo` runs it:
# check, tables, guest node, serve (one socket per agent), two guests' worth of
# `call`s sharing a clock and a rail, a performance domain, a sensor read from a
# host file, one denied request, status, stop.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SCMI_DT:-.build/debug/scmi-dt}
BLOB=${1:-examples/board.dtb}
DIR=$(mktemp -d /tmp/scmi-demo.XXXXXX)
SERVE_PID=""
# The example's board-temp sensor reads this file (examples/board.dts).
SENSOR_DIR=/tmp/scmi-dt-example
SENSOR_FILE=$SENSOR_DIR/board-temp
cleanup() {
	[ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null || true
	rm -rf "$DIR"
	rm -f "$SENSOR_FILE"
}
trap cleanup EXIT

say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; "$@"; }

run "$BIN" check "$BLOB"
run "$BIN" tables "$BLOB"
say "$BIN guest-dtsi $BLOB --agent vm-cluster"
"$BIN" guest-dtsi "$BLOB" --agent vm-cluster | sed -n '/^scmi {/,$p'

# The sockets go in $DIR/run, which serve makes (0750; the sockets 0660); the control
# socket is $DIR/run/control, where `status --socket-dir` looks.
RUN=$DIR/run
say "$BIN serve $BLOB --socket-dir $RUN --trace &"
"$BIN" serve "$BLOB" --socket-dir "$RUN" --trace 2>"$DIR/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do [ -S "$RUN/control" ] && break; sleep 0.1; done
ls -l "$RUN"

mkdir -p "$SENSOR_DIR"
echo 41250 >"$SENSOR_FILE"
run "$BIN" call --socket "$RUN/vm-ivi.sock" base.info
run "$BIN" call clock list --socket "$RUN/vm-ivi.sock"   # typed form; `call clock list --help`

# vm-ivi (gpu) and vm-cluster (display) share clock 2 (ccu-gpu-core), rail 1 (vdd-gpu),
# power domain 0 (power-controller-0x3) and reset line 0 (clock-controller-0x7).
# Each `call` is a frontend like a guest: its requests last while it stays connected.
say "$BIN call --socket $RUN/vm-ivi.sock --hold 4 clock.enable 2 + clock.rate-set 2 400000000 + voltage.level-set 1 800000 + power.on 0 + reset.assert 0 &"
"$BIN" call --socket "$RUN/vm-ivi.sock" --hold 4 clock.enable 2 + clock.rate-set 2 400000000 + voltage.level-set 1 800000 + power.on 0 + reset.assert 0 >"$DIR/ivi.out" &
IVI=$!
sleep 1
say "$BIN call --socket $RUN/vm-cluster.sock --hold 2 clock.rate-set 2 600000000 + voltage.level-set 1 900000 + power.on 0 + power.on 1 + reset.pulse 0 &"
"$BIN" call --socket "$RUN/vm-cluster.sock" --hold 2 clock.rate-set 2 600000000 + voltage.level-set 1 900000 + power.on 0 + power.on 1 + reset.pulse 0 >"$DIR/cluster.out" &
CLUSTER=$!
sleep 1
echo "(both connected: the physical rate and level are the highest requests; power domain 0 is on"
echo " while either wants it; vm-cluster's pulse left reset line 0 asserted: vm-ivi holds it)"
run "$BIN" status --socket-dir "$RUN"

wait $CLUSTER
echo "(vm-cluster's call printed:)"; cat "$DIR/cluster.out"
echo "(vm-cluster disconnected: its requests are withdrawn, vm-ivi's remain)"
say "$BIN status --socket-dir $RUN | sed -n '/^power domains/,/^\$/p; /^clocks/,/^\$/p'"
"$BIN" status --socket-dir "$RUN" | sed -n '/^power domains/,/^$/p; /^clocks/,/^$/p'
wait $IVI
echo "(vm-ivi's call printed:)"; cat "$DIR/ivi.out"
echo "(vm-ivi disconnected too: its reset assertion is released)"
say "$BIN status --socket-dir $RUN | sed -n '/^reset domains/,/^\$/p'"
"$BIN" status --socket-dir "$RUN" | sed -n '/^reset domains/,/^$/p'
run "$BIN" call power list --socket "$RUN/vm-ivi.sock"   # power-controller-0x4 is the display's: DENIED

# Performance: vm-ivi's cpu device holds domain 0 (the CPU cluster's OPP table, levels in kHz).
run "$BIN" call perf list --socket "$RUN/vm-ivi.sock"
say "$BIN call --socket $RUN/vm-ivi.sock --hold 2 perf.level-set 0 1400000 + perf.limits-set 0 600000 1000000 &"
"$BIN" call --socket "$RUN/vm-ivi.sock" --hold 2 perf.level-set 0 1400000 + perf.limits-set 0 600000 1000000 >"$DIR/perf.out" &
PERF=$!
sleep 1
echo "(vm-ivi's request moved inside its new limits; status shows both)"
say "$BIN status --socket-dir $RUN | sed -n '/^performance/,/^\$/p'"
"$BIN" status --socket-dir "$RUN" | sed -n '/^performance/,/^$/p'
wait $PERF
cat "$DIR/perf.out"
# Sensors: board-temp reads $SENSOR_FILE afresh on each request.
run "$BIN" call sensor list --socket "$RUN/vm-cluster.sock"
say "echo 52750 > $SENSOR_FILE"
echo 52750 >"$SENSOR_FILE"
run "$BIN" call sensor read 1 --socket "$RUN/vm-cluster.sock"
# A trip point: vm-cluster arms board-temp's trip point 0 at 60 degC (upwards) and
# listens while the file rises past it; the poller thread reads it every 500 ms.
say "$BIN call --socket $RUN/vm-cluster.sock --listen 4 sensor.trip-point 1 0 60000 up + sensor.notify on 1 trip-point &"
"$BIN" call --socket "$RUN/vm-cluster.sock" --listen 4 sensor.trip-point 1 0 60000 up + sensor.notify on 1 trip-point >"$DIR/trip.out" 2>&1 &
TRIP=$!
sleep 1
say "echo 65000 > $SENSOR_FILE"
echo 65000 >"$SENSOR_FILE"
wait $TRIP
cat "$DIR/trip.out"
grep -q "SENSOR_TRIP_POINT_EVENT agent=0 sensor=1 trip=0 direction=up" "$DIR/trip.out" ||
	{ echo "demo: no SENSOR_TRIP_POINT_EVENT arrived" >&2; exit 1; }

say "$BIN call --socket $RUN/vm-cluster.sock clock.rate-set 0 100000000   # usb0's clock: not vm-cluster's"
set +e
"$BIN" call --socket "$RUN/vm-cluster.sock" clock.rate-set 0 100000000
status=$?
set -e
[ "$status" = 1 ] || { echo "demo: expected DENIED (exit status 1), got $status" >&2; exit 1; }
echo "(exit status 1: the platform answered DENIED)"
run "$BIN" call --socket "$RUN/vm-admin.sock" base.agent 2

say "kill -TERM $SERVE_PID   # serve stops and removes its sockets"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
SERVE_PID=""
if ls "$RUN"/*.sock "$RUN/control" >/dev/null 2>&1; then
	echo "demo: sockets left behind" >&2
	exit 1
fi
echo "serve exited 0; no socket left in $RUN"
echo
echo "last lines of serve --trace:"
tail -n 6 "$DIR/serve.log"
