#!/usr/bin/env bash
# make test's two passes, inside one throwaway PostgreSQL and one pair of MLflow servers
# (scripts/with-postgres.sh, scripts/with-mlflow.sh): every suite in parallel except ALONE_TESTS,
# then ALONE_TESTS one after another. Those run many processes or time latencies (three replicas
# behind nginx, 500 assets, hostile clients, an alias followed on a tracking server) and need a
# machine the other suites are not loading. Each pass prints its own "tests:" line; the exit code
# is non-zero when either pass failed.
set -uo pipefail
alone=${ALONE_TESTS:?ALONE_TESTS names the suites that run alone}
root=$(cd "$(dirname "$0")/.." && pwd)
# At most TEST_PARALLELISM tests at once in the parallel pass (default 6 per core). Swift Testing
# starts every test at once otherwise, and they share Swift's cooperative pool (one thread per
# core): each await then waits behind hundreds of other tests' jobs, and on a 2-core machine a
# store call or an HTTP read of a test that does little work outlived its deadline (30-120 s)
# while heavy suites ran. Bounded, the same pass also ended sooner (443 s against 550 s).
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=${TEST_PARALLELISM:-$((6 * $(nproc)))}
"$root/scripts/swift-test.sh" --skip "$alone"
first=$?
"$root/scripts/swift-test.sh" --skip-build --no-parallel --filter "$alone"
second=$?
[ "$first" -eq 0 ] && [ "$second" -eq 0 ]
