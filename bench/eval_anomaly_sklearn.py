"""scikit-learn's IsolationForest on `inference-api eval-anomaly`'s data (make eval-anomaly).

Per asset: fit with the defaults (100 trees, max_samples "auto", contamination "auto") on the raw
training metrics, score the test series. Writes per asset the anomaly score (-score_samples,
higher = more anomalous) and the flag (`predict` == -1), for the Swift side to report with the
same definitions it applies to its own detectors.

    python bench/eval_anomaly_sklearn.py DATA.json SCORES.json
"""
import json
import sys

import numpy as np
from sklearn.ensemble import IsolationForest

data = json.load(open(sys.argv[1]))
answer = []
for asset in data["assets"]:
    forest = IsolationForest(random_state=0).fit(np.array(asset["train"]))
    test = np.array(asset["test"])
    answer.append({"scores": (-forest.score_samples(test)).tolist(), "flags": (forest.predict(test) == -1).tolist()})
json.dump({"assets": answer}, open(sys.argv[2], "w"))
