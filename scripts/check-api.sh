#!/usr/bin/env bash
# `make check-api`: schemathesis against a live release server on a free loopback port, using
# the server's own /openapi.json. Fails on any server error, schema violation, wrong status or
# content type. One check is left out: positive_data_acceptance, because an OIP tensor's
# "len(data) == rows x features" cannot be said in JSON Schema, so schema-valid tensors of the
# wrong size are rightly answered 400.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-check-api
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s scripts/requirements-check-api.txt "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r scripts/requirements-check-api.txt
  cp scripts/requirements-check-api.txt "$venv/requirements.txt"
fi

# Credentials on, so schemathesis also checks that routes refuse calls without them (ignored_auth).
key="check-api-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export API_KEYS="$key@check=*" JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" RATE_LIMIT_PER_MINUTE=100000000

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
data=$(mktemp -d)
SQLITE_PATH="$data/check.sqlite" GRPC_PORT=0 LOG_LEVEL=warning ./.build/release/inference-api serve --host 127.0.0.1 --port "$port" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done

# One worker: schemathesis' generator is not thread-safe in this version (a Hypothesis cache race).
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance \
  --header "X-API-Key: $key" \
  --max-examples "${CHECK_API_EXAMPLES:-100}" --workers 1 --seed 20261122
