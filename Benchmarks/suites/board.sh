#!/usr/bin/env bash
# Board benchmarks (issue 11): `scmi-dt inventory` and `scaffold` + `check --overlay` on real
# boards, standalone so that it can move with the other benchmarks.
#
#   1. inventory, and scaffold (every device with resources) + check of the result, on the
#      largest board of ../shared/corpus/real: mean time per run;
#   2. inventory on generated trees of growing size (scmi-dt-gen-tree): time per node;
#   3. the whole Debian arm64 board set through inventory, then scaffold + check: per-board
#      median and maximum, and every board where a step fails. BOARDS_DIR=DIR uses the .dtb
#      files under DIR; without it the set is fetched with apt-get download (linux-image-*-arm64,
#      needs `dpkg --add-architecture arm64` and apt-get update) into bench-out/debian-boards,
#      and the section is skipped when that fails.
#
# Run by `make bench` as one of Benchmarks/suites (SCMI_DT and GEN given: nothing is built), or alone:
#   Benchmarks/suites/board.sh
#   BOARDS_DIR=/tmp/dtbs SIZES="1000 10000" RUNS=5 Benchmarks/suites/board.sh
#   SCMI_DT=.build/debug/scmi-dt SKIP_BUILD=1 Benchmarks/suites/board.sh   # an already built binary
set -euo pipefail

cd "$(dirname "$0")/../.."
SIZES=${SIZES:-"1000 10000 100000"}
RUNS=${RUNS:-10}
OUT=bench-out
CORPUS=../shared/corpus/real
mkdir -p "$OUT"

# shellcheck source=../lib.sh
source "${BENCH_LIB:-Benchmarks/lib.sh}"  # RELEASE_FLAGS: as the Makefile's `release`
if [[ -n "${SCMI_DT:-}" && -n "${GEN:-}" ]]; then SKIP_BUILD=1; fi
if [[ -z "${SKIP_BUILD:-}" ]]; then
    echo "== building release (static Swift runtime)"
    for product in scmi-dt scmi-dt-gen-tree; do
        swift build "${RELEASE_FLAGS[@]}" --product "$product" >"$OUT/board-build.log" 2>&1 || { cat "$OUT/board-build.log" >&2; exit 1; }
    done
fi
BIN=$(swift build "${RELEASE_FLAGS[@]}" --show-bin-path)
SCMI_DT=${SCMI_DT:-$BIN/scmi-dt}
GEN=${GEN:-$BIN/scmi-dt-gen-tree}

# mean milliseconds of a command over $RUNS runs (after one warm-up)
time_ms() {
    local start end i
    "$@" >/dev/null 2>&1 || return 1
    start=$(date +%s%N)
    for ((i = 0; i < RUNS; i++)); do "$@" >/dev/null 2>&1; done
    end=$(date +%s%N)
    awk -v t=$((end - start)) -v n="$RUNS" 'BEGIN { printf "%.1f", t / n / 1e6 }'
}

# every consumer's path, as --device arguments
devices_of() {
    "$SCMI_DT" inventory --format json "$1" | python3 -c '
import json, sys
print("\n".join("--device\n" + c["path"] for c in json.load(sys.stdin)["consumers"]))'
}

# scaffold of every device of $1 (listed once, in $DEVICES) into $2, then check of $1 with it
scaffold_and_check() {
    local blob=$1 overlay=$2
    "$SCMI_DT" scaffold "$blob" "${DEVICES[@]}" -o "$overlay" 2>/dev/null && "$SCMI_DT" check "$blob" --overlay "$overlay" >/dev/null
}

echo "== inventory and scaffold + check, largest corpus board"
if compgen -G "$CORPUS/*.dtb" >/dev/null; then
    largest=$(ls -S "$CORPUS"/*.dtb | head -1)
    nodes=$(dtc -q -I dtb -O dts "$largest" 2>/dev/null | grep -c '{$' || echo "?")
    mapfile -t DEVICES < <(devices_of "$largest")
    printf "%-40s %8s %10s %14s %22s\n" board nodes devices "inventory ms" "scaffold+check ms"
    printf "%-40s %8s %10s %14s %22s\n" "$(basename "$largest")" "$nodes" "$((${#DEVICES[@]} / 2))" \
        "$(time_ms "$SCMI_DT" inventory "$largest")" "$(time_ms scaffold_and_check "$largest" "$OUT/board-scaffold.dtso")"
else
    echo "(no $CORPUS: skipped)"
fi

echo "== inventory on generated trees (growth with size)"
printf "%-24s %10s %14s %16s\n" tree bytes "inventory ms" "us per KiB"
for n in $SIZES; do
    "$GEN" --devices "$n" -o "$OUT/board-gen-$n.dtb" >/dev/null
    bytes=$(stat -c %s "$OUT/board-gen-$n.dtb")
    ms=$(time_ms "$SCMI_DT" inventory "$OUT/board-gen-$n.dtb")
    printf "%-24s %10s %14s %16s\n" "gen-$n.dtb" "$bytes" "$ms" "$(awk -v ms="$ms" -v b="$bytes" 'BEGIN { printf "%.2f", ms * 1000 / (b / 1024) }')"
done

echo "== Debian arm64 board set"
dir=${BOARDS_DIR:-}
if [[ -z "$dir" ]]; then
    dir=$OUT/debian-boards
    if ! compgen -G "$dir/**/*.dtb" >/dev/null && [[ -z "$(find "$dir" -name '*.dtb' -print -quit 2>/dev/null)" ]]; then
        mkdir -p "$dir"
        package=$(apt-cache search --names-only '^linux-image-[0-9.+a-z-]*-arm64$' 2>/dev/null | awk '{ print $1 }' | grep -v -e rt- -e cloud- | sort -V | tail -1 || true)
        if [[ -z "$package" ]] || ! (cd "$dir" && apt-get download "$package:arm64" >/dev/null 2>&1 && dpkg-deb -x ./*.deb .); then
            echo "(cannot fetch a linux-image arm64 package; give BOARDS_DIR=DIR: skipped)"
            exit 0
        fi
    fi
fi
SCMI_DT="$SCMI_DT" OUT="$OUT" python3 - "$dir" <<'PY'
import json, os, statistics, subprocess, sys, time
root, tool, out = sys.argv[1], os.environ["SCMI_DT"], os.environ["OUT"]
boards = sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f.endswith(".dtb"))
inventory_times, scaffold_times, failures = [], [], []
consumers_total = 0
for board in boards:
    start = time.perf_counter()
    run = subprocess.run([tool, "inventory", "--format", "json", board], capture_output=True, text=True)
    inventory_times.append(time.perf_counter() - start)
    if run.returncode != 0:
        failures.append((board, "inventory", run.returncode, run.stderr.strip()[:300]))
        continue
    consumers = json.loads(run.stdout)["consumers"]
    consumers_total += len(consumers)
    if not consumers:
        continue
    overlay = os.path.join(out, "board-sweep.dtso")
    arguments = [tool, "scaffold", board, "-o", overlay]
    for consumer in consumers:
        arguments += ["--device", consumer["path"]]
    start = time.perf_counter()
    run = subprocess.run(arguments, capture_output=True, text=True)
    if run.returncode != 0:
        failures.append((board, "scaffold", run.returncode, run.stderr.strip()[:300]))
        continue
    run = subprocess.run([tool, "check", board, "--overlay", overlay], capture_output=True, text=True)
    scaffold_times.append(time.perf_counter() - start)
    if run.returncode != 0:
        errors = [line for line in run.stdout.splitlines() if "error[" in line]
        failures.append((board, "check", run.returncode, "; ".join(errors[:3]) or run.stderr.strip()[:300]))
def ms(values, f):
    return "%.1f" % (f(values) * 1000) if values else "-"
print(f"{len(boards)} boards, {consumers_total} consumers")
print(f"inventory:        median {ms(inventory_times, statistics.median)} ms, max {ms(inventory_times, max)} ms")
print(f"scaffold + check: median {ms(scaffold_times, statistics.median)} ms, max {ms(scaffold_times, max)} ms ({len(scaffold_times)} boards)")
print(f"failures: {len(failures)}")
for board, step, status, text in failures:
    print(f"  {os.path.relpath(board, root)}: {step} exit {status}: {text}")
PY
