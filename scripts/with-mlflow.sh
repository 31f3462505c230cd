#!/usr/bin/env bash
# Runs a command beside real MLflow 3.17.2 tracking servers from the pinned virtualenv
# fixtures/.venv-mlflow-server (made from fixtures/requirements-mlflow-server.txt the first time,
# synced when that file changes, reused otherwise), each on a free loopback port, with a fresh
# SQLite backend store and artifact root under a temporary folder:
#
#   - an open server (`--serve-artifacts`), into which fixtures/make_mlruns.py logs the
#     battery-hazard baseline and champion runs, registers them (versions 1 and 2) and points the
#     alias `champion` at version 2, writing Python's vectors;
#   - a server that requires credentials (`--app-name basic-auth`).
#
# The servers are stopped and the folder removed whatever the command's outcome; its exit code
# is kept. The command sees:
#   TEST_MLFLOW_URL, TEST_MLFLOW_VECTORS            the open server, the vectors of its runs
#   TEST_MLFLOW_DB, TEST_MLFLOW_ARTIFACTS            its backend database and artifact root
#   TEST_MLFLOW_AUTH_URL, TEST_MLFLOW_AUTH_USERNAME, TEST_MLFLOW_AUTH_PASSWORD   the server with auth
#   TEST_MLFLOW_HTTPS_URL, TEST_MLFLOW_CA            the open server behind nginx terminating TLS
#                                                    (https://localhost:<port>) with a certificate
#                                                    signed by a CA made here, and that CA's PEM
# and, when run inside scripts/with-postgres.sh (TEST_DATABASE_URL set), the same runs logged by
# MLflow itself into a PostgreSQL backend store (database mlflow_backend of that cluster):
#   TEST_MLFLOW_PG_URL, TEST_MLFLOW_PG_ARTIFACTS, TEST_MLFLOW_PG_VECTORS
# and the champion once more, in an experiment made with its own artifact_location (runs at
# <location>/<run>/, logged models at <location>/models/<id>/), the location then moved, so every
# recorded path is stale:
#   TEST_MLFLOW_PG_OWN_ARTIFACTS (the moved location), TEST_MLFLOW_PG_OWN_VECTORS
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=$("$root/scripts/pinned-venv.sh" "$root/fixtures/.venv-mlflow-server" "$root/fixtures/requirements-mlflow-server.txt")
venv=$(dirname "$(dirname "$python")")

work=$(mktemp -d /tmp/mlflow-test.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
port=$(free_port)
auth_port=$(free_port)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

export GIT_PYTHON_REFRESH=quiet MLFLOW_ENABLE_ASYNC_LOGGING=false PYTHONHASHSEED=0
unset MLFLOW_TRACKING_URI MLFLOW_REGISTRY_URI MLFLOW_TRACKING_TOKEN MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD

started=$(date +%s)
# Each server in its own process group (setsid), so stopping it stops its workers too.
setsid "$venv/bin/mlflow" server --backend-store-uri "sqlite:///$work/mlflow.db" --serve-artifacts \
  --artifacts-destination "$work/mlartifacts" --host 127.0.0.1 --port "$port" --workers 1 >"$work/server.log" 2>&1 &
pids+=($!)

auth_password="fixture-admin-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
cat >"$work/basic_auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = sqlite:///$work/basic_auth.db
admin_username = admin
admin_password = $auth_password
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
MLFLOW_FLASK_SERVER_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(16))') \
MLFLOW_AUTH_CONFIG_PATH="$work/basic_auth.ini" setsid "$venv/bin/mlflow" server --app-name basic-auth \
  --backend-store-uri "sqlite:///$work/auth-mlflow.db" --serve-artifacts --artifacts-destination "$work/auth-mlartifacts" \
  --host 127.0.0.1 --port "$auth_port" --workers 1 >"$work/auth-server.log" 2>&1 &
pids+=($!)

wait_for() {  # wait_for <url> <log>: until /health answers (at most 5 minutes on a loaded machine)
  for _ in $(seq 1 600); do
    curl -sf "$1/health" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "with-mlflow: $1 did not start" >&2; cat "$2" >&2; return 1
}

# PostgreSQL backend store (psycopg2 is in the virtualenv): MLflow creates its schema and logs the
# runs with a postgresql:// tracking URI, artifacts under ./mlruns of $work/pg. In the background,
# beside the logging into the server.
pg_job=
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  pg_url="${TEST_DATABASE_URL%/*}/mlflow_backend"
  pg_url="postgresql+psycopg2://${pg_url#*://}"  # SQLAlchemy 2.1 defaults to psycopg 3
  mkdir -p "$work/pg/vectors"
  (cd "$work/pg" \
    && "$venv/bin/python" -c 'import sys, psycopg2; c = psycopg2.connect(sys.argv[1]); c.autocommit = True; c.cursor().execute("CREATE DATABASE mlflow_backend")' \
         "postgresql://${TEST_DATABASE_URL#*://}" \
    && "$venv/bin/python" "$root/fixtures/make_mlruns.py" --case postgres_ubj_standard --tracking-uri "$pg_url" \
         --vectors "$work/pg/vectors" --format ubj --scaler standard --compress 0 --runs baseline,champion --register --alias champion \
    && "$venv/bin/python" "$root/fixtures/make_mlruns.py" --case postgres_own_location --tracking-uri "$pg_url" \
         --experiment battery-hazard-own-location --experiment-location "$work/pg/own-location" \
         --vectors "$work/pg/own-vectors" --format ubj --scaler standard --compress 0 --runs champion \
    && mv "$work/pg/own-location" "$work/pg/own-location-moved") \
    >"$work/log-pg.txt" 2>&1 &
  pg_job=$!
fi

# The script makes its data set while the server starts, and waits for /health before logging.
mkdir -p "$work/vectors"
(cd "$root/fixtures" && "$venv/bin/python" make_mlruns.py --case server_ubj_standard --tracking-uri "http://127.0.0.1:$port" \
  --vectors "$work/vectors" --format ubj --scaler standard --compress 0 --runs baseline,champion --register --alias champion) \
  >"$work/log-runs.txt" 2>&1 || { cat "$work/log-runs.txt" "$work/server.log" >&2; exit 1; }
wait_for "http://127.0.0.1:$port" "$work/server.log"
wait_for "http://127.0.0.1:$auth_port" "$work/auth-server.log"

# HTTPS in front of the open server, as deployments put one: nginx terminating TLS with a
# certificate for localhost signed by a CA made here, which clients must be told to trust
# (MLFLOW_TRACKING_SERVER_CERT_PATH, as with MLflow's own client).
tls_port=$(free_port)
mkdir -p "$work/tls" "$work/nginx"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls/ca.key" -out "$work/tls/ca.pem" -days 2 \
  -subj "/CN=inference-api test CA" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout "$work/tls/server.key" -out "$work/tls/server.csr" -subj "/CN=localhost" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/tls/server.ext"
openssl x509 -req -in "$work/tls/server.csr" -CA "$work/tls/ca.pem" -CAkey "$work/tls/ca.key" -CAcreateserial \
  -out "$work/tls/server.pem" -days 2 -extfile "$work/tls/server.ext" >/dev/null 2>&1
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$tls_port ssl;
    ssl_certificate $work/tls/server.pem;
    ssl_certificate_key $work/tls/server.key;
    location / {
      proxy_pass http://127.0.0.1:$port;
      proxy_http_version 1.1;
      proxy_read_timeout 120s;
    }
  }
}
CONF
nginx=$(command -v nginx || echo /usr/sbin/nginx)
setsid "$nginx" -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf --cacert "$work/tls/ca.pem" "https://localhost:$tls_port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf --cacert "$work/tls/ca.pem" "https://localhost:$tls_port/health" >/dev/null \
  || { echo "with-mlflow: nginx with TLS did not start" >&2; cat "$work/nginx/error.log" >&2; exit 1; }
echo "with-mlflow: MLflow 3.17.2 at http://127.0.0.1:$port with the runs logged, auth server at http://127.0.0.1:$auth_port ($(( $(date +%s) - started )) s)" >&2

if [ -n "$pg_job" ]; then
  wait "$pg_job" || { cat "$work/log-pg.txt" >&2; exit 1; }
  export TEST_MLFLOW_PG_URL="$pg_url" TEST_MLFLOW_PG_ARTIFACTS="$work/pg/mlruns" TEST_MLFLOW_PG_VECTORS="$work/pg/vectors"
  export TEST_MLFLOW_PG_OWN_ARTIFACTS="$work/pg/own-location-moved" TEST_MLFLOW_PG_OWN_VECTORS="$work/pg/own-vectors"
  echo "with-mlflow: runs logged into PostgreSQL at $pg_url ($(( $(date +%s) - started )) s)" >&2
fi

export TEST_MLFLOW_URL="http://127.0.0.1:$port" TEST_MLFLOW_VECTORS="$work/vectors"
export TEST_MLFLOW_DB="$work/mlflow.db" TEST_MLFLOW_ARTIFACTS="$work/mlartifacts"
export TEST_MLFLOW_AUTH_URL="http://127.0.0.1:$auth_port" TEST_MLFLOW_AUTH_USERNAME=admin TEST_MLFLOW_AUTH_PASSWORD="$auth_password"
export TEST_MLFLOW_HTTPS_URL="https://localhost:$tls_port" TEST_MLFLOW_CA="$work/tls/ca.pem"
set +e
"$@"
status=$?
set -e
exit $status
