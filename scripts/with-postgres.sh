#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: a fresh data directory under a temporary
# folder, listening on a free loopback port only, never the system service. The cluster is
# stopped and removed whatever the command's outcome; the command's exit code is kept.
#
# The command sees TEST_DATABASE_URL=postgres://inference@127.0.0.1:<port>/inference_test
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "with-postgres: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/inference-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

# initdb refuses to run as root: run the cluster as the unprivileged `postgres` user the package creates.
run_as() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$tmp"
  run_as() { su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; }
fi

cleanup() {
  run_as "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

run_as "$bindir/initdb" -D "$tmp/data" -U inference -A trust --no-sync -E UTF8 >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log" >&2; exit 1; }
run_as "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $tmp -c fsync=off -c max_connections=200" start >/dev/null \
  || { cat "$tmp/server.log" >&2; exit 1; }
"$bindir/createdb" -h 127.0.0.1 -p "$port" -U inference inference_test

export TEST_DATABASE_URL="postgres://inference@127.0.0.1:$port/inference_test"
# `$TEST_PG_CTL stop|start|restart [pg_ctl options]` controls this cluster (as its user), for tests
# of what the service does while PostgreSQL is down.
pg_ctl_options="-c listen_addresses=127.0.0.1 -p $port -k $tmp -c fsync=off -c max_connections=200"
{
  echo '#!/usr/bin/env bash'
  if [ "$(id -u)" -eq 0 ]; then
    echo "exec su postgres -s /bin/sh -c '\"\$0\" \"\$@\"' -- $(printf '%q' "$bindir/pg_ctl") \"\$@\" -D $(printf '%q' "$tmp/data") -l $(printf '%q' "$tmp/server.log") -w -t 30 -o $(printf '%q' "$pg_ctl_options")"
  else
    echo "exec $(printf '%q' "$bindir/pg_ctl") \"\$@\" -D $(printf '%q' "$tmp/data") -l $(printf '%q' "$tmp/server.log") -w -t 30 -o $(printf '%q' "$pg_ctl_options")"
  fi
} >"$tmp/pg_ctl"
chmod 755 "$tmp/pg_ctl"
export TEST_PG_CTL="$tmp/pg_ctl"
echo "with-postgres: throwaway PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') at $TEST_DATABASE_URL" >&2
set +e
"$@"
status=$?
set -e
exit $status
