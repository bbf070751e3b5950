#!/bin/sh
# A host hook for `scmi-dt serve --host-hook` that drives the Linux interfaces
# user space may use on a production host. serve runs it once per change of a
# resource's physical state, without a shell, as
#
#     linux-sysfs.sh KIND ID ACTION VALUE
#
# with SCMI_KIND, SCMI_ID, SCMI_NAME, SCMI_ACTION, SCMI_VALUE, SCMI_HOST_PATH,
# SCMI_HOST_CELLS and SCMI_AGENT set and nothing else but PATH (README, "Host
# hooks"). Exit status 0 means applied; anything else gives the guest
# HARDWARE_ERROR and serve rolls the change back. What this script prints on
# standard error is logged by serve when it fails.
#
# ---- The one table to edit --------------------------------------------------
# One line per host resource: the host node (SCMI_HOST_PATH as `tables` shows
# it), its specifier cells ("-" for none; several cells comma-separated, e.g.
# 1,2), the interface, and the interface's target:
#
#   cpufreq     a cpufreq policy directory; a perf-domain level (kHz) or a
#               clock rate (Hz) goes to scaling_setspeed (userspace governor);
#               here and for cpufreq-pin and devfreq, a clock's enable and
#               disable succeed doing nothing (the device's driver gates it)
#   cpufreq-pin a cpufreq policy directory; the level or rate pins
#               scaling_min_freq and scaling_max_freq (any governor)
#   devfreq     a devfreq device directory; a rate (Hz) pins min_freq and max_freq
#   consumer    a reg-userspace-consumer device directory (compatible
#               "regulator-output"); on/enable/deassert write "enabled" to its
#               `state`, off/disable/assert write "disabled"
#   gpio        CHIP LINE [active-low]: gpioset drives the line; assert, on and
#               enable drive it active, deassert, off and disable inactive
#   runtime-pm  a device directory; on/enable write "on" to power/control,
#               off/disable write "auto" (the driver may then suspend it)
#   file        a file holding a decimal integer, printed for a sensor `read`
#
# The lines below are examples for examples/board.dts; replace them with your
# board's.
TABLE='
/opp-table-cpu                              -  cpufreq     /sys/devices/system/cpu/cpufreq/policy0
/soc/clock-controller@10000000              2  devfreq     /sys/class/devfreq/10040000.gpu
/soc/i2c@10020000/pmic@30/regulators/buck1  -  consumer    /sys/devices/platform/vdd-gpu-consumer
/soc/clock-controller@10000000              7  gpio        gpiochip0 17 active-low
/soc/i2c@10020000/pmic@30/regulators/ldo1   -  gpio        gpiochip0 22
/soc/power-controller@10010000              3  runtime-pm  /sys/devices/platform/soc/10040000.gpu
'
# Where sysfs is: empty for the real one. A test points it at a directory laid
# out like sysfs (serve passes no variable but PATH, so set it here or in a
# wrapper that execs this script).
SYSFS_ROOT=${SYSFS_ROOT:-}
# A resource the table does not name: "ignore" (exit 0: the engine's model is
# its only state) or "fail" (HARDWARE_ERROR).
UNMAPPED=${UNMAPPED:-ignore}
# libgpiod's gpioset: "v1" (gpioset CHIP LINE=V, exits at once) or "v2"
# (gpioset -t0 -c CHIP LINE=V).
GPIOSET_STYLE=${GPIOSET_STYLE:-v1}
# ------------------------------------------------------------------------------

set -u
kind=$1 id=$2 action=$3 value=$4
cells=$(printf '%s' "${SCMI_HOST_CELLS:-}" | tr ' ' ',')
[ -n "$cells" ] || cells=-

fail() {
    echo "linux-sysfs.sh: $kind $id (${SCMI_NAME:-?}) $action${value:+ $value}: $*" >&2
    exit 1
}

# write FILE VALUE: one write, its failure reported with the file's name.
write() {
    [ -e "$SYSFS_ROOT$1" ] || fail "$SYSFS_ROOT$1 does not exist"
    printf '%s\n' "$2" > "$SYSFS_ROOT$1" || fail "cannot write $2 to $SYSFS_ROOT$1"
}

# pin MIN_FILE MAX_FILE VALUE: both limits to VALUE, in the order that never
# leaves min above max.
pin() {
    current_min=$(cat "$SYSFS_ROOT$1" 2>/dev/null) || fail "cannot read $SYSFS_ROOT$1"
    if [ "$3" -gt "$current_min" ]; then
        write "$2" "$3"; write "$1" "$3"
    else
        write "$1" "$3"; write "$2" "$3"
    fi
}

# The frequency cpufreq wants (kHz) for a level (kHz already) or a rate (Hz).
khz() {
    case $action in
        rate) echo $(($1 / 1000)) ;;
        *) echo "$1" ;;
    esac
}

# Whether the action turns the resource on (drives a line active).
active() {
    case $action in
        enable|on|assert) return 0 ;;
        disable|off|deassert) return 1 ;;
        *) fail "not an on/off action for this interface" ;;
    esac
}

line=$(printf '%s\n' "$TABLE" | while read -r path cell interface target; do
    [ -n "${path:-}" ] || continue
    if [ "$path" = "${SCMI_HOST_PATH:-}" ] && { [ "$cell" = "$cells" ] || [ "$cell" = - ]; }; then
        printf '%s %s\n' "$interface" "$target"
        break
    fi
done)
if [ -z "$line" ]; then
    [ "$UNMAPPED" = ignore ] && exit 0
    fail "no line for ${SCMI_HOST_PATH:-?} cells $cells in the table"
fi
interface=${line%% *}
target=${line#* }

case $interface in
cpufreq)
    case $action in
        rate|level) write "$target/scaling_setspeed" "$(khz "$value")" ;;
        enable|disable|on|off) ;;  # the driver gates the clock it scales
        *) fail "cpufreq takes rate or level" ;;
    esac ;;
cpufreq-pin)
    case $action in
        rate|level) pin "$target/scaling_min_freq" "$target/scaling_max_freq" "$(khz "$value")" ;;
        enable|disable|on|off) ;;
        *) fail "cpufreq-pin takes rate or level" ;;
    esac ;;
devfreq)
    case $action in
        rate) pin "$target/min_freq" "$target/max_freq" "$value" ;;
        enable|disable) ;;  # the device's driver gates its clock
        *) fail "devfreq takes rate" ;;
    esac ;;
consumer)
    case $action in
        enable|on|deassert) write "$target/state" enabled ;;
        disable|off|assert) write "$target/state" disabled ;;
        *) fail "a reg-userspace-consumer only switches (state enabled/disabled)" ;;
    esac ;;
gpio)
    set -- $target
    chip=$1 offset=$2 polarity=${3:-active-high}
    if active; then level=1; else level=0; fi
    [ "$polarity" = active-low ] && level=$((1 - level))
    if [ "$GPIOSET_STYLE" = v2 ]; then
        gpioset -t0 -c "$chip" "$offset=$level" || fail "gpioset -c $chip $offset=$level failed"
    else
        gpioset "$chip" "$offset=$level" || fail "gpioset $chip $offset=$level failed"
    fi ;;
runtime-pm)
    if active; then write "$target/power/control" on; else write "$target/power/control" auto; fi ;;
file)
    [ "$action" = read ] || fail "a file only answers read"
    value=$(cat "$SYSFS_ROOT$target" 2>/dev/null) || fail "cannot read $SYSFS_ROOT$target"
    printf '%s\n' "$value" ;;
*)
    fail "unknown interface '$interface' in the table" ;;
esac
exit 0
