#!/usr/bin/env bash
# Runs `swift test` and ends with one plain summary line counted from Swift Testing's results
# ("tests: N passed, M failed"), so a reader (or CI) need not find it among XCTest's empty
# "Executed 0 tests" lines, and the skipped tests with their reasons. The exit code is swift
# test's; under CI (CI set) a skipped test also fails the run, so the PostgreSQL tests cannot be
# skipped silently there.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -E '^✔ Test .* passed after' "$log" | grep -vc '^✔ Test run ')
failed=$(grep -E '^✘ Test .* failed after' "$log" | grep -vc '^✘ Test run ')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
skipped=$(grep -cE '^➜ Test .* skipped' "$log")
echo "tests: $passed passed, $failed failed, $skipped skipped"
if [ "$skipped" -gt 0 ]; then
  grep -E '^➜ Test .* skipped' "$log"
  if [ -n "${CI:-}" ] && [ "$status" -eq 0 ]; then
    echo "CI: no test may be skipped" >&2
    status=1
  fi
fi
exit "$status"
