"""PostgreSQL stopped and started again under write load, for HostileClientTests (make test).

Run under its own throwaway cluster (scripts/with-postgres.sh sets TEST_DATABASE_URL and
TEST_PG_CTL). Starts the real server on that database, lets CLIENTS threads post
/anomaly/detect batches with persist and one thread post one-reading /predict requests with
module_id (hazardous and normal readings: hazard episodes on, their default), stops PostgreSQL
(`pg_ctl stop -m fast`) for OUTAGE seconds, starts it again, and keeps posting. During the outage
three hazardous readings of one module are posted one by one; once PostgreSQL is back, their
episode must be recorded. Prints one JSON object: every answer's status during the outage, the
slowest answer, whether 503s carried Retry-After, the /predict answers' statuses and slowest,
what /ready said, how long after PostgreSQL was back the first write succeeded and the episode
of the outage's readings was recorded.

usage: postgres_outage.py BINARY MLRUNS [--outage 3] [--clients 4] [--log PATH]
"""
import argparse
import datetime
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import serve


def start_server(binary, mlruns, log_path):
    return serve.start(binary, mlruns, log_path, {"DATABASE_URL": os.environ["TEST_DATABASE_URL"], "STORE_TIMEOUT_SECONDS": "5"})


def request(port, path, body=None, timeout=30):
    headers = {"Content-Type": "application/json"} if body else {}
    started = time.time()
    try:
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers), timeout=timeout) as a:
            return a.status, dict(a.headers), a.read(), time.time() - started
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read(), time.time() - started
    except Exception as e:
        return None, {}, repr(e).encode(), time.time() - started


def hazard_readings(port):
    """(hazardous, normal) readings of the served run, from the committed vectors and Python's probabilities."""
    active = json.loads(request(port, "/models/active")[2])
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "vectors")
    for name in sorted(os.listdir(root)):
        if not name.endswith(".json"):
            continue
        vector = json.load(open(os.path.join(root, name)))
        if vector.get("mlruns") == "mlruns" and vector.get("run_id") == active["run_id"]:
            pairs = list(zip(vector["readings"], vector["probabilities"]))
            return [r for r, p in pairs if p >= 0.5], [r for r, p in pairs if p < 0.2]
    raise SystemExit(f"no vector of the served run {active['run_id']}")


def predict_body(module, reading):
    return json.dumps({"readings": [dict(reading, module_id=module)]}).encode()


def body(n):
    base = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(minutes=20 * n)
    samples = [{"timestamp": (base + datetime.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"), "metrics": {"cpu_pct": 40 + i}} for i in range(20)]
    return json.dumps({"asset_id": "outage-1", "samples": samples, "persist": True}).encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("mlruns")
    parser.add_argument("--outage", type=float, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--log", default="/tmp/postgres_outage.log")
    args = parser.parse_args()
    process, port = start_server(args.binary, args.mlruns, args.log)
    answers, lock, stop, counter = [], threading.Lock(), threading.Event(), [0]

    def client():
        while not stop.is_set():
            with lock:
                counter[0] += 1
                n = counter[0]
            sent = time.time()
            status, headers, text, seconds = request(port, "/anomaly/detect", body(n))
            code = None
            try:
                code = json.loads(text)["error"]["code"]
            except Exception:
                pass
            with lock:
                answers.append({"sent": sent, "status": status, "seconds": seconds, "retry_after": headers.get("Retry-After"), "code": code})
            if status != 200:
                time.sleep(0.05)

    hot, cold = hazard_readings(port)
    predictions = []

    def predictor():
        k = 0
        while not stop.is_set():
            k += 1
            reading = hot[k % len(hot)] if k % 3 == 0 else cold[k % len(cold)]
            sent = time.time()
            status, _, _, seconds = request(port, "/predict", predict_body(f"outage-load-{k % 8}", reading))
            with lock:
                predictions.append({"sent": sent, "status": status, "seconds": seconds})
            time.sleep(0.01)

    threads = [threading.Thread(target=client) for _ in range(args.clients)] + [threading.Thread(target=predictor)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    pg_ctl = os.environ["TEST_PG_CTL"]
    stopping = time.time()
    subprocess.run([pg_ctl, "stop", "-m", "fast"], check=True, capture_output=True)
    stopped = time.time()
    time.sleep(0.5)
    ready_down = request(port, "/ready")
    during_episode = [request(port, "/predict", predict_body("outage-during", hot[i % len(hot)]))[0::3] for i in range(3)]
    time.sleep(max(0, args.outage - 0.5))
    subprocess.run([pg_ctl, "start"], check=True, capture_output=True)
    back = time.time()
    episode_after = None
    for _ in range(200):
        status, _, text, _ = request(port, "/anomaly/episodes?asset_id=outage-during")
        if status == 200 and json.loads(text).get("episodes"):
            episode_after = round(time.time() - back, 3)
            break
        time.sleep(0.05)
    time.sleep(max(0, back + 6 - time.time()))
    ready_up = request(port, "/ready")
    stop.set()
    for t in threads:
        t.join()
    process.terminate()
    process.wait(timeout=30)

    during = [a for a in answers if stopping <= a["sent"] < back]
    after = sorted((a for a in answers if a["sent"] >= back and a["status"] == 200), key=lambda a: a["sent"] + a["seconds"])
    first_ok = after[0]["sent"] + after[0]["seconds"] - back if after else None
    print(json.dumps({
        "answers": len(answers), "during_outage": len(during),
        "statuses_during_outage": sorted({str(a["status"]) for a in during}),
        "codes_during_outage": sorted({str(a["code"]) for a in during}),
        "slowest_during_outage_s": round(max((a["seconds"] for a in during), default=0), 3),
        "unavailable_without_retry_after": sum(1 for a in during if a["status"] == 503 and not a["retry_after"]),
        "retry_after_values": sorted({a["retry_after"] for a in during if a["retry_after"]}),
        "server_errors_500": sum(1 for a in answers if a["status"] == 500),
        "no_answer": sum(1 for a in answers if a["status"] is None),
        "predict_during_outage": len([a for a in predictions if stopping <= a["sent"] < back]),
        "predict_statuses_during_outage": sorted({str(a["status"]) for a in predictions if stopping <= a["sent"] < back}),
        "predict_statuses": sorted({str(a["status"]) for a in predictions}),
        "predict_slowest_during_outage_s": round(max((a["seconds"] for a in predictions if stopping <= a["sent"] < back), default=0), 3),
        "predict_hazardous_during_outage": [[status, round(seconds, 3)] for status, seconds in during_episode],
        "episode_recorded_after_back_s": episode_after,
        "ready_while_down": [ready_down[0], ready_down[2].decode("utf-8", "replace")[:1000], round(ready_down[3], 3)],
        "ready_after": [ready_up[0], ready_up[2].decode("utf-8", "replace")[:300]],
        "stop_took_s": round(stopped - stopping, 3),
        "first_write_after_back_s": None if first_ok is None else round(first_ok, 3),
        "answers_after_back": len([a for a in answers if a["sent"] >= back]),
        "ok_after_back": len(after),
    }))


if __name__ == "__main__":
    main()
