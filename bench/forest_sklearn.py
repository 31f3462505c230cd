"""scikit-learn's IsolationForest fit and score times on a fixtures/anomaly data set, with the
parameters the Swift forest uses (100 trees, max_samples auto, contamination auto); n_jobs=2
matches the Swift forest using both cores. Median of N seeds, like `inference-api forest-timing`."""
import json
import sys
import time

import numpy as np
from sklearn.ensemble import IsolationForest

path, repeats = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7
data = json.load(open(path))
x = np.array(data["rows"])
for jobs in (1, 2):
    fits, scores = [], []
    for seed in range(repeats):
        t0 = time.perf_counter()
        forest = IsolationForest(n_estimators=100, random_state=seed, n_jobs=jobs).fit(x)
        t1 = time.perf_counter()
        forest.score_samples(x)
        t2 = time.perf_counter()
        fits.append((t1 - t0) * 1000)
        scores.append((t2 - t1) * 1000)
    print(f"sklearn n_jobs={jobs} {data['name']} rows={len(x)} features={x.shape[1]} fit_ms={np.median(fits):.2f} score_ms={np.median(scores):.2f}")
