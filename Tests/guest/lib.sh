# lib.sh - helpers for guest-side checks (busybox sh, sourced by the guest scripts).
# Every check prints one "PASS ..." or "FAIL ..." line; `finish` exits 1 if any failed.

PASSED=0
FAILED=0
RAW=/sys/kernel/debug/scmi/0/raw

pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
expect_eq() { # what expected actual
	if [ "$2" = "$3" ]; then pass "$1: $3"; else fail "$1: expected '$2', got '$3'"; fi
}
finish() {
	echo "guest checks: $PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

# le32 VALUE -> the 4 bytes of VALUE, little-endian, as printf octal escapes
le32() {
	v=$(($1 & 0xFFFFFFFF))
	printf '\\%03o\\%03o\\%03o\\%03o' $((v & 255)) $(((v >> 8) & 255)) $(((v >> 16) & 255)) $(((v >> 24) & 255))
}

# header PROTOCOL MESSAGE [TOKEN] -> SCMI header word (command type)
header() { echo $(( ($2 & 0xFF) | (($1 & 0xFF) << 10) | ((${3:-0} & 0x3FF) << 18) )); }

# raw WORD... : send one SCMI message (header first) through Linux's raw mode and
# print the reply as 32-bit little-endian words in decimal, one per line:
# line 1 = header, line 2 = status, then the payload words.
RAW_REPLY=/tmp/raw.reply
raw() {
	msg=""
	for w in "$@"; do msg="$msg$(le32 "$w")"; done
	exec 3<>"$RAW/message"
	printf "$msg" >&3
	dd bs=256 count=1 <&3 2>/dev/null >"$RAW_REPLY"
	exec 3<&-
	od -An -v -t u4 "$RAW_REPLY" | tr -s ' ' '\n' | grep -v '^$'
}

# read_notification FILE SECONDS: wait (at most SECONDS, when `timeout` exists) for the
# next message in raw mode's notification file and store it in FILE
read_notification() {
	if command -v timeout >/dev/null; then limit="timeout $2"; else limit=""; fi
	$limit dd bs=256 count=1 <"$RAW/notification" 2>/dev/null >"$1"
}

# notification_words FILE -> the message in FILE as 32-bit words in decimal, space-separated
notification_words() { od -An -v -t u4 "$1" | tr -s ' ' '\n' | grep -v '^$' | tr '\n' ' '; }

# header_type WORD -> the message type bits (0 command, 2 delayed response, 3 notification)
header_type() { echo $(( ($1 >> 8) & 3 )); }

# status_name VALUE -> SCMI status name (VALUE as unsigned 32-bit)
status_name() {
	case $(( $1 > 2147483647 ? $1 - 4294967296 : $1 )) in
	0) echo SUCCESS ;; -1) echo NOT_SUPPORTED ;; -2) echo INVALID_PARAMETERS ;;
	-3) echo DENIED ;; -4) echo NOT_FOUND ;; -5) echo OUT_OF_RANGE ;; -6) echo BUSY ;;
	-7) echo COMMS_ERROR ;; -8) echo GENERIC_ERROR ;; -9) echo HARDWARE_ERROR ;;
	-10) echo PROTOCOL_ERROR ;; *) echo "STATUS($1)" ;;
	esac
}

# raw_status WORD... -> status name of the reply
raw_status() { status_name "$(raw "$@" | sed -n 2p)"; }

# Clock protocol (0x14) helpers over raw mode.
clock_rate_get() { # ID -> physical rate in Hz (low word; enough below 4.29 GHz) or status name
	r=$(raw "$(header 0x14 0x6)" "$1")
	s=$(echo "$r" | sed -n 2p)
	if [ "$s" = 0 ]; then echo "$r" | sed -n 3p; else status_name "$s"; fi
}
clock_rate_set() { raw_status "$(header 0x14 0x5)" 0 "$1" "$2" 0; }  # ID HZ -> status (round down)
clock_enable() { raw_status "$(header 0x14 0x7)" "$1" 1 0; }          # v3 CONFIG_SET on
clock_disable() { raw_status "$(header 0x14 0x7)" "$1" 0 0; }
clock_state() { # ID -> on / off / status name
	r=$(raw "$(header 0x14 0xB)" "$1" 0)
	s=$(echo "$r" | sed -n 2p)
	if [ "$s" = 0 ]; then [ $(( $(echo "$r" | sed -n 4p) & 1 )) = 1 ] && echo on || echo off; else status_name "$s"; fi
}
# Voltage protocol (0x17)
voltage_level_get() {
	r=$(raw "$(header 0x17 0x8)" "$1")
	s=$(echo "$r" | sed -n 2p)
	if [ "$s" = 0 ]; then echo "$r" | sed -n 3p; else status_name "$s"; fi
}
voltage_level_set() { raw_status "$(header 0x17 0x7)" "$1" 0 "$2"; }  # ID MICROVOLTS
voltage_on() { raw_status "$(header 0x17 0x5)" "$1" 7; }
# Power domain protocol (0x11)
POWER_ON=0
POWER_OFF=1073741824  # 0x40000000
power_state_set() { raw_status "$(header 0x11 0x4)" 0 "$1" "$2"; }  # ID STATE -> status
power_state_get() { # ID -> on / off / STATE(n) / status name
	r=$(raw "$(header 0x11 0x5)" "$1")
	s=$(echo "$r" | sed -n 2p)
	if [ "$s" != 0 ]; then status_name "$s"; return; fi
	case $(echo "$r" | sed -n 3p) in
	$POWER_ON) echo on ;; $POWER_OFF) echo off ;; *) echo "STATE($(echo "$r" | sed -n 3p))" ;;
	esac
}
# Reset protocol (0x16): RESET ID FLAGS (2 assert, 0 deassert, 1 pulse), cold reset
reset_domain() { raw_status "$(header 0x16 0x4)" "$1" "$2" 0; }
# Base (0x10)
set_device_permissions() { raw_status "$(header 0x10 0x9)" "$1" "$2" "$3"; }  # AGENT DEVICE 1/0

# wait_for DESCRIPTION SECONDS COMMAND... : poll until COMMAND succeeds
wait_for() {
	what=$1; left=$(($2 * 5)); shift 2
	while [ $left -gt 0 ]; do
		if "$@"; then return 0; fi
		sleep 0.2; left=$((left - 1))
	done
	return 1
}
