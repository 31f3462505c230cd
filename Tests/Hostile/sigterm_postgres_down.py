"""SIGTERM with PostgreSQL down, for ShutdownUnderStallTests (make test; issue 25 item 2).

Run under its own throwaway cluster (scripts/with-postgres.sh sets TEST_DATABASE_URL and
TEST_PG_CTL). Starts the real server on that database with SHUTDOWN_GRACE_SECONDS=GRACE, stores a
detect batch and a hazardous /predict (an episode recorded), stops PostgreSQL
(`pg_ctl stop -m fast`), posts another hazardous /predict (its bookkeeping now waits and retries)
and a detect that is answered 503, then sends SIGTERM and times the exit. Prints one JSON object:
the statuses, the seconds from SIGTERM to exit, and the exit code.

usage: sigterm_postgres_down.py BINARY MLRUNS [--grace 2] [--log PATH]
"""
import argparse
import json
import os
import signal
import subprocess
import time

import serve
from postgres_outage import body, hazard_readings, predict_body, request


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("mlruns")
    parser.add_argument("--grace", type=int, default=2)
    parser.add_argument("--log", default="/dev/null")
    args = parser.parse_args()
    env = {"DATABASE_URL": os.environ["TEST_DATABASE_URL"], "STORE_TIMEOUT_SECONDS": "5", "SHUTDOWN_GRACE_SECONDS": str(args.grace)}
    process, port = serve.start(args.binary, args.mlruns, args.log, env)
    report = {}
    pg_ctl = os.environ["TEST_PG_CTL"]
    try:
        hot, _ = hazard_readings(port)
        report["detect_before"] = request(port, "/anomaly/detect", body(1))[0]
        report["predict_before"] = [request(port, "/predict", predict_body("sigterm-1", hot[0]))[0] for _ in range(3)]
        subprocess.run([pg_ctl, "stop", "-m", "fast"], check=True, capture_output=True)
        report["predict_while_down"] = request(port, "/predict", predict_body("sigterm-2", hot[0]))[0]
        report["detect_while_down"] = request(port, "/anomaly/detect", body(2))[0]
        time.sleep(1.5)  # the bookkeeping's batch is due and fails: retried while the store is down
        sent = time.time()
        process.send_signal(signal.SIGTERM)
        try:
            report["exit_code"] = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            report["exit_code"] = process.wait()
        report["seconds_to_exit"] = round(time.time() - sent, 3)
    finally:
        if process.poll() is None:
            process.kill()
        subprocess.run([pg_ctl, "start"], capture_output=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
