"""Prophet and statsforecast's MSTL (AutoETS trend) on the series of generate.py, for `make
eval-forecast`: each fitted on the four weeks of history, forecasting the held-out week with 90 %
intervals; plus the weekly seasonal naive (the last week again). Prints one JSON object: per
series and method, MASE at one day and at seven days (scaled by the in-sample MAE of the one-day
seasonal naive), the 90 % interval's coverage of the held-out week, and seconds to fit and
forecast. Missing history is dropped for Prophet (it takes gaps) and linearly interpolated for
MSTL (it needs a complete series).

usage: peers.py SERIES_JSON [--only prophet,mstl]
"""
import argparse
import json
import logging
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

PER_DAY = 288


def scale_of(train):
    y = np.array([np.nan if v is None else v for v in train], dtype=float)
    diffs = np.abs(y[PER_DAY:] - y[:-PER_DAY])
    return float(np.nanmean(diffs))


def score(test, value, lower, upper, scale):
    test = np.asarray(test, dtype=float)
    value = np.asarray(value, dtype=float)
    out = {
        "mase_1d": float(np.mean(np.abs(test[:PER_DAY] - value[:PER_DAY])) / scale),
        "mase_7d": float(np.mean(np.abs(test - value)) / scale),
    }
    if lower is not None:
        out["coverage"] = float(np.mean((np.asarray(lower) <= test) & (test <= np.asarray(upper))))
    return out


def prophet(series):
    from prophet import Prophet
    times = pd.to_datetime(series["start"] + series["step"] * np.arange(len(series["train"])), unit="s")
    df = pd.DataFrame({"ds": times, "y": [np.nan if v is None else v for v in series["train"]]}).dropna()
    started = time.perf_counter()
    model = Prophet(interval_width=0.9)
    model.fit(df)
    future = model.make_future_dataframe(periods=len(series["test"]), freq=f"{series['step']}s", include_history=False)
    forecast = model.predict(future)
    seconds = time.perf_counter() - started
    return forecast["yhat"].to_numpy(), forecast["yhat_lower"].to_numpy(), forecast["yhat_upper"].to_numpy(), seconds


def mstl(series):
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS
    times = pd.to_datetime(series["start"] + series["step"] * np.arange(len(series["train"])), unit="s")
    y = pd.Series([np.nan if v is None else v for v in series["train"]]).interpolate(limit_direction="both")
    df = pd.DataFrame({"unique_id": "s", "ds": times, "y": y.to_numpy()})
    started = time.perf_counter()
    forecaster = StatsForecast(models=[MSTL(season_length=[PER_DAY, 7 * PER_DAY], trend_forecaster=AutoETS(model="ZZN"))], freq=f"{series['step']}s")
    forecast = forecaster.forecast(df=df, h=len(series["test"]), level=[90])
    seconds = time.perf_counter() - started
    return forecast["MSTL"].to_numpy(), forecast["MSTL-lo-90"].to_numpy(), forecast["MSTL-hi-90"].to_numpy(), seconds


def naive(series):
    train = [np.nan if v is None else v for v in series["train"]]
    week = np.array(train[-7 * PER_DAY:], dtype=float)
    # A missing step of last week reads as the day before it.
    day_before = np.array(train[-8 * PER_DAY:-PER_DAY], dtype=float)
    week = np.where(np.isnan(week), day_before, week)
    # Still missing (both days): the last value seen before it.
    week = pd.Series(week).ffill().bfill().to_numpy()
    return week[: len(series["test"])], None, None, 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("series")
    parser.add_argument("--only", default="prophet,mstl,naive")
    args = parser.parse_args()
    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
    logging.getLogger("prophet").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    methods = {"prophet": prophet, "mstl": mstl, "naive": naive}
    data = json.load(open(args.series))
    results = {}
    for s in data["series"]:
        scale = scale_of(s["train"])
        results[s["name"]] = {}
        for name in args.only.split(","):
            value, lower, upper, seconds = methods[name](s)
            results[s["name"]][name] = dict(score(s["test"], value, lower, upper, scale), seconds=seconds)
            print(f"{s['name']:28s} {name:8s} " + json.dumps(results[s["name"]][name]), file=sys.stderr, flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
