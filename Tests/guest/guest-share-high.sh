#!/bin/sh
# guest-share-high.sh - second of two concurrent guests: requests the HIGH rate/level,
# checks the physical state is the maximum, asserts and deasserts the shared reset
# line (the other guest hears RESET_ISSUED), holds it a while, then powers off.
. /harness/lib.sh
. /harness/expect.env
. /harness/shared.env
echo "arbitration (high side) as agent $AGENT_ID ($AGENT_NAME)"
if [ -n "$SHARED_CLOCK" ]; then
	expect_eq "shared clock $SHARED_CLOCK_NAME is on (other guest's vote), my own request off" off "$(clock_state $SHARED_CLOCK)"
	expect_eq "physical rate before my request" "$LOW_RATE" "$(clock_rate_get $SHARED_CLOCK)"
	expect_eq "request $HIGH_RATE Hz on $SHARED_CLOCK_NAME" SUCCESS "$(clock_rate_set $SHARED_CLOCK $HIGH_RATE)"
	expect_eq "physical rate is the highest request" "$HIGH_RATE" "$(clock_rate_get $SHARED_CLOCK)"
fi
if [ -n "$SHARED_DOMAIN" ]; then
	expect_eq "physical level before my request" "$LOW_LEVEL" "$(voltage_level_get $SHARED_DOMAIN)"
	expect_eq "request $HIGH_LEVEL uV on $SHARED_DOMAIN_NAME" SUCCESS "$(voltage_level_set $SHARED_DOMAIN $HIGH_LEVEL)"
	expect_eq "physical level is the highest request" "$HIGH_LEVEL" "$(voltage_level_get $SHARED_DOMAIN)"
fi
if [ -n "$SHARED_RESET" ]; then
	expect_eq "assert shared reset $SHARED_RESET_NAME" SUCCESS "$(reset_domain $SHARED_RESET 2)"
	expect_eq "deassert shared reset $SHARED_RESET_NAME" SUCCESS "$(reset_domain $SHARED_RESET 0)"
fi
echo "@@HIGH-SET@@"
# Hold the requests until the host has looked (it writes nothing to us: we
# hold for HOLD seconds, long enough for `scmi-dt status` on the host).
sleep "${HOLD:-8}"
finish
