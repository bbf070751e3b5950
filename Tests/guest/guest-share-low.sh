#!/bin/sh
# guest-share-low.sh - first of two concurrent guests sharing a clock, a voltage domain and a reset line.
# Requests the LOW rate/level, then watches the physical state follow the other guest:
# up to its HIGH request while it runs, back to LOW once it has powered off. Subscribed
# through raw mode, it receives the other guest's CLOCK_RATE_CHANGED and RESET_ISSUED.
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
if [ -n "$SHARED_CLOCK" ]; then
	# Subscribe to the shared clock's rate changes and wait for the first one
	# in raw mode's notification file (the other guest's request).
	expect_eq "CLOCK_RATE_NOTIFY on $SHARED_CLOCK_NAME" SUCCESS "$(raw_status "$(header 0x14 0x9)" $SHARED_CLOCK 1)"
	read_notification /tmp/notification 120 &
	NOTIFICATION_PID=$!
fi
if [ -n "$SHARED_RESET" ]; then
	# The other guest asserts the shared line after its rate request: RESET_ISSUED follows.
	expect_eq "RESET_NOTIFY on $SHARED_RESET_NAME" SUCCESS "$(raw_status "$(header 0x16 0x5)" $SHARED_RESET 1)"
fi
echo "@@LOW-SET@@"
rate_is() { [ "$(clock_rate_get $SHARED_CLOCK)" = "$1" ]; }
level_is() { [ "$(voltage_level_get $SHARED_DOMAIN)" = "$1" ]; }
if [ -n "$SHARED_CLOCK" ]; then
	if wait_for "higher request" 90 rate_is "$HIGH_RATE"; then pass "physical rate followed the other guest up to $HIGH_RATE Hz"; else fail "physical rate never reached $HIGH_RATE Hz (now $(clock_rate_get $SHARED_CLOCK))"; fi
	echo "@@LOW-SAW-HIGH@@"
	wait $NOTIFICATION_PID
	set -- $(notification_words /tmp/notification)
	expect_eq "CLOCK_RATE_CHANGED in raw mode's notification file (type, protocol, id, clock, rate)" \
		"3 20 0 $SHARED_CLOCK $HIGH_RATE" "$(header_type "${1:-0}") $(( (${1:-0} >> 10) & 0xFF )) $(( ${1:-0} & 0xFF )) ${3:-} ${4:-}"
	[ -n "${2:-}" ] && [ "$2" != "$AGENT_ID" ] && pass "notification names the other agent ($2)" || fail "notification's agent: '${2:-}'"
fi
if [ -n "$SHARED_RESET" ]; then
	read_notification /tmp/reset-notification 120
	set -- $(notification_words /tmp/reset-notification)
	expect_eq "RESET_ISSUED in raw mode's notification file (type, protocol, id, domain, reset_state)" \
		"3 22 0 $SHARED_RESET 0" "$(header_type "${1:-0}") $(( (${1:-0} >> 10) & 0xFF )) $(( ${1:-0} & 0xFF )) ${3:-} ${4:-}"
	[ -n "${2:-}" ] && [ "$2" != "$AGENT_ID" ] && pass "RESET_ISSUED names the other agent ($2)" || fail "RESET_ISSUED's agent: '${2:-}'"
fi
if [ -n "$SHARED_CLOCK" ]; then
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
