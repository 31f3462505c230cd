"""A full disk under SQLite, for HostileClientTests (make test).

Mounts a small tmpfs (root only), starts the real server with its SQLite file there, stores a few
detect batches, fills the filesystem with a filler file, keeps posting (every write must be
refused with a clear 503, nothing half-stored), checks `PRAGMA integrity_check`, frees the space,
and posts again (writes must resume). Prints one JSON object.

usage: full_disk.py BINARY MLRUNS DIRECTORY [--size-mb 4]
"""
import argparse
import datetime
import json
import os
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

import serve

BATCH = 50


def post(port, n):
    base = datetime.datetime(2026, 5, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(minutes=BATCH * n)
    samples = [{"timestamp": (base + datetime.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "metrics": {"cpu_pct": 40 + i % 9, "latency_ms": 20.5 + i}} for i in range(BATCH)]
    body = json.dumps({"asset_id": f"disk-{n}", "samples": samples, "persist": True}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/anomaly/detect", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as a:
            return a.status, None, None
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            error = json.loads(text)["error"]
        except Exception:
            error = {"code": None, "message": text[:200].decode("utf-8", "replace")}
        return e.code, error, e.headers.get("Retry-After")


def stored(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT asset_id, count(*) FROM metric_samples GROUP BY asset_id").fetchall()
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    return {asset: count for asset, count in rows}, integrity


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("mlruns")
    parser.add_argument("directory")
    parser.add_argument("--size-mb", type=int, default=4)
    args = parser.parse_args()
    mount = os.path.join(args.directory, "small")
    os.makedirs(mount, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.size_mb}m", "tmpfs", mount], check=True, capture_output=True)
    process = None
    try:
        database = os.path.join(mount, "store.sqlite")
        log_path = os.path.join(args.directory, "server.log")
        process, port = serve.start(args.binary, args.mlruns, log_path, {"SQLITE_PATH": database})

        acknowledged, n = set(), 0
        for _ in range(5):
            status, _, _ = post(port, n)
            if status == 200:
                acknowledged.add(n)
            n += 1
        # Fill what is left.
        filler = os.path.join(mount, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        refused = []
        for _ in range(20):
            status, error, retry_after = post(port, n)
            if status == 200:
                acknowledged.add(n)
            else:
                refused.append({"status": status, "code": error and error.get("code"), "message": error and error.get("message"), "retry_after": retry_after})
            n += 1
        health_while_full = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).status
        counts_full, integrity_full = stored(database)
        os.remove(filler)
        resumed = []
        for _ in range(5):
            status, _, _ = post(port, n)
            resumed.append(status)
            if status == 200:
                acknowledged.add(n)
            n += 1
        counts, integrity = stored(database)
        print(json.dumps({
            "refused_while_full": len(refused), "accepted_while_full": 20 - len(refused),
            "refusals": sorted({json.dumps(r, sort_keys=True) for r in refused}),
            "integrity_while_full": integrity_full, "integrity_after": integrity,
            "half_stored": sorted(a for a, c in counts.items() if c != BATCH),
            "acknowledged_batches": len(acknowledged), "stored_batches": len(counts),
            "acknowledged_not_stored": sorted(f"disk-{b}" for b in acknowledged if counts.get(f"disk-{b}") != BATCH),
            "stored_not_acknowledged": sorted(a for a in counts if int(a.split("-")[1]) not in acknowledged),
            "resumed_statuses": resumed, "health_while_full": health_while_full,
        }))
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        subprocess.run(["umount", "-l", mount], capture_output=True)


if __name__ == "__main__":
    main()
