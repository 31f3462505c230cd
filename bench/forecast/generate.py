"""Seeded EMS metric series for `make eval-forecast`: five-minute samples, four weeks of history
and one week held back, the kinds an operator forecasts (daily and weekly cycles, growth, level
changes, spikes, gaps), several assets and metrics. Writes one JSON file read by both
bench/forecast/peers.py (Prophet, MSTL) and `inference-api eval-forecast` (this service).

Each series: name, kind, start (epoch seconds of the first sample), step (300), train and test
values (null = missing), and for the growth series `truth` (the noise-free values of the test
week) with a `threshold` the truth crosses in the test week, for the crossing check.

usage: generate.py --out FILE [--seed N]
"""
import argparse
import json
import math

import numpy as np

STEP = 300
PER_DAY = 288
TRAIN = 28 * PER_DAY
TEST = 7 * PER_DAY
START = 1_767_571_200  # 2026-01-05T00:00Z, a Monday


def daily_shape(t, rng):
    """A working-day curve: low at night, a morning rise, an afternoon peak (harmonics with random phases)."""
    hour = (t % 86400) / 3600
    phase = rng.uniform(-1.5, 1.5)
    return (np.sin(2 * math.pi * (hour - 9 + phase) / 24) + 0.35 * np.sin(4 * math.pi * (hour - 6 + phase) / 24)
            + 0.15 * np.sin(6 * math.pi * (hour - 3 + phase) / 24))


def series(kind, rng):
    n = TRAIN + TEST
    t = START + STEP * np.arange(n, dtype=np.float64)
    day = ((t // 86400).astype(np.int64) + 3) % 7  # Monday = 0
    weekend = (day >= 5).astype(np.float64)
    level = rng.uniform(40, 200)
    amplitude = level * rng.uniform(0.15, 0.4)
    noise = amplitude * rng.uniform(0.05, 0.15)
    shape = daily_shape(t, rng)
    weekend_drop = rng.uniform(0.2, 0.5)
    # Weekends: lower and flatter.
    seasonal = amplitude * shape * (1 - 0.5 * weekend) - level * weekend_drop * weekend * 0.3
    trend = np.zeros(n)
    steps = np.zeros(n)
    spikes = np.zeros(n)
    multiplicative = False
    if kind in ("growth", "traffic"):
        per_week = level * rng.uniform(0.03, 0.08)
        trend = per_week * np.arange(n) / (7 * PER_DAY)
    if kind == "level-change":
        for _ in range(int(rng.integers(1, 3))):
            at = int(rng.integers(7 * PER_DAY, TRAIN - 3 * PER_DAY))
            steps[at:] += level * rng.choice([-1, 1]) * rng.uniform(0.15, 0.35)
    if kind in ("spikes", "traffic", "gaps"):
        count = int(n * rng.uniform(0.003, 0.008))
        where = rng.integers(0, n, count)
        spikes[where] = noise * rng.uniform(6, 20, count) * rng.choice([-1, 1, 1, 1], count)
    if kind == "traffic":
        multiplicative = True
    base = level + trend + steps
    if multiplicative:
        clean = base * (1 + (seasonal / level))
        values = clean * (1 + rng.normal(0, noise / level, n)) + spikes
    else:
        clean = base + seasonal
        values = clean + rng.normal(0, noise, n) + spikes
    values = values.astype(object)
    if kind == "gaps":
        missing = rng.random(n) < 0.05
        outage = int(rng.integers(PER_DAY, TRAIN - PER_DAY))
        missing[outage:outage + 72] = True
        missing[TRAIN:] = False  # the held-out week is scored in full
        values[missing] = None
    out = {
        "kind": kind, "start": START, "step": STEP,
        "train": [None if v is None else round(float(v), 4) for v in values[:TRAIN]],
        "test": [round(float(v), 4) for v in values[TRAIN:]],
    }
    if kind == "growth":
        truth = clean[TRAIN:]
        # A limit the noise-free series first passes two to five days into the held-out week.
        crossing_step = int(rng.integers(2 * PER_DAY, 5 * PER_DAY))
        running_max = np.maximum.accumulate(truth)
        threshold = float(running_max[crossing_step])
        first = int(np.argmax(truth >= threshold))
        out["truth"] = [round(float(v), 4) for v in truth]
        out["threshold"] = round(threshold, 4)
        out["crossing_step"] = first
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=28)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    kinds = ["seasonal", "growth", "level-change", "spikes", "gaps", "traffic"]
    assets = ["router-1", "switch-2"]
    everything = []
    for asset in assets:
        for kind in kinds:
            s = series(kind, rng)
            s["name"] = f"{asset}/{kind}"
            everything.append(s)
    with open(args.out, "w") as f:
        json.dump({"series": everything}, f)
    print(f"{len(everything)} series of {TRAIN} + {TEST} samples written to {args.out}")


if __name__ == "__main__":
    main()
