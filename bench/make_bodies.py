"""Deterministic request bodies for `make bench` (standard library only; any Python 3).

    python3 bench/make_bodies.py OUT_DIR

writes
  predict-1.json, predict-100.json, predict-1000.json  /predict bodies: readings cycled from the
      champion fixture vector (fixtures/vectors/mlflow3_xgb3_ubj_standard__champion.json, keys in
      its shuffled order), every value jittered by a seeded +-2 % and rounded to 4 decimals, with
      module_id and timestamp, as a dashboard sends them (about 700 bytes a reading);
  parity.json  the fixture's 200 readings unchanged (Python's probabilities are in the fixture);
  detect-1000-<k>.json (k = 0..3)  /anomaly/detect bodies of 1000 samples with persist: true,
      asset bench-asset-<k>, metrics from fixtures/anomaly/ems_series.json.
Same bytes on every run.
"""
import json
import os
import random
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
VECTOR = os.path.join(ROOT, "fixtures", "vectors", "mlflow3_xgb3_ubj_standard__champion.json")
EMS = os.path.join(ROOT, "fixtures", "anomaly", "ems_series.json")


def predict_body(readings, n, seed):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        source = readings[i % len(readings)]
        reading = {}
        for key, value in source.items():
            reading[key] = round(value * (1 + rng.uniform(-0.02, 0.02)), 4)
        reading["module_id"] = f"rack-{i // 16 % 64}/module-{i % 16}"
        reading["timestamp"] = f"2026-11-22T{10 + i // 3600 % 12:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        out.append(reading)
    return {"readings": out}


def detect_body(ems, asset, n, offset):
    names = ems["feature_names"]
    rows = ems["rows"]
    samples = []
    for i in range(n):
        row = rows[(offset + i) % len(rows)]
        minute = offset + i
        samples.append({
            "timestamp": f"2026-11-{1 + minute // 1440 % 28:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z",
            "metrics": {name: round(v, 4) for name, v in zip(names, row)},
        })
    return {"asset_id": asset, "samples": samples, "persist": True}


def write(path, body):
    with open(path, "w") as f:
        json.dump(body, f, separators=(",", ":"))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    vector = json.load(open(VECTOR))
    readings = vector["readings"]
    for n in (1, 100, 1000):
        write(os.path.join(out, f"predict-{n}.json"), predict_body(readings, n, seed=n))
    write(os.path.join(out, "parity.json"), {"readings": readings})
    ems = json.load(open(EMS))
    for k in range(4):
        write(os.path.join(out, f"detect-1000-{k}.json"), detect_body(ems, f"bench-asset-{k}", 1000, offset=k * 1000))


if __name__ == "__main__":
    main()
