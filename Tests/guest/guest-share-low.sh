#!/bin/sh
# guest-share-low.sh - first of two concurrent guests sharing a clock and a voltage domain.
# Requests the LOW rate/level, then watches the physical state follow the other guest:
# up to its HIGH request while it runs, back to LOW once it has powered off.
. /harness/lib.sh
. /harness/expect.env
. /harness/shared.env
echo "arbitration (low side) as agent $AGENT_ID ($AGENT_NAME)"
if [ -n "$SHARED_CLOCK" ]; then
	expect_eq "enable shared clock $SHARED_CLOCK_NAME" SUCCESS "$(clock_enable $SHARED_CLOCK)"
	expect_eq "request $LOW_RATE Hz on $SHARED_CLOCK_NAME" SUCCESS "$(clock_rate_set $SHARED_CLOCK $LOW_RATE)"
	expect_eq "physical rate of $SHARED_CLOCK_NAME alone" "$LOW_RATE" "$(clock_rate_get $SHARED_CLOCK)"
fi
if [ -n "$SHARED_DOMAIN" ]; then
	expect_eq "switch on shared domain $SHARED_DOMAIN_NAME" SUCCESS "$(voltage_on $SHARED_DOMAIN)"
	expect_eq "request $LOW_LEVEL uV on $SHARED_DOMAIN_NAME" SUCCESS "$(voltage_level_set $SHARED_DOMAIN $LOW_LEVEL)"
	expect_eq "physical level of $SHARED_DOMAIN_NAME alone" "$LOW_LEVEL" "$(voltage_level_get $SHARED_DOMAIN)"
fi
echo "@@LOW-SET@@"
rate_is() { [ "$(clock_rate_get $SHARED_CLOCK)" = "$1" ]; }
level_is() { [ "$(voltage_level_get $SHARED_DOMAIN)" = "$1" ]; }
if [ -n "$SHARED_CLOCK" ]; then
	if wait_for "higher request" 90 rate_is "$HIGH_RATE"; then pass "physical rate followed the other guest up to $HIGH_RATE Hz"; else fail "physical rate never reached $HIGH_RATE Hz (now $(clock_rate_get $SHARED_CLOCK))"; fi
	echo "@@LOW-SAW-HIGH@@"
	if wait_for "withdrawal" 90 rate_is "$LOW_RATE"; then pass "physical rate back to $LOW_RATE Hz after the other guest left"; else fail "physical rate not recomputed (now $(clock_rate_get $SHARED_CLOCK))"; fi
	expect_eq "shared clock still on (my vote)" on "$(clock_state $SHARED_CLOCK)"
fi
if [ -n "$SHARED_DOMAIN" ]; then
	if wait_for "withdrawal" 30 level_is "$LOW_LEVEL"; then pass "physical level back to $LOW_LEVEL uV after the other guest left"; else fail "physical level not recomputed (now $(voltage_level_get $SHARED_DOMAIN))"; fi
fi
echo "@@LOW-DONE@@"
# Keep holding the requests while the host looks at the recomputed state
# (leaving would withdraw them too).
sleep "${HOLD:-8}"
finish
