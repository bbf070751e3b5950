#!/bin/sh
# guest-mediator.sh - a guest of a mediator `serve` whose clocks belong to an upstream
# firmware (Tests/guest/run-mediator.sh). The mediator's devicetree states no rate of
# them: what clk-scmi registers (each clock's range and rate) must be the firmware's.
# The suite adds assigned-clock-rates for one of them (run.sh --dts-append), so the
# clock framework sets it at probe; the rate must hold, and the host checks that it
# reached the firmware under the firmware's id. Expectations come from
# /harness/shared.env (FIRMWARE_CLOCKS, MEDIATOR_SET_*), derived from the firmware's
# own tables.
. /harness/lib.sh
. /harness/expect.env
. /harness/shared.env
echo "a guest of a mediator as agent $AGENT_ID ($AGENT_NAME): the firmware's clocks"

CLK=/sys/kernel/debug/clk
summary_rate() { awk -v n="$1" '$1 == n { print $5 }' $CLK/clk_summary; }
for entry in $FIRMWARE_CLOCKS; do
	IFS=: read -r name id firmware_id initial min max <<EOF_ENTRY
$entry
EOF_ENTRY
	expect_eq "clk-scmi's lowest rate of $name (the firmware's clock $firmware_id)" "$min" "$(cat $CLK/$name/clk_min_rate 2>&1)"
	expect_eq "clk-scmi's highest rate of $name" "$max" "$(cat $CLK/$name/clk_max_rate 2>&1)"
	if [ "$id" = "$MEDIATOR_SET_CLOCK" ]; then
		rate=$MEDIATOR_SET_RATE
		what="the rate assigned at probe"
	else
		rate=$initial
		what="the firmware's rate"
	fi
	expect_eq "clk_summary rate of $name ($what)" "$rate" "$(summary_rate "$name")"
	expect_eq "CLOCK_RATE_GET of clock $id through raw mode" "$rate" "$(clock_rate_get "$id")"
done
failed=$(dmesg | grep "couldn't set $MEDIATOR_SET_CLOCK_NAME")
expect_eq "clk-scmi set $MEDIATOR_SET_CLOCK_NAME at probe without an error" "" "$failed"
echo "@@MEDIATOR-SET@@"
# Keep the request while the host reads both statuses (leaving withdraws it).
sleep "${HOLD:-6}"
finish
