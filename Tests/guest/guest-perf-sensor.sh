#!/bin/sh
# guest-perf-sensor.sh - scmi-cpufreq on CPU 0 (wired to the agent's performance
# domain with run.sh --dts-append) and scmi-hwmon following a host file the suite
# changes while the guest runs. Expectations come from /harness/expect.env.
. /harness/lib.sh
. /harness/expect.env
echo "performance and sensors as agent $AGENT_ID ($AGENT_NAME)"

if dmesg | grep -i -E "scmi.hwmon|scmi_hwmon" | grep -i -q -E "fail|error"; then
	fail "scmi-hwmon logged a failure: $(dmesg | grep -i -E 'scmi.hwmon|scmi_hwmon' | head -n 3)"
fi
# With P2A the sensor protocol offers trip points, updates and asynchronous
# readings (hwmon then reads host-file sensors asynchronously): the SCMI core
# must log no sensor error, no timed-out reading, no unexpected delayed response.
sensor_errors=$(dmesg | grep -i scmi | grep -i -E "sensor.*(fail|error|timed out)|(fail|error|timed out).*sensor|Buggy F/W" | head -n 3)
if [ -n "$sensor_errors" ]; then
	fail "the SCMI sensor protocol logged errors: $sensor_errors"
else
	pass "no SCMI sensor errors in the boot log"
fi

# --- Performance: the OPP table as cpufreq frequencies; a userspace set speed
if [ -n "$PERF_DOMAIN" ]; then
	cf=/sys/devices/system/cpu/cpu0/cpufreq
	if [ -d $cf ]; then
		got=$(tr -s ' ' '\n' <$cf/scaling_available_frequencies | grep -v '^$' | sort -n | tr '\n' ' ')
		expect_eq "CPU 0 scaling_available_frequencies (domain $PERF_DOMAIN_NAME)" "$PERF_FREQS" "${got% }"
		echo userspace >$cf/scaling_governor
		expect_eq "CPU 0 governor" userspace "$(cat $cf/scaling_governor)"
		echo "$PERF_SET" >$cf/scaling_setspeed
		expect_eq "CPU 0 scaling_cur_freq after scaling_setspeed" "$PERF_SET" "$(cat $cf/scaling_cur_freq)"
	else
		fail "no cpufreq policy for CPU 0: scmi-cpufreq did not bind ($(dmesg | grep -i -E 'scmi.cpufreq|cpufreq' | head -n 2))"
	fi
	echo "@@PERF-SET@@"
fi

# --- Sensors: every sensor the agent may use is an hwmon input; a host file is followed
# input_of NAME -> the hwmon *_input file whose label is NAME
input_of() {
	for label in /sys/class/hwmon/hwmon*/*_label; do
		[ -f "$label" ] && [ "$(cat "$label")" = "$1" ] && { echo "${label%_label}_input"; return; }
	done
}
for name in $SENSOR_NAMES; do
	if [ -n "$(input_of "$name")" ]; then pass "scmi-hwmon registered $name"; else fail "scmi-hwmon did not register $name"; fi
done
if [ -n "$FILE_SENSOR_NAME" ]; then
	input=$(input_of "$FILE_SENSOR_NAME")
	if [ -n "$input" ]; then
		expect_eq "$FILE_SENSOR_NAME ($input) from the host file" "$FILE_SENSOR_FIRST" "$(cat "$input")"
		echo "@@SENSOR-FIRST@@"
		reads() { [ "$(cat "$input" 2>/dev/null)" = "$1" ]; }
		if wait_for "host file change" 60 reads "$FILE_SENSOR_SECOND"; then
			pass "$FILE_SENSOR_NAME followed the host file to $FILE_SENSOR_SECOND"
		else
			fail "$FILE_SENSOR_NAME never read $FILE_SENSOR_SECOND (now $(cat "$input" 2>&1))"
		fi
	else
		echo "@@SENSOR-FIRST@@"
		fail "no hwmon input labelled $FILE_SENSOR_NAME"
	fi
fi
# Keep the performance request while the host reads its status (leaving withdraws it).
echo "@@PERF-SENSOR-DONE@@"
sleep "${HOLD:-6}"
finish
