#!/bin/bash
# demo-mediator.sh - a mediator in front of an SCMI firmware, as `make demo-mediator`
# runs it (README, "Reaching the host"; examples/mediator/):
#   1. one `scmi-dt serve` plays the board's SCMI firmware (examples/mediator/firmware.dtb,
#      agents "mediator" and "host");
#   2. `tables --upstream` shows the mediator's board with the firmware's facts;
#   3. the mediator `serve` (examples/mediator/board.dtb) starts with
#      --upstream vhost-user:<the firmware's mediator socket>;
#   4. two guests' worth of `call`s on the mediator: a rate change and an enable of the
#      shared gpu-core clock (the mediator's clock 0, the firmware's clock 2), a change of
#      the model clock audio-pll that never leaves the mediator;
#   5. the firmware's `status`: what arrived, once, with the firmware's ids;
#   6. SIGTERM to the mediator (orderly stop), the firmware's `status`: released;
#      SIGTERM to the firmware.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SCMI_DT:-.build/debug/scmi-dt}
FIRMWARE_BLOB=examples/mediator/firmware.dtb
BOARD_BLOB=examples/mediator/board.dtb
DIR=$(mktemp -d /tmp/scmi-demo-mediator.XXXXXX)
FW=$DIR/firmware
MED=$DIR/mediator
FIRMWARE_PID=""
MEDIATOR_PID=""
cleanup() {
	[ -n "$MEDIATOR_PID" ] && kill -TERM "$MEDIATOR_PID" 2>/dev/null && wait "$MEDIATOR_PID" 2>/dev/null
	[ -n "$FIRMWARE_PID" ] && kill -TERM "$FIRMWARE_PID" 2>/dev/null && wait "$FIRMWARE_PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; "$@"; }
fail() { echo "demo-mediator: $*" >&2; exit 1; }
# wait_for_control DIR LOG: until serve's control socket listens (serve makes it last)
wait_for_control() {
	for _ in $(seq 100); do [ -S "$1/control" ] && return 0; sleep 0.1; done
	cat "$2" >&2
	fail "serve did not start ($2)"
}
# firmware_clock FIELD ID: a field of the firmware's clock ID in `status --format json`
firmware_clock() {
	"$BIN" status --socket-dir "$FW" --format json |
		python3 -c "import json,sys; s=json.load(sys.stdin); print([c['$1'] for c in s['platform']['clocks'] if c['id']==$2][0])"
}
firmware_clocks() { "$BIN" status --socket-dir "$FW" | sed -n '/^clocks/,/^$/p'; }

run "$BIN" check "$FIRMWARE_BLOB" "$BOARD_BLOB"

say "$BIN serve $FIRMWARE_BLOB --socket-dir $FW &   # the SCMI firmware"
"$BIN" serve "$FIRMWARE_BLOB" --socket-dir "$FW" 2>"$DIR/firmware.log" &
FIRMWARE_PID=$!
wait_for_control "$FW" "$DIR/firmware.log"
ls "$FW"

# The firmware's facts, merged into the board's tables: rates and levels the board
# does not state, each with where it came from.
say "$BIN tables $BOARD_BLOB --upstream vhost-user:$FW/mediator.sock | sed -n '2p; /^clocks/,/^\$/p; /^voltage/,/^\$/p'"
"$BIN" tables "$BOARD_BLOB" --upstream "vhost-user:$FW/mediator.sock" | sed -n '2p; /^clocks/,/^$/p; /^voltage/,/^$/p'

say "$BIN serve $BOARD_BLOB --socket-dir $MED --upstream vhost-user:$FW/mediator.sock --trace &"
"$BIN" serve "$BOARD_BLOB" --socket-dir "$MED" --upstream "vhost-user:$FW/mediator.sock" --trace 2>"$DIR/mediator.log" &
MEDIATOR_PID=$!
wait_for_control "$MED" "$DIR/mediator.log"
ls "$MED"

# What the guests see: the firmware's rates (gpu-core: 200, 400, 600, 800 MHz), under
# the mediator's ids.
run "$BIN" call clock list --socket "$MED/vm-ivi.sock"

# vm-ivi (gpu) and vm-cluster (display) share gpu-core, the mediator's clock 0 and the
# firmware's clock 2. The mediator arbitrates; the firmware gets the result.
say "$BIN call --socket $MED/vm-ivi.sock --hold 4 clock.enable 0 + clock.rate-set 0 600000000 + clock.rate-set 1 24576000 &"
"$BIN" call --socket "$MED/vm-ivi.sock" --hold 4 clock.enable 0 + clock.rate-set 0 600000000 + clock.rate-set 1 24576000 >"$DIR/ivi.out" &
IVI=$!
sleep 1
say "$BIN call --socket $MED/vm-cluster.sock --hold 2 clock.rate-set 0 400000000 &"
"$BIN" call --socket "$MED/vm-cluster.sock" --hold 2 clock.rate-set 0 400000000 >"$DIR/cluster.out" &
CLUSTER=$!
sleep 1
echo "(both guests connected: the mediator runs gpu-core at the higher request, 600 MHz, enabled by vm-ivi;"
echo " audio-pll is a model clock: it changes in the mediator and never reaches the firmware)"
say "$BIN status --socket-dir $MED | sed -n '/^clocks/,/^\$/p'   # the mediator"
"$BIN" status --socket-dir "$MED" | sed -n '/^clocks/,/^$/p'
say "$BIN status --socket-dir $FW | sed -n '/^clocks/,/^\$/p'   # the firmware"
firmware_clocks
[ "$(firmware_clock rate_hz 2)" = 600000000 ] || fail "the firmware's clock 2 is not at 600 MHz"
[ "$(firmware_clock enabled 2)" = True ] || fail "the firmware's clock 2 is not enabled"
echo "(the firmware's clock 2, gpu-core, runs at 600 MHz, enabled, at the request of one agent: mediator)"

wait $CLUSTER
cat "$DIR/cluster.out"
wait $IVI
cat "$DIR/ivi.out"
echo "(both guests disconnected: the mediator withdrew their requests and applied the result upstream)"
firmware_clocks

# A last guest holds gpu-core while the mediator stops: SIGTERM withdraws every guest's
# requests and applies the result to the firmware before the mediator exits.
say "$BIN call --socket $MED/vm-ivi.sock --hold 30 clock.enable 0 + clock.rate-set 0 800000000 &"
"$BIN" call --socket "$MED/vm-ivi.sock" --hold 30 clock.enable 0 + clock.rate-set 0 800000000 >"$DIR/last.out" 2>&1 &
LAST=$!
sleep 1
firmware_clocks
[ "$(firmware_clock rate_hz 2)" = 800000000 ] || fail "the firmware's clock 2 is not at 800 MHz"
say "kill -TERM $MEDIATOR_PID   # the mediator: orderly stop"
kill -TERM "$MEDIATOR_PID"
wait "$MEDIATOR_PID" || fail "the mediator exited with status $?"
MEDIATOR_PID=""
wait $LAST 2>/dev/null || true
echo "mediator exited 0"
say "$BIN status --socket-dir $FW | sed -n '/^clocks/,/^\$/p'   # released"
firmware_clocks
[ "$(firmware_clock enabled 2)" = False ] || fail "the firmware's clock 2 is still enabled"
echo "(nothing of the guests' is left at the firmware: clock 2 is disabled, no agent requests it)"

say "kill -TERM $FIRMWARE_PID   # the firmware"
kill -TERM "$FIRMWARE_PID"
wait "$FIRMWARE_PID"
FIRMWARE_PID=""
echo "firmware exited 0"
echo
echo "the mediator's host actions (serve --trace):"
grep -a -i 'upstream' "$DIR/mediator.log" | tail -n 12 || true
