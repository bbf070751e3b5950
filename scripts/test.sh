#!/bin/bash
# test.sh - every test, as `make test` runs it after setup and build:
# the architecture check (docs/architecture.md against Package.swift), swift test
# (unit + CLI end to end), the install test (make install into a temporary DESTDIR,
# then the installed binary, man pages, completions and units), then the real-guest
# suite under QEMU.
# Ends with one line counting all: "tests: N passed, M failed" (", K skipped" when a
# test was skipped, e.g. the dt-validate agreement without dtschema installed).
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=$(mktemp /tmp/scmi-dt-test.XXXXXX)
trap 'rm -f "$LOG"' EXIT

scripts/check-architecture.sh
architecture_status=$?

swift test ${BUILD_FLAGS:-} 2>&1 | tee "$LOG"
swift_status=${PIPESTATUS[0]}
swift_total=$(grep -a -o 'Test run with [0-9]* tests' "$LOG" | tail -n 1 | grep -o '[0-9]*' || echo 0)
swift_failed=$(grep -a -c '^✘ Test .* failed after' "$LOG" || true)
swift_skipped=$(grep -a -c '^➜ Test .* skipped' "$LOG" || true)

# The install test runs swift itself (make install), so after swift test has let go of .build.
Tests/install/run.sh 2>&1 | tee "$LOG"
install_status=${PIPESTATUS[0]}
install_passed=$(grep -a -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n 1 | cut -d' ' -f1)
install_failed=$(grep -a -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n 1 | cut -d' ' -f3)

Tests/guest/run-suite.sh 2>&1 | tee "$LOG"
guest_status=${PIPESTATUS[0]}
guest_passed=$(grep -a -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n 1 | cut -d' ' -f1)
guest_failed=$(grep -a -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n 1 | cut -d' ' -f3)

Tests/guest/run-mediator.sh 2>&1 | tee "$LOG"
mediator_status=${PIPESTATUS[0]}
mediator_passed=$(grep -a -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n 1 | cut -d' ' -f1)
mediator_failed=$(grep -a -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n 1 | cut -d' ' -f3)

passed=$(( ${swift_total:-0} - ${swift_failed:-0} - ${swift_skipped:-0} + ${install_passed:-0} + ${guest_passed:-0} + ${mediator_passed:-0} ))
failed=$(( ${swift_failed:-0} + ${install_failed:-0} + ${guest_failed:-0} + ${mediator_failed:-0} ))
if [ "$swift_status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi   # swift test failed without a countable test
if [ "$install_status" != 0 ] && [ "${install_failed:-0}" = 0 ]; then failed=$((failed + 1)); fi
if [ "$guest_status" != 0 ] && [ "${guest_failed:-0}" = 0 ]; then failed=$((failed + 1)); fi
if [ "$mediator_status" != 0 ] && [ "${mediator_failed:-0}" = 0 ]; then failed=$((failed + 1)); fi
if [ "$architecture_status" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo
echo "architecture check: exit status $architecture_status; swift test: exit status $swift_status; install test: exit status $install_status; real-guest suite: exit status $guest_status; its run with a mediator: exit status $mediator_status"
echo "tests: $passed passed, $failed failed$([ "${swift_skipped:-0}" -gt 0 ] && echo ", $swift_skipped skipped")"
[ "$architecture_status" = 0 ] && [ "$swift_status" = 0 ] && [ "$install_status" = 0 ] && [ "$guest_status" = 0 ] && [ "$mediator_status" = 0 ]
