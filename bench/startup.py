"""Start-up time to the first 200 on a readiness URL, and idle RSS, for `make bench`.

    python3 bench/startup.py --url http://127.0.0.1:PORT/ready --runs 5 --label swift -- CMD ARGS...

Each run: exec CMD (environment inherited), poll the URL every millisecond until it answers 200,
note the time from exec, wait --idle seconds, read VmRSS of the process tree, stop it (SIGTERM to
its process group, SIGKILL after 5 s). Prints one JSON line with every run and the medians.
"""
import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proc_rss import field, tree  # noqa: E402


def ready(host, port, path):
    try:
        c = http.client.HTTPConnection(host, port, timeout=1)
        c.request("GET", path)
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--idle", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--label", default="")
    p.add_argument("--log", default=os.devnull)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    u = urllib.parse.urlparse(a.url)
    times, rss = [], []
    for _ in range(a.runs):
        log = open(a.log, "ab")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        try:
            while not ready(u.hostname, u.port, u.path):
                if proc.poll() is not None:
                    sys.exit(f"startup: {cmd[0]} exited with {proc.returncode} before {a.url} answered 200 (log: {a.log})")
                if time.perf_counter() - t0 > a.timeout:
                    sys.exit(f"startup: {a.url} not ready after {a.timeout} s")
                time.sleep(0.001)
            times.append((time.perf_counter() - t0) * 1000)
            time.sleep(a.idle)
            rss.append(sum(field(pid, "VmRSS") for pid in tree(proc.pid)))
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
            log.close()
    print(json.dumps({
        "label": a.label, "startup_ms": [round(t, 1) for t in times], "startup_ms_median": round(statistics.median(times), 1),
        "idle_rss_kb": rss, "idle_rss_kb_median": statistics.median(rss),
    }))


if __name__ == "__main__":
    main()
