#!/bin/sh
# guest-basics.sh - inside the guest: what one agent sees of scmi-dt serve.
# Expectations come from /harness/expect.env (written by expect.py from `scmi-dt tables`).
. /harness/lib.sh
. /harness/expect.env
echo "guest checks for agent $AGENT_ID ($AGENT_NAME)"

# --- Base handshake: the kernel's probe line and the sysfs identity
line=$(dmesg | grep "SCMI Protocol v" | head -n 1)
# Every protocol's notifications register at probe. Linux refuses those of a
# protocol that reports no resources (err -22): guest-dtsi leaves such a
# protocol out, and serve reports every resource of the table to every agent.
registration=$(dmesg | grep 'Events Registration Failed')
expect_eq "every protocol's events registered (no 'Events Registration Failed' at boot)" 0 \
	"$(echo "$registration" | grep -c 'Events Registration Failed')"
[ -z "$registration" ] || echo "$registration"
case "$line" in
*"'$VENDOR:$SUBVENDOR' Firmware version $FIRMWARE_VERSION"*) pass "probe line: ${line#*] }" ;;
*) fail "probe line: expected '$VENDOR:$SUBVENDOR' Firmware version $FIRMWARE_VERSION, got '$line'" ;;
esac
dev=$(ls -d /sys/bus/platform/devices/*scmi* 2>/dev/null | while read d; do [ -f "$d/vendor_id" ] && echo "$d"; done | head -n 1)
if [ -n "$dev" ]; then
	expect_eq "sysfs vendor_id" "$VENDOR" "$(cat "$dev/vendor_id")"
	expect_eq "sysfs sub_vendor_id" "$SUBVENDOR" "$(cat "$dev/sub_vendor_id")"
	expect_eq "sysfs firmware_version" "$FIRMWARE_VERSION" "$(cat "$dev/firmware_version")"
else
	fail "no SCMI platform device with vendor_id in /sys/bus/platform/devices"
fi

# --- Clocks: every clock registered by clk-scmi; the agent's own ones at their rate
if [ "$CLOCK_PROTOCOL" = 1 ]; then
	summary=/sys/kernel/debug/clk/clk_summary
	for name in $ALL_CLOCKS; do
		if grep -q "^ *$name " $summary; then pass "clk-scmi registered $name"; else fail "clk-scmi did not register $name"; fi
	done
	for pair in $OWN_CLOCKS; do
		name=${pair%%:*}; rate=${pair#*:}
		got=$(awk -v n="$name" '$1 == n { print $5 }' $summary)
		expect_eq "clk_summary rate of own clock $name" "$rate" "$got"
	done
fi

# --- Regulators: every voltage domain the agent may use, with its name and level
if [ "$VOLTAGE_PROTOCOL" = 1 ]; then
	for pair in $OWN_REGULATORS; do
		name=${pair%%:*}; uv=${pair#*:}
		found=""
		for r in /sys/class/regulator/regulator.*; do
			[ "$(cat $r/name 2>/dev/null)" = "$name" ] && found=$r
		done
		if [ -n "$found" ]; then
			expect_eq "regulator $name microvolts" "$uv" "$(cat $found/microvolts)"
		else
			fail "no regulator named $name in /sys/class/regulator"
		fi
	done
fi

# --- Power domains: genpd lists each domain the agent may use and none it may not
# (scmi_pm_domain skips a domain whose POWER_STATE_GET is refused)
if [ "$POWER_PROTOCOL" = 1 ]; then
	summary=/sys/kernel/debug/pm_genpd/pm_genpd_summary
	if [ -r $summary ]; then
		for name in $OWN_POWER_DOMAINS; do
			if grep -q "^$name " $summary; then pass "genpd lists power domain $name"; else fail "genpd does not list power domain $name"; fi
		done
		for name in $FOREIGN_POWER_DOMAINS; do
			if grep -q "^$name " $summary; then fail "genpd lists foreign power domain $name"; else pass "genpd leaves out foreign power domain $name"; fi
		done
	else
		fail "no $summary"
	fi
fi

# --- Raw mode: permitted clock works and reads back; a foreign one is DENIED
if [ -d "$RAW" ]; then
	if [ -n "$PERMITTED_CLOCK" ]; then
		expect_eq "enable own clock $PERMITTED_CLOCK" SUCCESS "$(clock_enable $PERMITTED_CLOCK)"
		expect_eq "own clock $PERMITTED_CLOCK state" on "$(clock_state $PERMITTED_CLOCK)"
		expect_eq "set own clock $PERMITTED_CLOCK to $PERMITTED_RATE Hz" SUCCESS "$(clock_rate_set $PERMITTED_CLOCK $PERMITTED_RATE)"
		expect_eq "own clock $PERMITTED_CLOCK reads back" "$PERMITTED_RATE" "$(clock_rate_get $PERMITTED_CLOCK)"
		expect_eq "disable own clock $PERMITTED_CLOCK" SUCCESS "$(clock_disable $PERMITTED_CLOCK)"
	fi
	if [ -n "$DENIED_CLOCK" ]; then
		expect_eq "enable foreign clock $DENIED_CLOCK" DENIED "$(clock_enable $DENIED_CLOCK)"
		expect_eq "set rate of foreign clock $DENIED_CLOCK" DENIED "$(clock_rate_set $DENIED_CLOCK 1000000)"
		if [ "$TRUSTED" = 1 ] && [ -n "$DENIED_CLOCK_DEVICE" ]; then
			expect_eq "trusted: grant myself device $DENIED_CLOCK_DEVICE" SUCCESS "$(set_device_permissions $AGENT_ID $DENIED_CLOCK_DEVICE 1)"
			expect_eq "trusted: enable clock $DENIED_CLOCK after the grant" SUCCESS "$(clock_enable $DENIED_CLOCK)"
			expect_eq "trusted: clock $DENIED_CLOCK state after the grant" on "$(clock_state $DENIED_CLOCK)"
			expect_eq "trusted: disable clock $DENIED_CLOCK" SUCCESS "$(clock_disable $DENIED_CLOCK)"
			expect_eq "trusted: revoke device $DENIED_CLOCK_DEVICE" SUCCESS "$(set_device_permissions $AGENT_ID $DENIED_CLOCK_DEVICE 0)"
			expect_eq "trusted: clock $DENIED_CLOCK denied again" DENIED "$(clock_enable $DENIED_CLOCK)"
		elif [ -n "$DENIED_CLOCK_DEVICE" ]; then
			expect_eq "untrusted: grant myself device $DENIED_CLOCK_DEVICE" DENIED "$(set_device_permissions $AGENT_ID $DENIED_CLOCK_DEVICE 1)"
		fi
	fi
	# Power domains: POWER_STATE_GET follows this agent's POWER_STATE_SET
	if [ -n "$PERMITTED_POWER_DOMAIN" ]; then
		pd=$PERMITTED_POWER_DOMAIN
		expect_eq "power domain $pd on" SUCCESS "$(power_state_set $pd $POWER_ON)"
		expect_eq "power domain $pd reads back" on "$(power_state_get $pd)"
		expect_eq "power domain $pd off" SUCCESS "$(power_state_set $pd $POWER_OFF)"
		expect_eq "power domain $pd reads back" off "$(power_state_get $pd)"
		expect_eq "power domain $pd state neither ON nor OFF" INVALID_PARAMETERS "$(power_state_set $pd 1)"
		expect_eq "power domain $pd still" off "$(power_state_get $pd)"
	fi
	if [ -n "$DENIED_POWER_DOMAIN" ]; then
		expect_eq "foreign power domain $DENIED_POWER_DOMAIN on" DENIED "$(power_state_set $DENIED_POWER_DOMAIN $POWER_ON)"
		expect_eq "foreign power domain $DENIED_POWER_DOMAIN state" DENIED "$(power_state_get $DENIED_POWER_DOMAIN)"
	fi
	# Resets: assert, deassert and pulse on an own domain; a foreign one is DENIED
	if [ -n "$PERMITTED_RESET_DOMAIN" ]; then
		rd=$PERMITTED_RESET_DOMAIN
		expect_eq "reset domain $rd assert" SUCCESS "$(reset_domain $rd 2)"
		expect_eq "reset domain $rd deassert" SUCCESS "$(reset_domain $rd 0)"
		expect_eq "reset domain $rd pulse" SUCCESS "$(reset_domain $rd 1)"
		expect_eq "reset domain $rd autonomous and explicit together" INVALID_PARAMETERS "$(reset_domain $rd 3)"
	fi
	if [ -n "$DENIED_RESET_DOMAIN" ]; then
		expect_eq "foreign reset domain $DENIED_RESET_DOMAIN assert" DENIED "$(reset_domain $DENIED_RESET_DOMAIN 2)"
		expect_eq "foreign reset domain $DENIED_RESET_DOMAIN pulse" DENIED "$(reset_domain $DENIED_RESET_DOMAIN 1)"
	fi
else
	fail "SCMI raw mode not found at $RAW"
fi
finish
