"""kill -9 with hazard-episode bookkeeping queued, for HostileClientTests (make test).

What the README says a kill -9 can lose: the readings queued for episode bookkeeping (and those
grouped but not yet recorded), never an answer already given nor an episode already recorded.
Starts the real server on a SQLite file, then:
  1. posts three hazardous readings of module kill-recorded, one request each, and waits until
     its episode is listed (recorded);
  2. posts three hazardous readings of module kill-queued in one request and, once its answer is
     read, kills the process with SIGKILL at once (the readings are at most queued or grouped);
  3. restarts on the same file and reads: PRAGMA integrity_check, the episodes listed for both
     modules (kill-queued may have been recorded before the kill or lost with the queue: either
     is allowed, and said);
  4. posts three hazardous readings of kill-queued again and times until its episode is listed:
     the bookkeeping goes on after a restart.
Prints one JSON object.

usage: kill_hazard_episodes.py BINARY MLRUNS --sqlite PATH [--log PATH]
"""
import argparse
import json
import os
import signal
import sqlite3
import time

import serve
from postgres_outage import hazard_readings, request


def episodes(port, module):
    status, _, text, _ = request(port, f"/anomaly/episodes?asset_id={module}")
    return json.loads(text).get("episodes", []) if status == 200 else None


def wait_listed(port, module, timeout=10):
    started = time.time()
    while time.time() - started < timeout:
        listed = episodes(port, module)
        if listed:
            return round(time.time() - started, 3), listed
        time.sleep(0.05)
    return None, episodes(port, module)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("mlruns")
    parser.add_argument("--sqlite", required=True)
    parser.add_argument("--log", default="/dev/null")
    args = parser.parse_args()
    env = {"SQLITE_PATH": args.sqlite}

    process, port = serve.start(args.binary, args.mlruns, args.log, env)
    report = {}
    try:
        hot, _ = hazard_readings(port)
        body = lambda module, readings: json.dumps({"readings": [dict(r, module_id=module) for r in readings]}).encode()
        report["recorded_statuses"] = [request(port, "/predict", body("kill-recorded", [hot[i % len(hot)]]))[0] for i in range(3)]
        seconds, listed = wait_listed(port, "kill-recorded")
        report["recorded_listed_after_s"] = seconds
        report["recorded_before_kill"] = [e.get("state") for e in listed or []]

        status, _, text, _ = request(port, "/predict", body("kill-queued", [hot[i % len(hot)] for i in range(3)]))
        process.send_signal(signal.SIGKILL)
        process.wait()
        answer = json.loads(text) if status == 200 else {}
        report["queued_status"] = status
        report["queued_answer_labels"] = [p.get("label") for p in answer.get("predictions", [])]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    connection = sqlite3.connect(args.sqlite)
    report["integrity"] = connection.execute("PRAGMA integrity_check").fetchone()[0]
    connection.close()

    process, port = serve.start(args.binary, args.mlruns, args.log, env)
    try:
        report["ready_after_restart"] = request(port, "/ready")[0]
        report["recorded_after_restart"] = [e.get("state") for e in episodes(port, "kill-recorded") or []]
        queued = episodes(port, "kill-queued") or []
        report["queued_recorded_before_kill"] = [e.get("state") for e in queued]
        report["again_statuses"] = [request(port, "/predict", body("kill-queued", [hot[i % len(hot)]]))[0] for i in range(3)]
        seconds, listed = wait_listed(port, "kill-queued")
        report["again_listed_after_s"] = seconds
        report["again_states"] = [e.get("state") for e in listed or []]
    finally:
        serve.stop(process)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
