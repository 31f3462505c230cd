"""Bodies and model folder for the Open Inference rows of `make bench` (run with the reference's
virtualenv, which has joblib, scikit-learn and xgboost).

    bench/reference/.venv/bin/python bench/mlserver/prepare.py BODIES_DIR METADATA_JSON OUT_DIR HTTP GRPC METRICS

reads the bench's plain-<n>-0.json readings (n = 1, 100, 1000) and this service's model metadata
(GET /v2/models/battery-hazard: the input's feature order) and writes into OUT_DIR
  oip-<n>.json          this service, REST JSON: one FP32 tensor [n, 30] of raw readings
  oip-bin-<n>.bin/.hlen this service, REST binary tensor extension: the same tensor as raw bytes,
                        both outputs asked as binary (.hlen: the JSON header's length)
  mls-<n>.json          MLServer, REST JSON: the same readings *pre-scaled* with the run's scaler
                        (mlserver-xgboost serves a booster and has no scaler) from the same FP32 values, FP32, output
                        predict_proba
  expected.json         xgboost's probability of class 1 for each body, from the pre-scaled rows
  server/               MLServer's folder: settings.json (ports, 2 parallel workers) and
                        model-settings.json (mlserver_xgboost.XGBoostModel, the run's model.ubj)
"""
import json
import os
import struct
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import app  # noqa: E402  (resolves the champion's booster and scaler like the reference does)

bodies, metadata_file, out, http_port, grpc_port, metrics_port = sys.argv[1:7]
with open(metadata_file) as f:
    metadata = json.load(f)
ours = metadata["parameters"]["feature_names"]
tensor_name = metadata["inputs"][0]["name"]
os.makedirs(os.path.join(out, "server"), exist_ok=True)

expected = {}
for n in (1, 100, 1000):
    with open(os.path.join(bodies, f"plain-{n}-0.json")) as f:
        readings = json.load(f)["readings"]
    frame = pd.DataFrame(readings)
    raw = frame[ours].to_numpy(dtype=np.float32)
    # Scaled from the FP32 readings this service is sent (as float64, the scaler's own arithmetic),
    # so that both servers see the same numbers: from the float64 readings a value one float32 ulp
    # away can fall on the other side of a split.
    scaled = app.scaler.transform(frame[app.FEATURES].astype(np.float32).astype(np.float64)).astype(np.float32)
    expected[n] = app.model.predict_proba(scaled)[:, 1].tolist()

    def tensor(rows, **extra):
        return {"name": tensor_name, "shape": list(rows.shape), "datatype": "FP32", **extra}

    with open(os.path.join(out, f"oip-{n}.json"), "w") as f:
        json.dump({"inputs": [tensor(raw, data=raw.ravel().tolist())]}, f)
    header = json.dumps({
        "inputs": [tensor(raw, parameters={"binary_data_size": raw.nbytes})],
        "outputs": [{"name": name, "parameters": {"binary_data": True}} for name in ("hazard_probability", "label")],
    }).encode()
    with open(os.path.join(out, f"oip-bin-{n}.bin"), "wb") as f:
        f.write(header + raw.astype("<f4").tobytes())
    with open(os.path.join(out, f"oip-bin-{n}.bin.hlen"), "w") as f:
        f.write(str(len(header)))
    with open(os.path.join(out, f"mls-{n}.json"), "w") as f:
        json.dump({"inputs": [tensor(scaled, data=scaled.ravel().tolist())], "outputs": [{"name": "predict_proba"}]}, f)

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
with open(os.path.join(out, "server", "settings.json"), "w") as f:
    json.dump({"host": "127.0.0.1", "http_port": int(http_port), "grpc_port": int(grpc_port),
               "metrics_port": int(metrics_port), "parallel_workers": 2, "debug": False}, f)
with open(os.path.join(out, "server", "model-settings.json"), "w") as f:
    json.dump({"name": "battery-hazard", "implementation": "mlserver_xgboost.XGBoostModel",
               "parameters": {"uri": os.path.abspath(app.BOOSTER_FILE)}}, f)
print(json.dumps({"features": len(ours), "booster": app.BOOSTER_FILE}))
