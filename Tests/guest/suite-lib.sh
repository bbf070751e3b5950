# suite-lib.sh - host-side helpers of the real-guest suites (run-suite.sh, run-mediator.sh),
# sourced by bash. The caller sets BIN, HARNESS (../shared/guest), HERE (Tests/guest),
# WORK (its temporary directory) and BLOB (the board whose agents boot); optionally
# SOCKETS (where the agents' sockets are, default $WORK), TABLES (`tables --format json`
# of BLOB, default $WORK/tables.json) and CONTROL (serve's control socket, default
# $WORK/control.sock).

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "  PASS $*"; }
bad() { FAILED=$((FAILED + 1)); echo "  FAIL $*"; }

# boot AGENT SCRIPT TAG [extra run.sh args...] -> run.sh exit status; console in $WORK/TAG.console
boot() {
	local agent=$1 script=$2 tag=$3
	shift 3
	"$BIN" guest-dtsi "$BLOB" --agent "$agent" >"$WORK/$agent.dtsi" || return 90
	python3 "$HERE/expect.py" "${TABLES:-$WORK/tables.json}" "$agent" >"$WORK/$agent.env" || return 91
	[ -f "$WORK/shared.env" ] || : >"$WORK/shared.env"
	bash "$HARNESS/run.sh" --socket "${SOCKETS:-$WORK}/$agent.sock" --scmi-dtsi "$WORK/$agent.dtsi" \
		--script "$HERE/$script" --guest-file "$HERE/lib.sh:/harness/lib.sh" \
		--guest-file "$WORK/$agent.env:/harness/expect.env" --guest-file "$WORK/shared.env:/harness/shared.env" \
		--timeout 180 --quiet --log "$WORK/$tag.console" "$@" >"$WORK/$tag.run" 2>&1
}

# report TAG STATUS: print the guest's PASS/FAIL lines; the whole console on failure
report() {
	local tag=$1 status=$2
	grep -a -E '^(PASS|FAIL) ' "$WORK/$tag.console" | sed 's/^/    /'
	if [ "$status" = 0 ]; then
		ok "guest $tag: $(grep -a -c '^PASS ' "$WORK/$tag.console") checks passed"
	else
		bad "guest $tag: run.sh exit status $status"
		echo "---- console of $tag ----"; cat "$WORK/$tag.console"; cat "$WORK/$tag.run"; echo "---- end of $tag ----"
	fi
}

# status_value PYTHON-EXPRESSION: evaluate against `scmi-dt status --format json` as `s`
# (of the serve whose control socket is $CONTROL, by default $WORK/control.sock)
status_value() { status_at "${CONTROL:-$WORK/control.sock}" "$1"; }
# status_at CONTROL-SOCKET PYTHON-EXPRESSION: the same, for the serve at CONTROL-SOCKET
status_at() {
	"$BIN" status --control "$1" --format json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}

wait_marker() { # FILE MARKER SECONDS
	for _ in $(seq $(($3 * 10))); do grep -a -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
