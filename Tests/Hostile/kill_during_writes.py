"""kill -9 during write load, for HostileClientTests (make test).

Starts the real server (BINARY serve) on the store given, lets CLIENTS threads post
/anomaly/detect batches with persist and an Idempotency-Key, kills the process with SIGKILL at a
random moment, restarts it on the same store, and counts the stored samples per batch in the
database itself. Repeated KILLS times. After each restart the batches whose answer was lost are
retried with their key. Prints one JSON object; the Swift test checks it:
  - every batch is stored whole or not at all (50 samples or 0), never half;
  - every batch that got a 2xx is stored (no acknowledged row lost);
  - after the retries, stored batches equal acknowledged batches exactly (none twice).

usage: kill_during_writes.py BINARY MLRUNS (--sqlite PATH | --postgres URL) [--kills 5] [--clients 4] [--seed N]
Standard library only, plus `psql` for PostgreSQL.
"""
import argparse
import datetime
import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request

import serve

BATCH = 50


def start_server(args, env_store, log_path):
    return serve.start(args.binary, args.mlruns, log_path, env_store)


def batch_body(batch_id):
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(minutes=BATCH * batch_id)
    samples = [
        {"timestamp": (base + datetime.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "metrics": {"cpu_pct": 40 + (i * 7 + batch_id) % 30, "latency_ms": 20 + i % 5}}
        for i in range(BATCH)
    ]
    return json.dumps({"asset_id": f"batch-{batch_id}", "samples": samples, "persist": True}).encode()


def post(port, batch_id, timeout=10):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/anomaly/detect", data=batch_body(batch_id),
        headers={"Content-Type": "application/json", "Idempotency-Key": f"batch-{batch_id}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


def stored_counts(args):
    query = "SELECT asset_id, count(*) FROM metric_samples WHERE asset_id LIKE 'batch-%' GROUP BY asset_id"
    if args.sqlite:
        with sqlite3.connect(args.sqlite) as db:
            rows = db.execute(query).fetchall()
    else:
        out = subprocess.run(["psql", args.postgres, "-At", "-F", ",", "-c", query], capture_output=True, text=True, check=True).stdout
        rows = [(line.split(",")[0], int(line.split(",")[1])) for line in out.splitlines() if line]
    return {int(asset.split("-")[1]): count for asset, count in rows}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("mlruns")
    parser.add_argument("--sqlite")
    parser.add_argument("--postgres")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--log", default="/tmp/kill_during_writes.log")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.postgres:
        # A database of its own on the server given, so the counts are this run's only.
        name = f"kill_{args.seed}_{os.getpid()}"
        subprocess.run(["psql", args.postgres, "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        args.postgres = args.postgres.rsplit("/", 1)[0] + "/" + name
    env_store = {"SQLITE_PATH": args.sqlite} if args.sqlite else {"DATABASE_URL": args.postgres}

    acknowledged, attempted = set(), set()
    lock = threading.Lock()
    next_batch = [0]
    rounds = []
    for kill in range(args.kills):
        process, port = start_server(args, env_store, args.log)
        stop = threading.Event()
        in_flight_at_kill = set()

        def client():
            while not stop.is_set():
                with lock:
                    batch_id = next_batch[0]
                    next_batch[0] += 1
                    attempted.add(batch_id)
                    in_flight_at_kill.add(batch_id)
                status = post(port, batch_id)
                with lock:
                    if status is not None and 200 <= status < 300:
                        acknowledged.add(batch_id)
                        in_flight_at_kill.discard(batch_id)
                    elif status is not None:
                        in_flight_at_kill.discard(batch_id)  # refused: the server answered, nothing should be stored
                if status is None:
                    return

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.0))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        stop.set()
        for t in threads:
            t.join()

        acknowledged_at_kill = len(acknowledged)
        process, port = start_server(args, env_store, args.log)
        counts = stored_counts(args)
        half = sorted(b for b, c in counts.items() if c != BATCH)
        lost = sorted(b for b in acknowledged if counts.get(b, 0) != BATCH)
        unacknowledged_stored = sorted(b for b in counts if b not in acknowledged)
        # The answers the kill swallowed: retried with their key, they are answered now, and a
        # batch that was committed is not written again.
        retried = sorted(in_flight_at_kill)
        retry_status = {b: post(port, b) for b in retried}
        for b, status in retry_status.items():
            if status is not None and 200 <= status < 300:
                acknowledged.add(b)
        after = stored_counts(args)
        rounds.append({
            "kill": kill + 1, "acknowledged_at_kill": acknowledged_at_kill, "attempted": len(attempted),
            "in_flight_at_kill": len(retried), "stored_batches_after_restart": len(counts),
            "committed_but_unacknowledged": len(unacknowledged_stored), "half_stored": half, "acknowledged_lost": lost,
            "retry_statuses": sorted(set(retry_status.values()), key=str),
            "stored_batches_after_retries": len(after), "stored_samples_after_retries": sum(after.values()),
            "acknowledged_batches_after_retries": len(acknowledged), "acknowledged_samples_after_retries": BATCH * len(acknowledged),
            "twice": sorted(b for b, c in after.items() if c > BATCH),
        })
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    print(json.dumps({"seed": args.seed, "rounds": rounds}))


if __name__ == "__main__":
    main()
