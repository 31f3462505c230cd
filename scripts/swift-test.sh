#!/usr/bin/env bash
# Runs `swift test` and ends with one plain summary line counted from Swift Testing's results
# ("tests: N passed, M failed"), so a reader (or CI) need not find it among XCTest's empty
# "Executed 0 tests" lines. The exit code is swift test's.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -E '^✔ Test .* passed after' "$log" | grep -vc '^✔ Test run ')
failed=$(grep -E '^✘ Test .* failed after' "$log" | grep -vc '^✘ Test run ')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "tests: $passed passed, $failed failed"
exit "$status"
