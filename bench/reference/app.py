"""The Python reference design that the Swift service replaces, rebuilt for `make bench`.

Flask + pydantic validation of `readings` + a pandas DataFrame reordered by the scaler's
`feature_names_in_`, `fillna(0)`, `scaler.transform`, xgboost `predict` and `predict_proba`.
Served by gunicorn with 2 sync workers and OMP_NUM_THREADS=1 (scripts/bench.sh starts it):

    OMP_NUM_THREADS=1 MLRUNS_DIR=./mlruns bench/reference/.venv/bin/gunicorn \
        --chdir bench/reference -w 2 -k sync -b 127.0.0.1:8090 app:app

The model is the same MLflow run the Swift server serves by default: the registered model's alias
(`MODEL_NAME`@`MODEL_ALIAS`, default battery-hazard@champion) is resolved by reading the file
store under MLRUNS_DIR directly (aliases/<alias> -> version-N/meta.yaml -> model_id, run_id), then
the booster (`model.ubj`/`model.json`/`model.xgb` of the logged model) is loaded with xgboost and
the run's `scaler.joblib` with joblib. No mlflow import: the service this replaces loaded the same
artifacts with joblib + xgboost, and mlflow's import time and memory would only flatter Swift.
`BEST_MLFLOW_RUN_ID` is not supported here; the bench serves the alias on both sides.

Answers have the Swift server's shape: {"model": {...}, "predictions": [{"index", "module_id"?,
"timestamp"?, "prediction", "label", "hazard_probability"}], "summary": {...}}; the bench compares
hazard_probability per reading before timing anything.
"""
from __future__ import annotations

import glob
import os
from datetime import datetime, timezone
from typing import Optional

import joblib
import pandas as pd
import xgboost as xgb
from flask import Flask, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

MLRUNS = os.environ.get("MLRUNS_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "mlruns"))
MODEL_NAME = os.environ.get("MODEL_NAME", "battery-hazard")
MODEL_ALIAS = os.environ.get("MODEL_ALIAS", "champion")
THRESHOLD = float(os.environ.get("HAZARD_THRESHOLD", "0.5"))
MAX_READINGS = int(os.environ.get("MAX_READINGS_PER_REQUEST", "10000"))


def _meta(path: str) -> dict[str, str]:
    """The flat `key: value` lines of an MLflow meta.yaml (all this needs; no PyYAML)."""
    out = {}
    with open(path) as f:
        for line in f:
            if ":" in line and not line.startswith(" "):
                key, _, value = line.partition(":")
                out[key.strip()] = value.strip().strip("'\"")
    return out


def _resolve() -> tuple[str, str, str]:
    """(run_id, booster file, scaler file) of MODEL_NAME@MODEL_ALIAS in the file store."""
    registry = os.path.join(MLRUNS, "models", MODEL_NAME)
    with open(os.path.join(registry, "aliases", MODEL_ALIAS)) as f:
        version = f.read().strip()
    meta = _meta(os.path.join(registry, f"version-{version}", "meta.yaml"))
    run_id, model_id = meta["run_id"], meta.get("model_id", "")
    boosters = []
    if model_id:  # MLflow 3: a logged model of its own
        boosters = glob.glob(os.path.join(MLRUNS, "*", "models", model_id, "artifacts", "model.*"))
    if not boosters:  # MLflow 2: under the run's artifacts
        boosters = glob.glob(os.path.join(MLRUNS, "*", run_id, "artifacts", "*", "model.*"))
    boosters = [b for b in boosters if b.endswith((".ubj", ".json", ".xgb", ".bin"))]
    scalers = glob.glob(os.path.join(MLRUNS, "*", run_id, "artifacts", "scaler.joblib"))
    if not boosters or not scalers:
        raise RuntimeError(f"run {run_id}: booster {boosters} / scaler {scalers} not found under {MLRUNS}")
    return run_id, boosters[0], scalers[0]


RUN_ID, BOOSTER_FILE, SCALER_FILE = _resolve()
scaler = joblib.load(SCALER_FILE)
model = xgb.XGBClassifier()
model.load_model(BOOSTER_FILE)
FEATURES = list(scaler.feature_names_in_)
LOADED_AT = datetime.now(timezone.utc).isoformat()

# pydantic: every feature a required float, module_id/timestamp optional, nothing else.
Reading = create_model(
    "Reading",
    __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
    module_id=(Optional[str], None),
    timestamp=(Optional[str], None),
    **{name: (float, ...) for name in FEATURES},
)


class PredictRequest(BaseModel):
    readings: list[Reading]  # type: ignore[valid-type]


MODEL_INFO = {
    "run_id": RUN_ID,
    "model_uri": f"models:/{MODEL_NAME}@{MODEL_ALIAS}",
    "model_format": os.path.splitext(BOOSTER_FILE)[1].lstrip("."),
    "loaded_at": LOADED_AT,
}

app = Flask(__name__)


@app.get("/health")
def health():
    return jsonify(status="ok")


@app.get("/ready")
def ready():
    return jsonify(status="ready", model_loaded=True, run_id=RUN_ID)


@app.post("/predict")
def predict():
    try:
        body = PredictRequest.model_validate(request.get_json(force=True))
    except ValidationError as error:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in error.errors()]
        return jsonify(error={"code": "validation_failed", "message": f"{len(details)} problems", "details": details}), 400
    if not body.readings:
        return jsonify(error={"code": "validation_failed", "message": "readings is empty"}), 400
    if len(body.readings) > MAX_READINGS:
        return jsonify(error={"code": "too_many_readings", "message": f"at most {MAX_READINGS}"}), 413

    frame = pd.DataFrame([r.model_dump(exclude={"module_id", "timestamp"}) for r in body.readings])
    frame = frame.reindex(columns=scaler.feature_names_in_).fillna(0)
    scaled = scaler.transform(frame)
    labels = model.predict(scaled)
    probabilities = model.predict_proba(scaled)[:, 1]

    predictions = []
    for index, (reading, label, probability) in enumerate(zip(body.readings, labels, probabilities)):
        item = {"index": index}
        if reading.module_id is not None:
            item["module_id"] = reading.module_id
        if reading.timestamp is not None:
            item["timestamp"] = reading.timestamp
        label = int(probability >= THRESHOLD) if THRESHOLD != 0.5 else int(label)
        item["prediction"] = label
        item["label"] = "Hazardous" if label else "Normal"
        item["hazard_probability"] = float(probability)
        predictions.append(item)
    hazardous = sum(p["prediction"] for p in predictions)
    return jsonify(
        model=MODEL_INFO,
        predictions=predictions,
        summary={
            "count": len(predictions),
            "hazardous": hazardous,
            "normal": len(predictions) - hazardous,
            "max_hazard_probability": float(probabilities.max()),
            "threshold": THRESHOLD,
        },
    )
