#!/bin/bash
# run-mediator.sh - the real-guest suite's run with a mediator (README, "Reaching the
# host"): arm64 Linux 6.12 under QEMU 10 as a guest of a `scmi-dt serve` that forwards to
# a second `scmi-dt serve` playing the SCMI firmware, over vhost-user.
#
#   Tests/guest/run-mediator.sh [FIRMWARE_BLOB BOARD_BLOB]   (default: examples/mediator/*.dtb)
#
#   1. starts the firmware serve, then the mediator serve with
#      --upstream vhost-user:<the firmware's socket of agent $FIRMWARE_AGENT>;
#   2. boots the mediator's agent with the most firmware clocks (expect.py --mediator),
#      with assigned-clock-rates on one of them: the guest's clk_summary and clk-scmi's
#      ranges must be the firmware's facts (the board states none), the assigned rate must
#      hold;
#   3. while the guest runs, the firmware's `status` must show that rate on the
#      firmware's id, requested by its agent $FIRMWARE_AGENT; after the guest powers off,
#      the firmware's clock must be back at its own initial rate;
#   4. SIGTERM to the mediator (nothing left requested at the firmware), then to the
#      firmware: both exit 0, no socket left.
# Prints what it checked; on failure the guest's console log. Exit 0 = all passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
FIRMWARE_BLOB=${1:-examples/mediator/firmware.dtb}
BLOB=${2:-examples/mediator/board.dtb}
FIRMWARE_AGENT=${FIRMWARE_AGENT:-mediator}   # the firmware's agent the mediator connects as
BIN=${SCMI_DT:-$ROOT/.build/debug/scmi-dt}
HARNESS=${GUEST_HARNESS:-$ROOT/../shared/guest}
HERE=$ROOT/Tests/guest

# shellcheck source=suite-lib.sh
. "$HERE/suite-lib.sh"

[ -f "$HARNESS/run.sh" ] || { echo "mediator suite: no harness at $HARNESS (../shared/guest)" >&2; exit 1; }
for tool in qemu-system-aarch64 dtc cpio python3; do
	command -v $tool >/dev/null || { echo "mediator suite: missing $tool (run scripts/setup.sh --guest)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "mediator suite: build scmi-dt first ($BIN)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/scmi-guest-mediator.XXXXXX)
SOCKETS=$WORK/mediator
FIRMWARE=$WORK/firmware
CONTROL=$SOCKETS/control
FIRMWARE_CONTROL=$FIRMWARE/control
FIRMWARE_PID=""
MEDIATOR_PID=""
cleanup() {
	[ -n "$MEDIATOR_PID" ] && kill -TERM "$MEDIATOR_PID" 2>/dev/null && wait "$MEDIATOR_PID" 2>/dev/null
	[ -n "$FIRMWARE_PID" ] && kill -TERM "$FIRMWARE_PID" 2>/dev/null && wait "$FIRMWARE_PID" 2>/dev/null
	[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# start_serve NAME CONTROL LOG ARGS...: serve in the background until its control socket listens
start_serve() {
	local name=$1 control=$2 log=$3
	shift 3
	"$BIN" serve "$@" --trace >"$log" 2>&1 &
	SERVED_PID=$!
	for _ in $(seq 100); do [ -S "$control" ] && return 0; sleep 0.1; done
	cat "$log"
	echo "mediator suite: the $name serve did not start" >&2
	exit 1
}

"$BIN" tables --format json "$BLOB" >"$WORK/tables.json" || { echo "mediator suite: tables failed on $BLOB" >&2; exit 1; }
"$BIN" tables --format json "$FIRMWARE_BLOB" >"$WORK/firmware.json" || { echo "mediator suite: tables failed on $FIRMWARE_BLOB" >&2; exit 1; }
python3 "$HERE/expect.py" "$WORK/tables.json" --mediator "$WORK/firmware.json" >"$WORK/shared.env"
. "$WORK/shared.env"
[ -n "${MEDIATOR_AGENT:-}" ] || { echo "mediator suite: no agent of $BLOB has a firmware clock" >&2; exit 1; }

start_serve firmware "$FIRMWARE_CONTROL" "$WORK/firmware.log" "$FIRMWARE_BLOB" --socket-dir "$FIRMWARE"
FIRMWARE_PID=$SERVED_PID
start_serve mediator "$CONTROL" "$WORK/mediator.log" "$BLOB" --socket-dir "$SOCKETS" \
	--upstream "vhost-user:$FIRMWARE/$FIRMWARE_AGENT.sock"
MEDIATOR_PID=$SERVED_PID
echo "mediator suite: $BLOB in front of $FIRMWARE_BLOB (agent $FIRMWARE_AGENT); booting $MEDIATOR_AGENT (work dir $WORK)"

# firmware_clock EXPRESSION-OF-c: a field of the firmware's clock $MEDIATOR_SET_FIRMWARE_ID
firmware_clock() { status_at "$FIRMWARE_CONTROL" "[$1 for c in s['platform']['clocks'] if c['id']==$MEDIATOR_SET_FIRMWARE_ID][0]"; }

echo "1. $MEDIATOR_AGENT: clk-scmi over the firmware's facts; $MEDIATOR_SET_CLOCK_NAME set to $MEDIATOR_SET_RATE Hz at probe"
echo "&scmi_clk { assigned-clocks = <&scmi_clk $MEDIATOR_SET_CLOCK>; assigned-clock-rates = <$MEDIATOR_SET_RATE>; };" >"$WORK/assigned.dtsi"
boot "$MEDIATOR_AGENT" guest-mediator.sh "mediator-$MEDIATOR_AGENT" --dts-append "$WORK/assigned.dtsi" &
GUEST_PID=$!
if wait_marker "$WORK/mediator-$MEDIATOR_AGENT.console" '@@MEDIATOR-SET@@' 150; then
	v=$(status_value "[c['rate_hz'] for c in s['platform']['clocks'] if c['id']==$MEDIATOR_SET_CLOCK][0]")
	[ "$v" = "$MEDIATOR_SET_RATE" ] && ok "mediator status: clock $MEDIATOR_SET_CLOCK ($MEDIATOR_SET_CLOCK_NAME) at $v Hz" \
		|| bad "mediator status: clock $MEDIATOR_SET_CLOCK at $v Hz, expected $MEDIATOR_SET_RATE"
	v=$(firmware_clock "c['rate_hz']")
	[ "$v" = "$MEDIATOR_SET_RATE" ] && ok "firmware status: its clock $MEDIATOR_SET_FIRMWARE_ID ($MEDIATOR_SET_CLOCK_NAME) at $v Hz" \
		|| bad "firmware status: its clock $MEDIATOR_SET_FIRMWARE_ID at $v Hz, expected $MEDIATOR_SET_RATE"
	v=$(firmware_clock "[r['rate_hz'] for r in c['requests'] if r['agent_name']=='$FIRMWARE_AGENT']")
	[ "$v" = "[$MEDIATOR_SET_RATE]" ] && ok "firmware status: agent $FIRMWARE_AGENT requests $MEDIATOR_SET_RATE Hz of its clock $MEDIATOR_SET_FIRMWARE_ID" \
		|| bad "firmware status: $FIRMWARE_AGENT's requests of clock $MEDIATOR_SET_FIRMWARE_ID are $v, expected [$MEDIATOR_SET_RATE]"
else
	bad "guest $MEDIATOR_AGENT never showed its clocks"
fi
wait $GUEST_PID
report "mediator-$MEDIATOR_AGENT" $?

echo "2. the guest powered off: its request withdrawn, the firmware's clock back where it was"
for _ in $(seq 50); do
	v=$(firmware_clock "c['rate_hz']")
	[ "$v" = "$MEDIATOR_SET_INITIAL" ] && break
	sleep 0.1
done
[ "$v" = "$MEDIATOR_SET_INITIAL" ] && ok "firmware status: its clock $MEDIATOR_SET_FIRMWARE_ID back at $v Hz" \
	|| bad "firmware status: its clock $MEDIATOR_SET_FIRMWARE_ID at $v Hz after the guest left, expected $MEDIATOR_SET_INITIAL"
v=$(status_value "[r['agent_name'] for c in s['platform']['clocks'] if c['id']==$MEDIATOR_SET_CLOCK for r in c['requests']]")
[ "$v" = "[]" ] && ok "mediator status: no request left on clock $MEDIATOR_SET_CLOCK" || bad "mediator status: requests of clock $MEDIATOR_SET_CLOCK: $v"

echo "3. orderly stop"
for serve in mediator firmware; do
	if [ $serve = mediator ]; then pid=$MEDIATOR_PID dir=$SOCKETS; else pid=$FIRMWARE_PID dir=$FIRMWARE; fi
	grep -q -i -E 'fatal|precondition|trap' "$WORK/$serve.log" && { bad "the $serve serve's log shows a crash"; tail -20 "$WORK/$serve.log"; }
	kill -TERM "$pid"; wait "$pid"; rc=$?
	[ $serve = mediator ] && MEDIATOR_PID="" || FIRMWARE_PID=""
	[ "$rc" = 0 ] && ok "the $serve serve exited 0 on SIGTERM" || { bad "the $serve serve: exit status $rc on SIGTERM"; tail -20 "$WORK/$serve.log"; }
	if [ $serve = mediator ]; then
		v=$(firmware_clock "[r['agent_name'] for r in c['requests']]")
		[ "$v" = "[]" ] && ok "firmware status: nothing requested of its clock $MEDIATOR_SET_FIRMWARE_ID once the mediator stopped" \
			|| bad "firmware status: its clock $MEDIATOR_SET_FIRMWARE_ID still requested by $v"
	fi
	ls "$dir"/*.sock >/dev/null 2>&1 && bad "$serve sockets left behind: $(ls "$dir"/*.sock)" || ok "no $serve socket left behind"
done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
