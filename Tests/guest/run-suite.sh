#!/bin/bash
# run-suite.sh - the real-guest acceptance suite: arm64 Linux 6.12 under QEMU 10
# (vhost-user-scmi-pci) against `scmi-dt serve`, using ../shared/guest/run.sh.
#
#   Tests/guest/run-suite.sh [BLOB]        (default: examples/board.dtb)
#
# For the blob it: starts serve on temporary sockets with a control socket;
#   1. boots one guest per agent with that agent's `scmi-dt guest-dtsi` node and
#      checks the Base handshake, clocks, regulators and raw-mode permissions;
#   2. boots two guests at once sharing a clock, a voltage domain and a reset line,
#      watches arbitration with `scmi-dt status` on the host, before and after one
#      leaves, and the notifications one gets of the other's requests (raw mode);
#   3. boots a guest again on a socket that already served one (a reboot);
#   4. for each agent with a performance domain or a host-file temperature sensor:
#      CPU 0 wired to the domain (scmi-cpufreq: frequencies, a userspace set speed
#      seen in `scmi-dt status`) and scmi-hwmon following the file as it changes;
#   5. for the first agent with a clock it may set: clk-scmi sets its rate at probe
#      (assigned-clock-rates) with an asynchronous CLOCK_RATE_SET, whose delayed
#      response serve's trace shows on the eventq; the rate in the guest and in
#      `scmi-dt status` is the one asked for.
# Prints what it checked; on failure prints the guest's console log. Exit 0 = all passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BLOB=${1:-examples/board.dtb}
BIN=${SCMI_DT:-$ROOT/.build/debug/scmi-dt}
HARNESS=${GUEST_HARNESS:-$ROOT/../shared/guest}
HERE=$ROOT/Tests/guest

# shellcheck source=suite-lib.sh
. "$HERE/suite-lib.sh"

if [ ! -x "$HARNESS/run.sh" ] && [ ! -f "$HARNESS/run.sh" ]; then
	echo "guest suite: no harness at $HARNESS (../shared/guest); nothing to run" >&2
	exit 1
fi
for tool in qemu-system-aarch64 dtc cpio python3; do
	command -v $tool >/dev/null || { echo "guest suite: missing $tool (run scripts/setup.sh --guest)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "guest suite: build scmi-dt first ($BIN)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/scmi-guest-suite.XXXXXX)
SERVE_PID=""
cleanup() {
	[ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" tables --format json "$BLOB" >"$WORK/tables.json" || { echo "guest suite: scmi-dt tables failed on $BLOB" >&2; exit 1; }
AGENTS=$(python3 -c 'import json,sys; print(" ".join(a["name"] for a in json.load(open(sys.argv[1]))["agents"]))' "$WORK/tables.json")

# Host-file sensors this suite may write start with a value, so that hwmon reads one.
python3 -c '
import json, sys
sys.path.insert(0, sys.argv[2])
import expect
for sensor in json.load(open(sys.argv[1]))["sensors"]:
    if expect.changeable_file(sensor):
        print(sensor["path"])' "$WORK/tables.json" "$HERE" | while read -r path; do
	mkdir -p "$(dirname "$path")" && echo 41000 >"$path"
done

"$BIN" serve "$BLOB" --socket-dir "$WORK" --control "$WORK/control.sock" --trace >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do [ -S "$WORK/control.sock" ] && break; sleep 0.1; done
[ -S "$WORK/control.sock" ] || { cat "$WORK/serve.log"; echo "guest suite: serve did not start" >&2; exit 1; }
echo "guest suite: serving $BLOB for agents: $AGENTS (work dir $WORK)"

echo "1. one guest per agent: Base handshake, clocks, regulators, permissions"
for agent in $AGENTS; do
	boot "$agent" guest-basics.sh "basics-$agent"
	report "basics-$agent" $?
done

PAIR=$(python3 "$HERE/expect.py" "$WORK/tables.json" --pair)
if [ -n "$PAIR" ]; then
	set -- $PAIR
	LOW=$1 HIGH=$2
	python3 "$HERE/expect.py" "$WORK/tables.json" --shared "$LOW" "$HIGH" >"$WORK/shared.env"
	. "$WORK/shared.env"
	echo "2. two guests at once: $LOW and $HIGH share ${SHARED_CLOCK_NAME:-no clock}, ${SHARED_DOMAIN_NAME:-no voltage domain} and ${SHARED_RESET_NAME:-no reset line}"
	boot "$LOW" guest-share-low.sh "share-$LOW" &
	LOW_PID=$!
	if wait_marker "$WORK/share-$LOW.console" '@@LOW-SET@@' 120; then
		[ -n "${SHARED_CLOCK:-}" ] && { v=$(status_value "[c['rate_hz'] for c in s['platform']['clocks'] if c['id']==$SHARED_CLOCK][0]"); [ "$v" = "$LOW_RATE" ] && ok "host status: $SHARED_CLOCK_NAME at $v Hz with one request" || bad "host status: $SHARED_CLOCK_NAME at $v Hz, expected $LOW_RATE"; }
		boot "$HIGH" guest-share-high.sh "share-$HIGH" &
		HIGH_PID=$!
		if wait_marker "$WORK/share-$HIGH.console" '@@HIGH-SET@@' 120; then
			if [ -n "${SHARED_CLOCK:-}" ]; then
				v=$(status_value "[c['rate_hz'] for c in s['platform']['clocks'] if c['id']==$SHARED_CLOCK][0]")
				[ "$v" = "$HIGH_RATE" ] && ok "host status while both run: $SHARED_CLOCK_NAME at the highest request, $v Hz" || bad "host status while both run: $SHARED_CLOCK_NAME at $v Hz, expected $HIGH_RATE"
				v=$(status_value "[c['enabled'] for c in s['platform']['clocks'] if c['id']==$SHARED_CLOCK][0]")
				[ "$v" = "True" ] && ok "host status: $SHARED_CLOCK_NAME on (one agent's vote)" || bad "host status: $SHARED_CLOCK_NAME enabled=$v"
			fi
			if [ -n "${SHARED_DOMAIN:-}" ]; then
				v=$(status_value "[d['level_microvolts'] for d in s['platform']['voltage_domains'] if d['id']==$SHARED_DOMAIN][0]")
				[ "$v" = "$HIGH_LEVEL" ] && ok "host status while both run: $SHARED_DOMAIN_NAME at the highest request, $v uV" || bad "host status while both run: $SHARED_DOMAIN_NAME at $v uV, expected $HIGH_LEVEL"
			fi
		else
			bad "guest $HIGH never set its request"
		fi
		wait $HIGH_PID
		report "share-$HIGH" $?
		# the high guest has powered off and disconnected: its requests are withdrawn
		if [ -n "${SHARED_CLOCK:-}" ]; then
			for _ in $(seq 50); do v=$(status_value "[c['rate_hz'] for c in s['platform']['clocks'] if c['id']==$SHARED_CLOCK][0]"); [ "$v" = "$LOW_RATE" ] && break; sleep 0.1; done
			[ "$v" = "$LOW_RATE" ] && ok "host status after $HIGH powered off: $SHARED_CLOCK_NAME recomputed to $v Hz" || bad "host status after $HIGH left: $SHARED_CLOCK_NAME at $v Hz, expected $LOW_RATE"
		fi
		if [ -n "${SHARED_DOMAIN:-}" ]; then
			v=$(status_value "[d['level_microvolts'] for d in s['platform']['voltage_domains'] if d['id']==$SHARED_DOMAIN][0]")
			[ "$v" = "$LOW_LEVEL" ] && ok "host status after $HIGH powered off: $SHARED_DOMAIN_NAME recomputed to $v uV" || bad "host status after $HIGH left: $SHARED_DOMAIN_NAME at $v uV, expected $LOW_LEVEL"
		fi
	else
		bad "guest $LOW never set its request"
	fi
	wait $LOW_PID
	report "share-$LOW" $?
	: >"$WORK/shared.env"
else
	echo "2. skipped: no two agents of $BLOB share a clock or a voltage domain"
fi

FIRST=${AGENTS%% *}
echo "3. a second boot on $FIRST's socket (reboot)"
boot "$FIRST" guest-reboot.sh "reboot-$FIRST"
report "reboot-$FIRST" $?

PERF_SENSOR_AGENTS=$(python3 "$HERE/expect.py" "$WORK/tables.json" --perf-sensor)
if [ -n "$PERF_SENSOR_AGENTS" ]; then
	echo "4. performance and sensors: scmi-cpufreq on CPU 0, scmi-hwmon following a host file ($PERF_SENSOR_AGENTS)"
	for agent in $PERF_SENSOR_AGENTS; do
		unset PERF_DOMAIN PERF_SET FILE_SENSOR_NAME FILE_SENSOR_PATH FILE_SENSOR_FIRST_RAW FILE_SENSOR_SECOND_RAW
		. <(python3 "$HERE/expect.py" "$WORK/tables.json" "$agent" | grep -E '^(PERF_|FILE_SENSOR_)')
		extra=()
		if [ -n "${PERF_DOMAIN:-}" ]; then
			echo "&{/cpus/cpu@0} { power-domains = <&scmi_perf $PERF_DOMAIN>; power-domain-names = \"perf\"; };" >"$WORK/$agent-cpu0.dtsi"
			extra=(--dts-append "$WORK/$agent-cpu0.dtsi")
		fi
		[ -n "${FILE_SENSOR_PATH:-}" ] && echo "$FILE_SENSOR_FIRST_RAW" >"$FILE_SENSOR_PATH"
		boot "$agent" guest-perf-sensor.sh "perf-sensor-$agent" "${extra[@]}" &
		GUEST_PID=$!
		if [ -n "${PERF_DOMAIN:-}" ]; then
			if wait_marker "$WORK/perf-sensor-$agent.console" '@@PERF-SET@@' 150; then
				v=$(status_value "[d['level_khz'] for d in s['platform']['performance_domains'] if d['id']==$PERF_DOMAIN][0]")
				[ "$v" = "$PERF_SET" ] && ok "host status: performance domain $PERF_DOMAIN at $v kHz (CPU 0's scaling_setspeed)" || bad "host status: performance domain $PERF_DOMAIN at $v kHz, expected $PERF_SET"
				v=$(status_value "[r['level_khz'] for d in s['platform']['performance_domains'] if d['id']==$PERF_DOMAIN for r in d['requests'] if r['agent_name']=='$agent'][0]")
				[ "$v" = "$PERF_SET" ] && ok "host status: $agent requests $v kHz" || bad "host status: $agent's request is $v, expected $PERF_SET"
			else
				bad "guest $agent never set CPU 0's speed"
			fi
		fi
		if [ -n "${FILE_SENSOR_PATH:-}" ]; then
			if wait_marker "$WORK/perf-sensor-$agent.console" '@@SENSOR-FIRST@@' 150; then
				echo "$FILE_SENSOR_SECOND_RAW" >"$FILE_SENSOR_PATH"
				ok "host file $FILE_SENSOR_PATH changed to $FILE_SENSOR_SECOND_RAW while $agent runs"
			else
				bad "guest $agent never read $FILE_SENSOR_NAME"
			fi
		fi
		wait $GUEST_PID
		report "perf-sensor-$agent" $?
	done
else
	echo "4. skipped: no agent of $BLOB has a performance domain or a host-file temperature sensor"
fi

unset ASYNC_AGENT ASYNC_AGENT_ID ASYNC_CLOCK ASYNC_CLOCK_NAME ASYNC_RATE
python3 "$HERE/expect.py" "$WORK/tables.json" --async-clock >"$WORK/shared.env"
. "$WORK/shared.env"
if [ -n "${ASYNC_AGENT:-}" ]; then
	echo "5. clk-scmi sets $ASYNC_CLOCK_NAME to $ASYNC_RATE Hz asynchronously ($ASYNC_AGENT, assigned-clock-rates)"
	echo "&scmi_clk { assigned-clocks = <&scmi_clk $ASYNC_CLOCK>; assigned-clock-rates = <$ASYNC_RATE>; };" >"$WORK/async-clock.dtsi"
	traced=$(wc -l <"$WORK/serve.log")
	boot "$ASYNC_AGENT" guest-clock-async.sh "clock-async-$ASYNC_AGENT" --dts-append "$WORK/async-clock.dtsi" &
	GUEST_PID=$!
	if wait_marker "$WORK/clock-async-$ASYNC_AGENT.console" '@@ASYNC-SET@@' 150; then
		v=$(status_value "[c['rate_hz'] for c in s['platform']['clocks'] if c['id']==$ASYNC_CLOCK][0]")
		[ "$v" = "$ASYNC_RATE" ] && ok "host status: $ASYNC_CLOCK_NAME at $v Hz" || bad "host status: $ASYNC_CLOCK_NAME at $v Hz, expected $ASYNC_RATE"
		v=$(status_value "[r['rate_hz'] for c in s['platform']['clocks'] if c['id']==$ASYNC_CLOCK for r in c['requests'] if r['agent_name']=='$ASYNC_AGENT'][0]")
		[ "$v" = "$ASYNC_RATE" ] && ok "host status: $ASYNC_AGENT requests $v Hz" || bad "host status: $ASYNC_AGENT's request is $v, expected $ASYNC_RATE"
		v=$(status_value "[(c['events']['p2a_negotiated'], c['events']['async_pending'], c['events']['notifications_sent'] >= 1) for c in s['connections'] if c['agent']=='$ASYNC_AGENT'][0]")
		[ "$v" = "(True, 0, True)" ] && ok "host status: P2A negotiated, no asynchronous command pending, messages sent on the eventq" \
			|| bad "host status: (p2a_negotiated, async_pending, notifications_sent >= 1) = $v"
	else
		bad "guest $ASYNC_AGENT never showed its clock's rate"
	fi
	wait $GUEST_PID
	report "clock-async-$ASYNC_AGENT" $?
	# The trace of this boot: the command's synchronous SUCCESS and, with the same
	# token, its delayed response written into an eventq buffer.
	prefix="agent $ASYNC_AGENT_ID $ASYNC_AGENT: "
	tail -n +$((traced + 1)) "$WORK/serve.log" >"$WORK/clock-async.trace"
	tokens=$(grep -a -F "${prefix}CLOCK CLOCK_RATE_SET (0x14/0x5 token " "$WORK/clock-async.trace" | grep -a -F -- '-> SUCCESS' |
		sed -n 's/.*token \([0-9]*\)).*/\1/p')
	found=""
	for token in $tokens; do
		grep -a -F -q "${prefix}delayed response CLOCK CLOCK_RATE_SET (0x14/0x5 token $token) -> SUCCESS" "$WORK/clock-async.trace" && found=$token
	done
	[ -n "$found" ] && ok "serve trace: CLOCK_RATE_SET token $found answered SUCCESS, then its delayed response on the eventq" \
		|| bad "serve trace: no delayed response for a CLOCK_RATE_SET of $ASYNC_AGENT (tokens: ${tokens:-none})"
	: >"$WORK/shared.env"
else
	: >"$WORK/shared.env"
	echo "5. skipped: no agent of $BLOB has a clock with a rate other than its initial one"
fi

if grep -q -i -E 'fatal|precondition|trap' "$WORK/serve.log"; then
	bad "serve log shows a crash"; tail -20 "$WORK/serve.log"
else
	ok "serve survived every guest ($(grep -c ' -> ' "$WORK/serve.log") SCMI messages traced)"
fi
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; rc=$?; SERVE_PID=""
[ "$rc" = 0 ] && ok "serve exited 0 on SIGTERM" || bad "serve exit status $rc on SIGTERM"
ls "$WORK"/*.sock >/dev/null 2>&1 && bad "sockets left behind: $(ls "$WORK"/*.sock)" || ok "no socket left behind"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
