#!/usr/bin/env bash
# `make bench`: the Swift server side by side with the Python reference (bench/reference/) and the
# in-process C-API limit, on loopback. See BENCHMARKS.md for what each figure means.
#
#   scripts/bench.sh                 everything, then the table (bench/report.py)
#   BUILD_DIR=.build-bench scripts/bench.sh   use another build folder (default .build; the binary
#                                    must exist: `make bench` builds it)
# Knobs (environment): BENCH_DURATION (s per wrk run, 5), BENCH_REPS (interleaved repetitions, 3),
# BENCH_CONNECTIONS (4), BENCH_WRK_THREADS (2), BENCH_STARTS (start-up runs, 5), BENCH_OUT (results
# folder, default a new /tmp/inference-bench.XXXXXX), BENCH_SKIP (space-separated phases to skip:
# startup http oip limits forest detect).
#
# Installs what it needs, idempotently: wrk, nginx, PostgreSQL (scripts/install-deps.sh) and the
# reference's pinned virtualenv (bench/reference/.venv, rebuilt when requirements.txt changes), and
# MLServer's (bench/mlserver/.venv, the Open Inference peer).
# Every server it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BUILD_DIR=${BUILD_DIR:-.build}
BIN="$ROOT/$BUILD_DIR/release/inference-api"
DURATION=${BENCH_DURATION:-5}
REPS=${BENCH_REPS:-3}
CONNS=${BENCH_CONNECTIONS:-4}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
STARTS=${BENCH_STARTS:-5}
SKIP=${BENCH_SKIP:-}
VENV="$ROOT/bench/reference/.venv"
PY="$VENV/bin/python"
VECTOR="$ROOT/fixtures/vectors/mlflow3_xgb3_ubj_standard__champion.json"

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
skipped() { [[ " $SKIP " == *" $1 "* ]]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# ---- phase entry for the PostgreSQL part: run inside scripts/with-postgres.sh (see detect_persist)
if [ "${1:-}" = "--detect-inside-postgres" ]; then
  : "${TEST_DATABASE_URL:?}" "${OUT:?}"
  PIDS=()
  cleanup_inner() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; }
  trap cleanup_inner EXIT
  # with-postgres.sh starts its cluster with fsync=off (fast tests) on its command line, which no
  # ALTER SYSTEM overrides: restart the same cluster with fsync=on (BENCH_PG_FSYNC=off keeps it
  # as it is), so "committed" means flushed to disk as in production.
  if [ "${BENCH_PG_FSYNC:-on}" = on ]; then
    q() { psql -tAq "$TEST_DATABASE_URL" -c "$1"; }
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    datadir=$(q "SHOW data_directory"); sockdir=$(q "SHOW unix_socket_directories"); pgport=$(q "SHOW port")
    restart=("$bindir/pg_ctl" -D "$datadir" -w -t 30 -m fast restart
      -o "-c listen_addresses=127.0.0.1 -p $pgport -k $sockdir -c max_connections=200 -c fsync=on")
    if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$(printf '%q ' "${restart[@]}")" >/dev/null
    else "${restart[@]}" >/dev/null; fi
  fi
  fsync=$(psql -tAq "$TEST_DATABASE_URL" -c "SHOW fsync")
  sync_commit=$(psql -tAq "$TEST_DATABASE_URL" -c "SHOW synchronous_commit")
  port=$(free_port)
  DATABASE_URL="$TEST_DATABASE_URL" PORT=$port GRPC_PORT=0 HOST=127.0.0.1 RATE_LIMIT_PER_MINUTE=100000000 MLRUNS_DIR="$ROOT/mlruns" SQLITE_PATH="$OUT/tmp/unused.sqlite" \
    "$BIN" serve >"$OUT/logs/swift-detect.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  for _ in $(seq 1 500); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.02; done
  curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { say "detect: the server did not get ready"; tail -5 "$OUT/logs/swift-detect.log" >&2; exit 1; }
  bodies=()
  for k in 0 1 2 3; do
    b="$OUT/bodies/detect-1000-$k.json"; bodies+=("$b")
    # One detect per asset stores 1000 samples of history, then an Isolation Forest is trained on
    # it, so the timed requests are scored by the forest (the production path), not the fallbacks.
    code=$(curl -s -o "$OUT/logs/detect-warmup-$k.json" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$b" "http://127.0.0.1:$port/anomaly/detect")
    [ "$code" = 200 ] || { say "detect warm-up answered $code: $(head -c 300 "$OUT/logs/detect-warmup-$k.json")"; exit 1; }
    code=$(curl -s -o "$OUT/logs/train-$k.json" -w '%{http_code}' -H 'Content-Type: application/json' \
      -d "{\"asset_id\":\"bench-asset-$k\",\"metrics\":[\"cpu_pct\",\"memory_pct\",\"bandwidth_mbps\",\"latency_ms\",\"error_count\"]}" \
      "http://127.0.0.1:$port/anomaly/train")
    [ "$code" = 200 ] || [ "$code" = 201 ] || { say "train answered $code: $(head -c 300 "$OUT/logs/train-$k.json")"; exit 1; }
  done
  method=$(curl -s -H 'Content-Type: application/json' --data-binary @"${bodies[0]}" "http://127.0.0.1:$port/anomaly/detect" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; print(",".join(sorted({x["method"] for x in r})))')
  count() { psql -tAq "$TEST_DATABASE_URL" -c "SELECT (SELECT count(*) FROM metric_samples) || ' ' || (SELECT count(*) FROM anomaly_scores)"; }
  list=$(IFS=,; echo "${bodies[*]}")
  for rep in $(seq 1 "$REPS"); do
    read -r s0 a0 < <(count)
    BODY_FILES="$list" RESULT_FILE="$OUT/detect-wrk.jsonl" BENCH_LABEL="\"rep\":$rep" \
      wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$ROOT/bench/post.lua" "http://127.0.0.1:$port/anomaly/detect" >/dev/null
    read -r s1 a1 < <(count)
    echo "{\"rep\":$rep,\"samples_committed\":$((s1 - s0)),\"scores_committed\":$((a1 - a0))}" >>"$OUT/detect-rows.jsonl"
  done
  peak=$(python3 "$ROOT/bench/proc_rss.py" "$pid" peak)
  echo "{\"fsync\":\"$fsync\",\"synchronous_commit\":\"$sync_commit\",\"methods\":\"$method\",\"peak_rss_kb\":$peak,\"samples_per_request\":1000,\"postgres\":\"$(psql -tAq "$TEST_DATABASE_URL" -c 'SHOW server_version')\"}" >"$OUT/detect-meta.json"
  exit 0
fi

# ---- setup
[ -x "$BIN" ] || { echo "bench: no release binary at $BIN (swift build -c release --product inference-api${BUILD_DIR:+ --scratch-path $BUILD_DIR})" >&2; exit 1; }
./scripts/install-deps.sh wrk nginx postgresql curl nghttp2-client

stamp="$VENV/.requirements.sha256"
want=$(sha256sum bench/reference/requirements.txt | cut -d' ' -f1)
if [ ! -x "$PY" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating the reference virtualenv (bench/reference/.venv, pinned requirements)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/reference/requirements.txt
  echo "$want" >"$stamp"
fi

OUT=${BENCH_OUT:-$(mktemp -d /tmp/inference-bench.XXXXXX)}
mkdir -p "$OUT"/{bodies,static,logs,tmp}
rm -f "$OUT"/*.jsonl "$OUT"/*.json "$OUT"/*.txt
export OUT BIN ROOT REPS DURATION CONNS WRK_THREADS
say "results in $OUT (binary $BIN)"
python3 bench/make_bodies.py "$OUT/bodies"

PIDS=()
cleanup() {  # TERM every server started here (gunicorn's master stops its workers), KILL after 10 s
  local p _
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

# The machine, for the report.
{
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -sr)"
  echo "os: $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "swift: $(swift --version 2>&1 | head -1)"
  echo "libxgboost: $(dpkg-query -W -f='${Version}' libxgboost-dev 2>/dev/null)"
  echo "wrk: $(dpkg-query -W -f='${Version}' wrk)"
  echo "h2load: $(dpkg-query -W -f='${Version}' nghttp2-client)"
  echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2)"
  echo "python: $("$PY" --version 2>&1 | cut -d' ' -f2)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "settings: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $REPS interleaved repetitions"
} >"$OUT/machine.txt"

# The server's per-caller rate limit (RATE_LIMIT_PER_MINUTE, 60000 a minute by default) would answer part of a
# load test with 429s: lifted for the bench. Everything else is the default configuration.
# Both exec, so that `f ... &` leaves $! = the server's own pid (a function run with & is a subshell;
# without exec, killing $! would orphan the server). Call them in ( ) in the foreground.
swift_env() { exec env PORT="$1" GRPC_PORT=0 HOST=127.0.0.1 RATE_LIMIT_PER_MINUTE=100000000 MLRUNS_DIR="$ROOT/mlruns" SQLITE_PATH="$OUT/tmp/inference-$1.sqlite" "${@:2}"; }
ref_cmd() {
  exec env OMP_NUM_THREADS=1 MLRUNS_DIR="$ROOT/mlruns" "$VENV/bin/gunicorn" --chdir "$ROOT/bench/reference" \
    -w 2 -k sync -b "127.0.0.1:$1" --timeout 120 --log-level warning app:app
}
wait_ready() {  # url, pid
  for _ in $(seq 1 1500); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { say "process $2 died before $1 was ready"; return 1; }
    sleep 0.02
  done
  say "$1 not ready after 30 s"; return 1
}

# ---- 1. start-up time to /ready and idle RSS
if ! skipped startup; then
  say "start-up: $STARTS starts of each server"
  p=$(free_port)
  (swift_env "$p" python3 bench/startup.py --url "http://127.0.0.1:$p/ready" --runs "$STARTS" --label swift --log "$OUT/logs/startup-swift.log" -- "$BIN" serve) >>"$OUT/startup.jsonl"
  p=$(free_port)
  python3 bench/startup.py --url "http://127.0.0.1:$p/ready" --runs "$STARTS" --label reference --log "$OUT/logs/startup-reference.log" -- \
    env OMP_NUM_THREADS=1 MLRUNS_DIR="$ROOT/mlruns" "$VENV/bin/gunicorn" --chdir "$ROOT/bench/reference" -w 2 -k sync -b "127.0.0.1:$p" --log-level warning app:app \
    >>"$OUT/startup.jsonl"
fi

# ---- 2. HTTP: parity first, then interleaved wrk runs against Swift, the reference and nginx
if ! skipped http; then
  SP=$(free_port); RP=$(free_port); NP=$(free_port)
  # The measured server serves gRPC too, as by default (on a free port: the others here do not,
  # since they run at the same time and GRPC_PORT's default would be taken twice).
  swift_env "$SP" env GRPC_PORT="$(free_port)" "$BIN" serve >"$OUT/logs/swift.log" 2>&1 &
  SWIFT_PID=$!; PIDS+=("$SWIFT_PID")
  ref_cmd "$RP" >"$OUT/logs/reference.log" 2>&1 &
  REF_PID=$!; PIDS+=("$REF_PID")
  # The same server with a shadow challenger (the baseline run scores every reading off the
  # request path): what an experiment costs /predict.
  SHP=$(free_port)
  CHALLENGER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' fixtures/vectors/mlflow3_xgb3_ubj_standard__baseline.json)
  swift_env "$SHP" env CHALLENGER_MODEL_URI="$CHALLENGER" CHALLENGER_MODE=shadow "$BIN" serve >"$OUT/logs/swift-shadow.log" 2>&1 &
  SHADOW_PID=$!; PIDS+=("$SHADOW_PID")
  wait_ready "http://127.0.0.1:$SP/ready" "$SWIFT_PID"
  wait_ready "http://127.0.0.1:$RP/ready" "$REF_PID"
  wait_ready "http://127.0.0.1:$SHP/ready" "$SHADOW_PID"
  sleep 1
  echo "{\"swift\":$(python3 bench/proc_rss.py "$SWIFT_PID" rss),\"reference\":$(python3 bench/proc_rss.py "$REF_PID" rss)}" >"$OUT/idle-rss.json"

  say "parity: the reference must answer what Swift answers (1e-6) before timing"
  python3 bench/parity.py "http://127.0.0.1:$SP" "http://127.0.0.1:$RP" "$OUT/bodies" "$VECTOR" "$OUT/static" >"$OUT/parity.json"

  sed "s#@PREFIX@#$OUT/tmp#g; s#@PORT@#$NP#; s#@ROOT@#$OUT/static#" bench/nginx.conf >"$OUT/tmp/nginx.conf"
  nginx -p "$OUT/tmp" -c "$OUT/tmp/nginx.conf" -e "$OUT/tmp/nginx-error.log" &
  NGINX_PID=$!; PIDS+=("$NGINX_PID")
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$NP/r1.json" && break; sleep 0.02; done
  # The framework's floor: the same binary and server stack, one static route, no middleware.
  FP=$(free_port)
  "$BIN" bench-floor --port "$FP" --answers "$OUT/static" >"$OUT/logs/floor.log" 2>&1 &
  FLOOR_PID=$!; PIDS+=("$FLOOR_PID")
  wait_ready "http://127.0.0.1:$FP/ready" "$FLOOR_PID"

  # The headline bodies are what dashboards send (module_id, about a fifth of the readings
  # hazardous: bench/make_bodies.py); "plain" bodies are the same readings without module_id.
  say "hazardous share of the bodies (Swift's own labels): $(python3 bench/hazard_share.py "http://127.0.0.1:$SP" "$OUT/bodies" | tee "$OUT/hazard-share.json")"
  run_wrk() {  # target url size rep pid seconds [result name] [bodies: predict | plain]
    local target=$1 url=$2 size=$3 rep=$4 pid=$5 seconds=$6 kind=${8:-predict} peak=0 files
    files=$(ls "$OUT/bodies/$kind-$size"-[0-4].json | paste -sd, -)
    python3 bench/proc_rss.py "$pid" reset
    BODY_FILES="$files" RESULT_FILE="$OUT/${7:-wrk}.jsonl" BENCH_LABEL="\"target\":\"$target\",\"size\":$size,\"rep\":$rep" \
      wrk -t"$WRK_THREADS" -c"$CONNS" -d"${seconds}s" --timeout 10s -s bench/post.lua "$url" >/dev/null
    peak=$(python3 bench/proc_rss.py "$pid" peak)
    echo "{\"target\":\"$target\",\"size\":$size,\"rep\":$rep,\"peak_rss_kb\":$peak}" >>"$OUT/${7:-wrk}-rss.jsonl"
  }
  say "warm-up: 1 s per server and size"
  for size in 1 100 1000; do
    run_wrk swift "http://127.0.0.1:$SP/predict" "$size" 0 "$SWIFT_PID" 1 warmup
    run_wrk swift-plain "http://127.0.0.1:$SP/predict" "$size" 0 "$SWIFT_PID" 1 warmup plain
    [[ $size == 1000 ]] || run_wrk swift-shadow "http://127.0.0.1:$SHP/predict" "$size" 0 "$SHADOW_PID" 1 warmup
    run_wrk reference "http://127.0.0.1:$RP/predict" "$size" 0 "$REF_PID" 1 warmup
  done
  for rep in $(seq 1 "$REPS"); do
    for size in 1 100 1000; do
      say "http: repetition $rep/$REPS, $size readings per request"
      run_wrk swift "http://127.0.0.1:$SP/predict" "$size" "$rep" "$SWIFT_PID" "$DURATION"
      run_wrk swift-plain "http://127.0.0.1:$SP/predict" "$size" "$rep" "$SWIFT_PID" "$DURATION" wrk plain
      [[ $size == 1000 ]] || run_wrk swift-shadow "http://127.0.0.1:$SHP/predict" "$size" "$rep" "$SHADOW_PID" "$DURATION"
      run_wrk reference "http://127.0.0.1:$RP/predict" "$size" "$rep" "$REF_PID" "$DURATION"
      run_wrk nginx "http://127.0.0.1:$NP/r$size.json" "$size" "$rep" "$NGINX_PID" "$DURATION"
      run_wrk floor "http://127.0.0.1:$FP/floor/$size" "$size" "$rep" "$FLOOR_PID" "$DURATION"
    done
    # The C-API limit again within this repetition (the servers idle meanwhile), so the share
    # of it the server reaches is a ratio taken under the same machine load, like the others.
    say "http: repetition $rep/$REPS, in-process C-API limit"
    MLRUNS_DIR="$ROOT/mlruns" "$BIN" bench-limits --rows "$OUT/bodies/predict-1000.json" --batches 1 100 1000 \
      --trials 1 --seconds 0.2 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); d["rep"]=int(sys.argv[1]); print(json.dumps(d))' "$rep" \
      >>"$OUT/capi-interleaved.jsonl"
  done
  echo "{\"swift\":$(python3 bench/proc_rss.py "$SWIFT_PID" rss),\"reference\":$(python3 bench/proc_rss.py "$REF_PID" rss)}" >"$OUT/after-load-rss.json"
  # Did the challenger keep up? (compared readings, and those the full queue dropped)
  curl -s "http://127.0.0.1:$SHP/models/challenger" >"$OUT/shadow.json" || true
  cleanup; PIDS=()
fi

# ---- 2b. The Open Inference Protocol: this service's REST JSON, REST binary and gRPC beside
# MLServer 1.7.1 + mlserver-xgboost serving the same booster (given pre-scaled inputs: it has no
# scaler), at 1, 100 and 1000 rows. REST through wrk, gRPC through h2load (the same clients for
# both servers), interleaved like the rows above.
if ! skipped oip; then
  MLS_PY=$(PIP_NO_DEPS=1 ./scripts/pinned-venv.sh "$ROOT/bench/mlserver/.venv" bench/mlserver/requirements.txt)
  mkdir -p "$OUT/oip"
  SP=$(free_port); SG=$(free_port); MP=$(free_port); MG=$(free_port); MM=$(free_port)
  swift_env "$SP" env GRPC_PORT="$SG" "$BIN" serve >"$OUT/logs/swift-oip.log" 2>&1 &
  OIP_PID=$!; PIDS+=("$OIP_PID")
  wait_ready "http://127.0.0.1:$SP/ready" "$OIP_PID"
  curl -fs "http://127.0.0.1:$SP/v2/models/battery-hazard" >"$OUT/oip/metadata.json"
  "$PY" bench/mlserver/prepare.py "$OUT/bodies" "$OUT/oip/metadata.json" "$OUT/oip" "$MP" "$MG" "$MM" >"$OUT/oip/prepare.json"
  (cd "$OUT/oip/server" && exec "$(dirname "$MLS_PY")/mlserver" start .) >"$OUT/logs/mlserver.log" 2>&1 &
  MLS_PID=$!; PIDS+=("$MLS_PID")
  wait_ready "http://127.0.0.1:$MP/v2/models/battery-hazard/ready" "$MLS_PID"
  say "oip: parity (both servers against xgboost on the pre-scaled rows) before timing"
  python3 bench/oip_parity.py "http://127.0.0.1:$SP" "http://127.0.0.1:$MP" "$OUT/oip" >"$OUT/oip-parity.json"
  oip_rest() {  # target url body rep seconds result
    BODY_FILES="$3" RESULT_FILE="$OUT/$6.jsonl" BENCH_LABEL="\"target\":\"$1\",\"size\":$size,\"rep\":$4" \
      wrk -t"$WRK_THREADS" -c"$CONNS" -d"${5}s" --timeout 10s -s bench/post.lua "$2" >/dev/null
  }
  # gRPC: h2load posts the request framed as on the wire; `bench-grpc --probe` makes one real call
  # first, and its answer's size is what every h2load answer must measure to count as a success.
  for size in 1 100 1000; do
    for form in oip mls; do
      for raw in "" --raw; do
        "$BIN" bench-grpc --body "$OUT/oip/$form-$size.json" $raw --write-request "$OUT/oip/$form-$size${raw:+-raw}.grpc"
      done
    done
  done
  oip_grpc() {  # target port form rep seconds result [--raw]
    local expect
    expect=$("$BIN" bench-grpc --body "$OUT/oip/$3-$size.json" ${7:-} --probe "127.0.0.1:$2")
    python3 bench/h2load_grpc.py --url "http://127.0.0.1:$2" --body "$OUT/oip/$3-$size${7:+-raw}.grpc" --expect-bytes "$expect" \
      --connections "$CONNS" --threads "$WRK_THREADS" --seconds "$5" --label "\"target\":\"$1\",\"size\":$size,\"rep\":$4" \
      --result-file "$OUT/$6.jsonl" >/dev/null
  }
  oip_round() {  # rep seconds result
    local infer="/v2/models/battery-hazard/infer"
    oip_rest swift-json "http://127.0.0.1:$SP$infer" "$OUT/oip/oip-$size.json" "$1" "$2" "$3"
    oip_rest swift-binary "http://127.0.0.1:$SP$infer" "$OUT/oip/oip-bin-$size.bin" "$1" "$2" "$3"
    oip_grpc swift-grpc "$SG" oip "$1" "$2" "$3"
    oip_grpc swift-grpc-raw "$SG" oip "$1" "$2" "$3" --raw
    oip_rest mlserver-json "http://127.0.0.1:$MP$infer" "$OUT/oip/mls-$size.json" "$1" "$2" "$3"
    oip_grpc mlserver-grpc "$MG" mls "$1" "$2" "$3"
    oip_grpc mlserver-grpc-raw "$MG" mls "$1" "$2" "$3" --raw
  }
  say "oip: warm-up, 1 s per form and size"
  for size in 1 100 1000; do oip_round 0 1 oip-warmup; done
  for rep in $(seq 1 "$REPS"); do
    for size in 1 100 1000; do
      say "oip: repetition $rep/$REPS, $size rows per request"
      oip_round "$rep" "$DURATION" oip
    done
  done
  cleanup; PIDS=()
fi

# ---- 3. in-process limits: C API, HazardModel, ReadingsDecoder
if ! skipped limits; then
  say "in-process limits (bench-limits)"
  MLRUNS_DIR="$ROOT/mlruns" "$BIN" bench-limits --rows "$OUT/bodies/predict-1000.json" \
    --bodies "$OUT/bodies/predict-1.json" "$OUT/bodies/predict-100.json" "$OUT/bodies/predict-1000.json" --json >"$OUT/limits.json"
fi

# ---- 4a. Isolation Forest fit/score against scikit-learn (what `make bench-forest` runs)
if ! skipped forest; then
  say "Isolation Forest: Swift against scikit-learn (bench-forest)"
  for set in fixtures/anomaly/*.json; do
    "$BIN" forest-timing "$set" >>"$OUT/forest.txt"
    OMP_NUM_THREADS=2 "$PY" bench/forest_sklearn.py "$set" >>"$OUT/forest.txt"
  done
fi

# ---- 4b. /anomaly/detect with persist: true into a throwaway PostgreSQL
if ! skipped detect; then
  say "detect + persist into PostgreSQL (scripts/with-postgres.sh)"
  ./scripts/with-postgres.sh "$0" --detect-inside-postgres 2>>"$OUT/logs/with-postgres.log" \
    || say "detect + persist failed (see $OUT/logs/)"
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
python3 bench/report.py "$OUT"
