#!/bin/sh
# guest-reboot.sh - a later boot on the same socket: the backend serves it again.
. /harness/lib.sh
. /harness/expect.env
line=$(dmesg | grep "SCMI Protocol v" | head -n 1)
case "$line" in
*"'$VENDOR:$SUBVENDOR'"*) pass "served again after reboot: ${line#*] }" ;;
*) fail "no SCMI probe line on the second boot: '$line'" ;;
esac
if [ -n "$PERMITTED_CLOCK" ]; then
	# the first boot's request was withdrawn when that guest went away
	expect_eq "own clock $PERMITTED_CLOCK back at its initial rate" "$PERMITTED_INITIAL_RATE" "$(clock_rate_get $PERMITTED_CLOCK)"
fi
finish
