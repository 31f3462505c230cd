#!/usr/bin/env bash
# make test's guard of the hot path: the release binary under default settings, a few seconds of wrk
# load per form, interleaved, judged by ratios taken within one run (so a shared machine does not
# flake it). A change that puts a dependency's wait on /predict (a store commit once made it 17
# times slower, unseen) fails here:
#   - /predict with module_id (about a fifth of the readings hazardous, hazard episodes on) at
#     >= 80 % of the same readings without module_id, at 1 and at 1,000 readings a request (issue
#     31's goal);
#   - /predict with module_id at 1 reading >= 50 % of the bare route (`inference-api bench-floor`,
#     the same binary and server stack, no middleware);
#   - /predict without module_id at 1 reading >= 90 % of the bare route (issue 29's goal, not met
#     reliably: 0.52-0.55 with the executor's 100 hops a request, 0.61-0.69 after it, 0.75 in the
#     interleaved runs of stop 44 after the header fixes, 0.92 in bench run 21, 0.87 in run 22
#     (908e07e, repetitions 0.86-0.89) and 0.72 here on the same commit; the gate is the one
#     above, as noisy; EventLoopExecutorTests counts the hops).
# Prints the ratios per repetition, their medians and each goal met or missed; exits 1 below a gate.
# The gates are the goals except at 1,000 readings: there the goal (0.80) is met, but with little
# margin on this 2-core machine (fresh-clone medians 0.81 and 0.84 after the episode drain stopped
# turning steady load into back-to-back transactions; 0.76-0.82 before), so the gate is 0.75: far
# above the 0.06 of the store commit this guard exists to catch, and the goal is printed MISSED
# whenever it is missed (issue 31's note). The bare-route share's gate is 0.45 under its 0.50
# goal for the same reason: on the 2-core Xeon VM its repetitions spread 0.26-0.71 and fresh-clone
# medians of the same /predict code were 0.48, 0.49, 0.50, 0.52, 0.54 and 0.55; a gate equal to
# the goal failed one run in three without any change to the path.
#
# Knobs: HOT_PATH_BINARY (default .build/release/inference-api), HOT_PATH_SECONDS (2 a run),
# HOT_PATH_REPS (7: many short interleaved runs give a steadier median than a few long ones here).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${HOT_PATH_BINARY:-$ROOT/.build/release/inference-api}
SECONDS_EACH=${HOT_PATH_SECONDS:-2}
REPS=${HOT_PATH_REPS:-7}
[ -x "$BIN" ] || { echo "check-hot-path: no release binary at $BIN (swift build -c release --product inference-api)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "check-hot-path: wrk is not installed (make deps-test installs it)" >&2; exit 1; }

OUT=$(mktemp -d /tmp/hot-path.XXXXXX)
mkdir -p "$OUT"/{bodies,static,logs}
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$OUT"
}
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_ready() {  # url pid
  for _ in $(seq 1 1500); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "check-hot-path: the server died before $1 was ready" >&2; return 1; }
    sleep 0.02
  done
  echo "check-hot-path: $1 not ready after 30 s" >&2; return 1
}

python3 bench/make_bodies.py "$OUT/bodies"
SP=$(free_port)
# Default settings but the per-caller rate limit, which would answer a load test with 429s.
env PORT="$SP" GRPC_PORT="$(free_port)" HOST=127.0.0.1 RATE_LIMIT_PER_MINUTE=100000000 MLRUNS_DIR="$ROOT/mlruns" SQLITE_PATH="$OUT/hot-path.sqlite" \
  "$BIN" serve >"$OUT/logs/server.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$SP/ready" "${PIDS[-1]}"
# The bare route answers the server's own answer to the 1-reading body, byte for byte.
curl -fs -H 'Content-Type: application/json' --data-binary @"$OUT/bodies/predict-1.json" "http://127.0.0.1:$SP/predict" >"$OUT/static/r1.json"
cp "$OUT/static/r1.json" "$OUT/static/r100.json"; cp "$OUT/static/r1.json" "$OUT/static/r1000.json"
FP=$(free_port)
"$BIN" bench-floor --port "$FP" --answers "$OUT/static" >"$OUT/logs/floor.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$FP/ready" "${PIDS[-1]}"
share=$(python3 bench/hazard_share.py "http://127.0.0.1:$SP" "$OUT/bodies")

run() {  # label url size kind seconds rep
  local files
  files=$(ls "$OUT/bodies/$4-$3"-[0-4].json | paste -sd, -)
  BODY_FILES="$files" RESULT_FILE="$OUT/runs.jsonl" BENCH_LABEL="\"label\":\"$1\",\"size\":$3,\"rep\":$6" \
    wrk -t2 -c4 -d"$5s" --timeout 10s -s bench/post.lua "$2" >/dev/null
}
for size in 1 1000; do  # warm-up
  run module "http://127.0.0.1:$SP/predict" "$size" predict 1 0
  run plain "http://127.0.0.1:$SP/predict" "$size" plain 1 0
done
run floor "http://127.0.0.1:$FP/floor/1" 1 predict 1 0
for rep in $(seq 1 "$REPS"); do
  for size in 1 1000; do
    run module "http://127.0.0.1:$SP/predict" "$size" predict "$SECONDS_EACH" "$rep"
    run plain "http://127.0.0.1:$SP/predict" "$size" plain "$SECONDS_EACH" "$rep"
  done
  run floor "http://127.0.0.1:$FP/floor/1" 1 predict "$SECONDS_EACH" "$rep"
done
ready=$(curl -s "http://127.0.0.1:$SP/ready")
python3 - "$OUT/runs.jsonl" "$share" "$ready" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
share = json.loads(sys.argv[2])
ready = json.loads(sys.argv[3])
ok = {}
for r in runs:
    if r["rep"] == 0:
        continue
    bad = r["errors_status"] + r["errors_connect"] + r["errors_read"] + r["errors_write"] + r["errors_timeout"]
    ok[(r["label"], r["size"], r["rep"])] = ((r["requests"] - r["errors_status"]) / r["seconds"], r["p99_ms"], bad)
reps = sorted({k[2] for k in ok})
errors = sum(v[2] for v in ok.values())
print(f"hot path (release binary, default settings, wrk -t2 -c4, {len(reps)} interleaved repetitions): "
      f"{share['hazardous_share'] * 100:.0f} % of the module_id readings hazardous")
# (name, numerator, denominator, goal, gate)
checks = [("with module_id / without, 1 reading", ("module", 1), ("plain", 1), 0.80, 0.80),
          ("with module_id / without, 1000 readings", ("module", 1000), ("plain", 1000), 0.80, 0.75),
          ("with module_id at 1 reading / bare route", ("module", 1), ("floor", 1), 0.50, 0.45),
          ("without module_id at 1 reading / bare route", ("plain", 1), ("floor", 1), 0.90, 0.45)]
failed = False
for name, a, b, goal, gate in checks:
    ratios = [ok[a + (rep,)][0] / ok[b + (rep,)][0] for rep in reps]
    m = statistics.median(ratios)
    verdict = "goal met" if m >= goal else ("goal MISSED" if m >= gate else "BELOW THE GATE")
    failed |= m < gate
    print(f"  {name}: {' '.join(f'{x:.2f}' for x in ratios)} -> median {m:.2f} (goal {goal:.2f}, gate {gate:.2f}) {verdict}")
for label, size in (("module", 1), ("plain", 1), ("module", 1000), ("plain", 1000), ("floor", 1)):
    rps = statistics.median(ok[(label, size, rep)][0] for rep in reps)
    p99 = statistics.median(ok[(label, size, rep)][1] for rep in reps)
    print(f"  {label:6} {size:>4} readings: {rps:,.0f} req/s ({rps * size:,.0f} readings/s), p99 {p99:.2f} ms")
hazards = ready.get("hazard_episodes") or {}
print(f"  errors: {errors}; hazard episodes after the load: {hazards.get('queued_readings')} queued, {hazards.get('dropped_readings')} dropped")
if errors:
    print("check-hot-path: some answers failed"); failed = True
sys.exit(1 if failed else 0)
PY
