#!/bin/sh
# guest-clock-async.sh - clk-scmi sets a clock's rate with an asynchronous
# CLOCK_RATE_SET. The suite adds `assigned-clocks` / `assigned-clock-rates` to
# the guest's scmi_clk node (run.sh --dts-append), so the clock framework sets
# the rate when clk-scmi registers its clocks; the platform reports pending
# asynchronous requests in the clock's PROTOCOL_ATTRIBUTES, so Linux sends the
# set with the asynchronous flag and waits for the delayed response on the
# eventq. Expectations come from /harness/expect.env and /harness/shared.env
# (ASYNC_CLOCK, ASYNC_CLOCK_NAME, ASYNC_RATE).
. /harness/lib.sh
. /harness/expect.env
. /harness/shared.env
echo "asynchronous CLOCK_RATE_SET by clk-scmi as agent $AGENT_ID ($AGENT_NAME)"

# The clock framework logs "clk: couldn't set <clock> clk rate to ..." when the set fails.
failed=$(dmesg | grep "couldn't set $ASYNC_CLOCK_NAME")
expect_eq "clk-scmi set $ASYNC_CLOCK_NAME at probe without an error" "" "$failed"
# The delayed response reached the SCMI core (debug counters, CONFIG_ARM_SCMI_DEBUG_COUNTERS).
counter=/sys/kernel/debug/scmi/0/transport/counters/delayed_response_ok
if [ -r $counter ]; then
	got=$(cat $counter)
	if [ "$got" -ge 1 ] 2>/dev/null; then pass "delayed responses received by the SCMI core: $got"; else fail "delayed_response_ok is '$got'"; fi
else
	fail "no $counter"
fi
# Linux may take the delayed response before the synchronous reply (the cmdq's and
# the eventq's interrupts are independent); it then completes the command as
# SUCCESS and rejects the late reply. Shown, not failed (docs/serve-choices.md).
dmesg | grep -E "OoO Delayed Response|Invalid message type" | sed 's/^/  guest log: /'
got=$(awk -v n="$ASYNC_CLOCK_NAME" '$1 == n { print $5 }' /sys/kernel/debug/clk/clk_summary)
expect_eq "clk_summary rate of $ASYNC_CLOCK_NAME (assigned-clock-rates)" "$ASYNC_RATE" "$got"
expect_eq "clk_rate of $ASYNC_CLOCK_NAME in debugfs" "$ASYNC_RATE" "$(cat /sys/kernel/debug/clk/$ASYNC_CLOCK_NAME/clk_rate 2>&1)"
expect_eq "CLOCK_RATE_GET of clock $ASYNC_CLOCK through raw mode (the platform's rate)" "$ASYNC_RATE" "$(clock_rate_get $ASYNC_CLOCK)"
echo "@@ASYNC-SET@@"
# Keep the request while the host reads its status (leaving withdraws it).
sleep "${HOLD:-6}"
finish
