# Helpers shared by Benchmarks/bench.sh and the scripts in Benchmarks/suites/ (sourced).
#
# A figure is only quoted next to its reference measured in the same run: `paired` runs
# two commands in turn, A B A B ..., so that a drift of the machine's speed (other builds
# on a shared VM) hits both alike, and reports the ratio pair by pair. Rows for the final
# table go through `row`; bench.sh prints them all at the end.

# How bench.sh and the suites build scmi-dt: as the Makefile's `release` (RELEASE_LINK
# there: static Swift runtime, lld, packed relative relocations, functions laid out by
# scripts/release-order.txt, no exported symbols), so that every figure is of the binary `make install` installs.
RELEASE_ORDER="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/release-order.txt"
RELEASE_FLAGS=(-c release --static-swift-stdlib -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs
    -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections
    -Xlinker "--symbol-ordering-file=$RELEASE_ORDER" -Xlinker --no-warn-symbol-ordering -Xlinker --no-export-dynamic
    --scratch-path .build-release)

# Nanoseconds since the epoch.
now_ns() { date +%s%N; }

# median / min / max of the numbers on stdin, one per line: prints "median min max".
spread() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan nan nan"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        print m, v[1], v[NR] }'
}

# paired RUNS A B: runs the shell functions (or commands without arguments) A and B in turn
# RUNS times after one warm-up of each, timing each run from outside. Sets
#   PAIRED_A / PAIRED_B   median milliseconds of A and of B
#   PAIRED_RATIO          "median min max" of A/B over the pairs
# A function whose output matters writes it itself; stdout and stderr are discarded here.
paired() {
    local runs=$1 a=$2 b=$3 i start middle end ta=() tb=() ratios=()
    "$a" >/dev/null 2>&1 || true
    "$b" >/dev/null 2>&1 || true
    for ((i = 0; i < runs; i++)); do
        start=$(now_ns)
        "$a" >/dev/null 2>&1 || true
        middle=$(now_ns)
        "$b" >/dev/null 2>&1 || true
        end=$(now_ns)
        ta+=($((middle - start)))
        tb+=($((end - middle)))
        ratios+=("$(awk -v a=$((middle - start)) -v b=$((end - middle)) 'BEGIN { printf "%.4f", a / b }')")
    done
    PAIRED_A=$(printf '%s\n' "${ta[@]}" | spread | awk '{ printf "%.1f", $1 / 1e6 }')
    PAIRED_B=$(printf '%s\n' "${tb[@]}" | spread | awk '{ printf "%.1f", $1 / 1e6 }')
    PAIRED_RATIO=$(printf '%s\n' "${ratios[@]}" | spread)
}

# "1.23x (1.10-1.40)" from "median min max"
ratio_text() { awk -v m="$1" -v lo="$2" -v hi="$3" 'BEGIN { printf "%.2fx (%.2f-%.2f)", m, lo, hi }'; }

# met / MISSED for an awk condition
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }

# row FIGURE NOW REFERENCE RATIO GOAL VERDICT: one line of the final table.
row() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/rows.tsv"
}
