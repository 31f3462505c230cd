"""Deterministic request bodies for `make bench` (standard library only; any Python 3).

    python3 bench/make_bodies.py OUT_DIR

writes
  predict-<n>-<k>.json (n = 1, 100, 1000; k = 0..4)  /predict bodies as a dashboard sends them:
      readings from the champion fixture vector (fixtures/vectors/mlflow3_xgb3_ubj_standard__champion.json,
      keys in its shuffled order), one in five of them a reading Python scored hazardous (so about a
      fifth of the readings are hazardous), every value jittered by a seeded +-2 % and rounded to 4
      decimals, with module_id and timestamp (about 700 bytes a reading). A module keeps its kind in
      every body (a fifth of the modules stay hazardous: open episodes that go on under load);
  plain-<n>-<k>.json  the same readings without module_id (no hazard-episode bookkeeping);
  predict-<n>.json  a copy of predict-<n>-0.json (the in-process limits and parity read it);
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


def predict_body(vector, n, seed, offset, modules=True):
    rng = random.Random(seed)
    pairs = list(zip(vector["readings"], vector["probabilities"]))
    hot = [r for r, p in pairs if p >= 0.5]
    cold = [r for r, p in pairs if p < 0.5]
    out = []
    for i in range(n):
        # The reading's place: the same module and kind (hazardous or not) in every body of a
        # size, so a hazardous module stays hazardous (an open episode) and a normal one normal.
        # Bodies of one reading take places 0..4 in turn.
        j = (offset + i) % max(n, 5)
        source = hot[(offset + i) // 5 % len(hot)] if j % 5 == 0 else cold[(offset + i) % len(cold)]
        reading = {}
        for key, value in source.items():
            reading[key] = round(value * (1 + rng.uniform(-0.02, 0.02)), 4)
        if modules:
            reading["module_id"] = f"rack-{j // 16 % 64}/module-{j % 16}"
        reading["timestamp"] = f"2026-11-22T{10 + j // 3600 % 12:02d}:{j // 60 % 60:02d}:{j % 60:02d}Z"
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
        for k in range(5):
            write(os.path.join(out, f"predict-{n}-{k}.json"), predict_body(vector, n, seed=n * 10 + k, offset=k * n))
            write(os.path.join(out, f"plain-{n}-{k}.json"), predict_body(vector, n, seed=n * 10 + k, offset=k * n, modules=False))
        write(os.path.join(out, f"predict-{n}.json"), predict_body(vector, n, seed=n * 10, offset=0))
    write(os.path.join(out, "parity.json"), {"readings": readings})
    ems = json.load(open(EMS))
    for k in range(4):
        write(os.path.join(out, f"detect-1000-{k}.json"), detect_body(ems, f"bench-asset-{k}", 1000, offset=k * 1000))


if __name__ == "__main__":
    main()
