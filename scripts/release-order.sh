#!/bin/bash
# Rewrites scripts/release-order.txt: the functions `serve` runs from exec until its sockets
# listen (and one `status` answer), which the release link places first, together
# (docs/serve-choices.md, "The release binary's layout"). Run it after a change that renames or
# adds much of what start-up runs; a stale list only costs resident memory, never correctness.
#
# How: the release binary, its debug info stripped (valgrind 3.19 does not read the toolchain's
# DWARF 5), serves examples/board.dts and the benchmark's 10k-device tree under callgrind, which names
# every function that ran. A name that several local functions share (outlined copies such as
# `...WOhTm`) is listed only when every copy sits in a small section or one that ran anyway:
# lld moves every section that defines a listed name, and moving a large one that never ran
# would defeat the purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "release-order: needs valgrind (callgrind)" >&2; exit 1; }
source Benchmarks/lib.sh

work=$(mktemp -d /tmp/scmi-dt-order-XXXXXX)
trap 'rm -rf "$work"' EXIT
swift build "${RELEASE_FLAGS[@]}" -Xlinker -Map="$work/map" -Xlinker --no-demangle --product scmi-dt
swift build "${RELEASE_FLAGS[@]}" --product scmi-dt-gen-tree
bin=$(swift build "${RELEASE_FLAGS[@]}" --show-bin-path)
objcopy --strip-debug "$bin/scmi-dt" "$work/scmi-dt"
dtc -q -I dts -O dtb -o "$work/board.dtb" examples/board.dts
"$bin/scmi-dt-gen-tree" --devices 10000 --clocks 5000 --regulators 2500 -o "$work/gen.dtb" >/dev/null

# profile BLOB N: serve BLOB under callgrind until it listens, ask its status once, stop it.
profile() {
    local blob=$1 n=$2 line pid
    coproc SERVE { exec valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file="$work/cg.$n" \
        "$work/scmi-dt" serve "$blob" --socket-dir "$work/sockets-$n" --control "$work/control-$n.sock" 2>&1; }
    pid=$SERVE_PID
    while IFS= read -r line <&"${SERVE[0]}"; do [[ $line == *"control socket:"* ]] && break; done
    "$bin/scmi-dt" status --control "$work/control-$n.sock" >/dev/null
    kill -TERM "$pid"
    wait "$pid" || true
}
profile "$work/board.dtb" 1
profile "$work/gen.dtb" 2

# Every function callgrind saw (fn= and cfn= lines; a "'2" suffix marks recursion), first seen first.
cat "$work"/cg.* | sed -n "s/^c\{0,1\}fn=([0-9]*) \(.*\)/\1/p" | sed "s/'[0-9]*\$//" | awk '!seen[$0]++' >"$work/ran"

# From the link map: every section of .text, its size and the symbols it defines. A name
# that ran is listed when one section defines it; a name several local functions share,
# when each section that defines it is small or holds a function that ran under its own name.
awk '
    function hex(text,    value, i) {
        value = 0
        for (i = 1; i <= length(text); i++) value = value * 16 + index("0123456789abcdef", substr(text, i, 1)) - 1
        return value
    }
    FILENAME == ARGV[1] && NF == 5 && $5 == ".text" { text = 1; next }
    FILENAME == ARGV[1] && NF == 5 && $5 ~ /^\./ { text = 0; next }
    FILENAME == ARGV[1] && text && NF == 5 && $5 ~ /:\(/ { section++; size[section] = hex($3); next }
    FILENAME == ARGV[1] && text && NF == 5 { count[$5]++; sections[$5] = sections[$5] " " section; next }
    FILENAME == ARGV[1] { next }
    FNR == 1 { pass++ }
    pass == 1 && count[$0] == 1 { ran[sections[$0] + 0] = 1; next }
    pass == 2 && ($0 in count) {
        n = split(sections[$0], defining, " ")
        for (i = 1; i <= n; i++) if (size[defining[i]] > 4096 && !ran[defining[i]]) next
        print
    }
' "$work/map" "$work/ran" "$work/ran" >scripts/release-order.txt
echo "scripts/release-order.txt: $(wc -l <scripts/release-order.txt) functions"
