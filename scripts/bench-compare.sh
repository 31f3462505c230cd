#!/usr/bin/env bash
# scripts/bench-compare.sh A B: two commits side by side, for a change's before/after table.
#
# Builds both commits' release binaries (one worktree and one build folder kept in .build-compare,
# so the second build and later runs are incremental), then measures them interleaved: in every
# repetition each binary runs the same in-process limits (bench-limits: the C API, the compiled
# forest, HazardModel, at batches 1, 100 and 1,000) and serves POST /predict under wrk (1 and
# 1,000 readings per request, bench/make_bodies.py's bodies), A then B in odd repetitions and
# B then A in even ones, so a machine that slows down mid-run slows both. bench/compare.py prints
# each figure's median for A and B and the median of the per-repetition ratios B / A.
#
# Knobs: BENCH_REPS (5), BENCH_DURATION (s per wrk run, 5), BENCH_CONNECTIONS (4),
# BENCH_WRK_THREADS (2), BENCH_OUT (results folder, default a new /tmp/bench-compare.XXXXXX).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
A=${1:?usage: scripts/bench-compare.sh A B (two commits)}
B=${2:?usage: scripts/bench-compare.sh A B (two commits)}
REPS=${BENCH_REPS:-5}
DURATION=${BENCH_DURATION:-5}
CONNS=${BENCH_CONNECTIONS:-4}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WORK="$ROOT/.build-compare"
OUT=${BENCH_OUT:-$(mktemp -d /tmp/bench-compare.XXXXXX)}
mkdir -p "$OUT"/{bodies,logs,tmp}
say() { printf '[bench-compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
command -v wrk >/dev/null || ./scripts/install-deps.sh wrk

declare -A COMMIT
COMMIT[A]=$(git rev-parse --verify "$A^{commit}")
COMMIT[B]=$(git rev-parse --verify "$B^{commit}")
[ -d "$WORK/tree" ] || git worktree add --detach "$WORK/tree" "${COMMIT[A]}" >/dev/null
for side in A B; do
  say "building $side (${COMMIT[$side]:0:7})"
  git -C "$WORK/tree" checkout -q --detach "${COMMIT[$side]}"
  (cd "$WORK/tree" && swift build -c release --product inference-api --scratch-path "$WORK/build" >"$OUT/logs/build-$side.log" 2>&1) \
    || { tail -20 "$OUT/logs/build-$side.log" >&2; exit 1; }
  cp "$WORK/build/release/inference-api" "$OUT/inference-api-$side"
done
python3 bench/make_bodies.py "$OUT/bodies"
printf '{"A":"%s","B":"%s","reps":%s,"duration":%s,"connections":%s}\n' "${COMMIT[A]}" "${COMMIT[B]}" "$REPS" "$DURATION" "$CONNS" >"$OUT/run.json"

PID=
stop_server() { [ -z "$PID" ] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; }; }
trap stop_server EXIT

measure() {  # side rep
  local side=$1 rep=$2 bin="$OUT/inference-api-$1" port size files
  MLRUNS_DIR="$ROOT/mlruns" "$bin" bench-limits --rows "$OUT/bodies/predict-1000.json" --batches 1 100 1000 --trials 1 --seconds 1 --json \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); d["side"]=sys.argv[1]; d["rep"]=int(sys.argv[2]); print(json.dumps(d))' "$side" "$rep" \
    >>"$OUT/limits.jsonl"
  port=$(free_port)
  PORT=$port GRPC_PORT=0 HOST=127.0.0.1 RATE_LIMIT_PER_MINUTE=100000000 MLRUNS_DIR="$ROOT/mlruns" SQLITE_PATH="$OUT/tmp/$side-$rep.sqlite" \
    "$bin" serve >"$OUT/logs/serve-$side-$rep.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 500); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.02; done
  curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { say "$side did not get ready"; tail -5 "$OUT/logs/serve-$side-$rep.log" >&2; exit 1; }
  for size in 1 1000; do
    files=$(ls "$OUT/bodies/predict-$size"-[0-4].json | paste -sd, -)
    BODY_FILES="$files" RESULT_FILE="$OUT/tmp/warmup.jsonl" BENCH_LABEL='"warmup":1' \
      wrk -t"$WRK_THREADS" -c"$CONNS" -d1s --timeout 10s -s bench/post.lua "http://127.0.0.1:$port/predict" >/dev/null
    BODY_FILES="$files" RESULT_FILE="$OUT/wrk.jsonl" BENCH_LABEL="\"side\":\"$side\",\"size\":$size,\"rep\":$rep" \
      wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s -s bench/post.lua "http://127.0.0.1:$port/predict" >/dev/null
  done
  stop_server
}

for rep in $(seq 1 "$REPS"); do
  order="A B"; [ $((rep % 2)) -eq 0 ] && order="B A"
  for side in $order; do
    say "repetition $rep/$REPS: $side"
    measure "$side" "$rep"
  done
done
python3 bench/compare.py "$OUT" | tee "$OUT/compare.md"
say "results in $OUT"
