"""Prints the `make bench` tables from a results folder written by scripts/bench.sh.

    python3 bench/report.py RESULTS_DIR

Medians of the interleaved repetitions; ratios are taken within each repetition (same run, same
machine load) and then their median is reported.
"""
import json
import os
import re
import statistics
import sys

OUT = sys.argv[1]


def path(name):
    return os.path.join(OUT, name)


def jsonl(name):
    if not os.path.exists(path(name)):
        return []
    return [json.loads(line) for line in open(path(name)) if line.strip()]


def load(name):
    return json.load(open(path(name))) if os.path.exists(path(name)) else None


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0, unit=""):
    if v is None:
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{digits}f}{unit}"


def table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    print()


goals = []  # (goal, bar, measured text, met?)


def goal(name, bar, measured, ok):
    goals.append((name, bar, measured, "n/a" if ok is None else ("met" if ok else "MISSED")))


machine = open(path("machine.txt")).read() if os.path.exists(path("machine.txt")) else ""
print()
print("## make bench")
print()
print("```")
print(machine.strip())
print("```")
print()

# ---- HTTP
runs = jsonl("wrk.jsonl")
rss = {(r["target"], r["size"], r["rep"]): r["peak_rss_kb"] for r in jsonl("wrk-rss.jsonl")}
limits = load("limits.json")
capi_2t = {}
if limits:
    capi_2t = {c["batch"]: c["rows_per_s_2t"] for c in limits["capi"]}
# The C-API limit measured inside each HTTP repetition (scripts/bench.sh), when present: the
# share of it is then taken per repetition, under the same load, and its median reported.
capi_by_rep = {}
for line in jsonl("capi-interleaved.jsonl"):
    capi_by_rep[line["rep"]] = {c["batch"]: c["rows_per_s_2t"] for c in line["capi"]}


def capi_share(rs, size):
    """Median over repetitions of readings/s over that repetition's C-API rows/s (2 threads)."""
    per_rep = [r["ok_rps"] * size / capi_by_rep[r["rep"]][size] for r in rs if size in capi_by_rep.get(r["rep"], {})]
    if per_rep:
        return med(per_rep)
    return med([r["ok_rps"] for r in rs]) * size / capi_2t[size] if size in capi_2t else None
if runs:
    by = {}
    for r in runs:
        # Only 2xx answers count: wrk's "requests" includes non-2xx (errors_status).
        r["ok_rps"] = (r["requests"] - r["errors_status"]) / r["seconds"]
        r["peak_rss_kb"] = rss.get((r["target"], r["size"], r["rep"]))
        by.setdefault((r["target"], r["size"]), []).append(r)
    reps = sorted({r["rep"] for r in runs})
    print(f"### HTTP POST /predict on loopback (median of {len(reps)} interleaved runs; ratios per run, then median)")
    print()
    rows = []
    summary = {}
    for size in (1, 100, 1000):
        ref = {r["rep"]: r for r in by.get(("reference", size), [])}
        for target in ("swift", "swift-plain", "swift-shadow", "reference", "nginx", "floor"):
            rs = by.get((target, size), [])
            if not rs:
                continue
            rps = med([r["ok_rps"] for r in rs])
            ratios = [r["ok_rps"] / ref[r["rep"]]["ok_rps"] for r in rs if r["rep"] in ref and ref[r["rep"]]["ok_rps"] > 0]
            errors = sum(r["errors_status"] + r["errors_connect"] + r["errors_read"] + r["errors_write"] + r["errors_timeout"] for r in rs)
            peak = max((r["peak_rss_kb"] or 0) for r in rs) / 1024
            share = capi_share(rs, size) if target in ("swift", "swift-plain", "reference") else None
            summary[(target, size)] = {"rps": rps, "ratio": med(ratios), "p50": med([r["p50_ms"] for r in rs]),
                                       "p99": med([r["p99_ms"] for r in rs]), "peak_mb": peak, "capi_share": share}
            rows.append([
                size, target, fmt(rps), fmt(rps * size), fmt(med([r["p50_ms"] for r in rs]), 2), fmt(med([r["p99_ms"] for r in rs]), 2),
                fmt(peak, 0, " MB"), "1x" if target == "reference" else fmt(med(ratios), 1, "x"),
                fmt(share * 100, 0, " %") if share is not None else "",
                errors,
            ])
    table(["readings/req", "server", "req/s", "readings/s", "p50 ms", "p99 ms", "peak RSS", "vs reference", "of C API 2t", "errors"], rows)
    hazard = load("hazard-share.json")
    print("swift: the headline, bodies as dashboards send them (module_id on every reading" + (
        f"; {hazard['hazardous_share'] * 100:.0f} % of the readings hazardous by Swift's own labels" if hazard else "") +
          ", hazard episodes on, their default); swift-plain: the same readings without module_id;"
          " swift-shadow: the headline with a shadow challenger (the baseline run) scoring every reading.")
    print("req/s and readings/s count 2xx answers only; 'errors' counts non-2xx answers, socket errors and timeouts (should be 0).")
    print("peak RSS: VmHWM over the run (reset before each run), summed over processes (gunicorn master + 2 workers).")
    print("nginx: reads the same request body and answers a static copy of the Swift answer (the HTTP floor).")
    print("floor: `inference-api bench-floor`, the same binary and Hummingbird server, one route, no middleware, answering those static bytes.")
    print("'of C API 2t': readings/s as a share of the in-process C-API rows/s at the same batch size on two threads"
          + (", measured within each repetition; median of the per-repetition shares." if capi_by_rep else "."))
    print()

    s1, s100, s1000 = summary.get(("swift", 1)), summary.get(("swift", 100)), summary.get(("swift", 1000))
    if s1:
        goal("1 reading/request: req/s vs reference", ">= 25x", fmt(s1["ratio"], 1, "x") + f" ({fmt(s1['rps'])} req/s)", s1["ratio"] >= 25)
        goal("1 reading/request: p50 latency", "<= 0.3 ms", fmt(s1["p50"], 2, " ms"), s1["p50"] <= 0.3)
        goal("1 reading/request: p99 latency", "<= 2 ms", fmt(s1["p99"], 2, " ms"), s1["p99"] <= 2)
        floor = {r["rep"]: r for r in by.get(("floor", 1), [])}
        shares = [r["ok_rps"] / floor[r["rep"]]["ok_rps"] for r in by.get(("swift", 1), []) if r["rep"] in floor and floor[r["rep"]]["ok_rps"] > 0]
        if shares:
            goal("1 reading/request: /predict req/s as a share of the bare route's", ">= 80 %", f"{med(shares) * 100:.0f} %", med(shares) >= 0.8)
    for size in (1, 1000):
        plain = {r["rep"]: r for r in by.get(("swift-plain", size), [])}
        shares = [r["ok_rps"] / plain[r["rep"]]["ok_rps"] for r in by.get(("swift", size), []) if r["rep"] in plain and plain[r["rep"]]["ok_rps"] > 0]
        if shares:
            goal(f"{size} reading(s)/request: with module_id as a share of without", ">= 90 %", f"{med(shares) * 100:.0f} %", med(shares) >= 0.9)
    for size in (1, 100):
        base = {r["rep"]: r for r in by.get(("swift", size), [])}
        pairs = [(r, base[r["rep"]]) for r in by.get(("swift-shadow", size), []) if r["rep"] in base]
        if pairs:
            p99 = med([s["p99_ms"] / b["p99_ms"] - 1 for s, b in pairs if b["p99_ms"] > 0])
            rps = med([s["ok_rps"] / b["ok_rps"] for s, b in pairs if b["ok_rps"] > 0])
            detail = f"{p99 * 100:+.0f} % (req/s {rps * 100:.0f} % of without)"
            if size == 1:
                goal("shadow challenger, 1 reading/request: p99 change", "<= +10 %", detail, p99 <= 0.10)
            else:
                goal(f"shadow challenger, {size} readings/request: p99 change", "reported", detail, None)
    shadow = load("shadow.json")
    if shadow and "compared" in shadow:
        goal("shadow challenger: readings compared / dropped by the full queue", "reported",
             f"{shadow['compared']} / {shadow.get('shadow_dropped', 0)}", None)
    if s100:
        goal("100 readings/request: readings/s vs reference", ">= 15x", fmt(s100["ratio"], 1, "x") + f" ({fmt(s100['rps'] * 100)} readings/s)", s100["ratio"] >= 15)
    if s1000:
        goal("1000 readings/request: readings/s vs reference", ">= 10x", fmt(s1000["ratio"], 1, "x") + f" ({fmt(s1000['rps'] * 1000)} readings/s)", s1000["ratio"] >= 10)
        share = s1000.get("capi_share")
        if share is not None:
            limit = med([c[1000] for c in capi_by_rep.values() if 1000 in c]) if capi_by_rep else capi_2t[1000]
            goal("1000 readings/request: share of C-API rows/s (2 threads, batch 1000)", ">= 60 %",
                 f"{share * 100:.0f} % ({fmt(s1000['rps'] * 1000)} of {fmt(limit)})", share >= 0.6)
    peaks = [v["peak_mb"] for (t, _), v in summary.items() if t == "swift"]
    if peaks:
        goal("RSS under load (peak, Swift)", "<= 100 MB", fmt(max(peaks), 1, " MB"), max(peaks) <= 100)

parity = load("parity.json")
if parity:
    p = parity["parity"]
    print("### Parity (checked before timing)")
    print()
    table(["body", "readings", "max |swift - reference|", "labels differing", "max |swift - fixture|"],
          [[k, v["readings"], f"{v['max_abs_diff']:.3g}", v["label_mismatches"], f"{v['max_abs_diff_vs_fixture']:.3g}" if "max_abs_diff_vs_fixture" in v else ""] for k, v in p.items()])

# ---- start-up and idle RSS
starts = {s["label"]: s for s in jsonl("startup.jsonl")}
if starts:
    print("### Start-up (exec to first 200 on GET /ready) and idle RSS (1 s after ready)")
    print()
    table(["server", "start-up median", "runs (ms)", "idle RSS median"],
          [[k, fmt(v["startup_ms_median"], 1, " ms"), " ".join(str(x) for x in v["startup_ms"]), fmt(v["idle_rss_kb_median"] / 1024, 1, " MB")] for k, v in starts.items()])
    if "swift" in starts:
        s = starts["swift"]
        goal("start-up to /ready", "<= 0.5 s", fmt(s["startup_ms_median"], 1, " ms"), s["startup_ms_median"] <= 500)
        goal("idle RSS", "<= 50 MB", fmt(s["idle_rss_kb_median"] / 1024, 1, " MB"), s["idle_rss_kb_median"] / 1024 <= 50)

# ---- in-process limits
if limits:
    print(f"### In-process limits (run {limits['run_id'][:8]}, {limits['features']} features, {limits['trees']} trees, libxgboost {limits['xgboost']})")
    print()
    c1 = limits["capi_single_row_us"]; d1 = limits["capi_dmatrix_single_row_us"]; m1 = limits["model_single_row_us"]
    print(f"one row: C API (XGBoosterPredictFromDense) p50 {c1['p50']:.1f} us, p99 {c1['p99']:.1f} us; "
          f"through a DMatrix p50 {d1['p50']:.1f} us; HazardModel (scaler + booster) p50 {m1['p50']:.1f} us, p99 {m1['p99']:.1f} us")
    print()
    rows = []
    for c, m in zip(limits["capi"], limits["hazard_model"]):
        rows.append([c["batch"], fmt(c["rows_per_s_1t"]), fmt(c["rows_per_s_2t"]), fmt(m["rows_per_s_1caller"]), fmt(m["rows_per_s_2callers"]),
                     fmt(m["rows_per_s_2callers"] / c["rows_per_s_2t"] * 100, 0, " %")])
    table(["batch", "C API 1 thread rows/s", "C API 2 threads rows/s", "HazardModel 1 caller", "HazardModel 2 callers", "HazardModel 2c / C API 2t"], rows)
    rows = [[d["body"], d["readings"], fmt(d["bytes"] / 1024, 0, " KB"), fmt(d["readings_per_s"]), fmt(d["us_per_reading"], 2), fmt(d["mb_per_s"], 0)] for d in limits["decoder"]]
    table(["ReadingsDecoder body", "readings", "size", "readings/s (1 thread)", "us/reading", "MB/s"], rows)

# ---- forest
if os.path.exists(path("forest.txt")):
    sw, sk = {}, {}
    for line in open(path("forest.txt")):
        m = re.match(r"swift (\S+) rows=(\d+) features=(\d+) fit_ms=([\d.]+) score_ms=([\d.]+)", line)
        if m:
            sw[m[1]] = (int(m[2]), int(m[3]), float(m[4]), float(m[5]))
        m = re.match(r"sklearn n_jobs=(\d) (\S+) rows=(\d+) features=(\d+) fit_ms=([\d.]+) score_ms=([\d.]+)", line)
        if m:
            sk.setdefault(m[2], {})[int(m[1])] = (float(m[5]), float(m[6]))
    if sw:
        print("### Isolation Forest, 100 trees (make bench-forest: median of 7 seeds)")
        print()
        rows = []
        worst_fit = worst_score = None
        for name, (n, f, fit, score) in sw.items():
            skl = sk.get(name, {})
            best_fit = min(v[0] for v in skl.values()) if skl else None
            best_score = min(v[1] for v in skl.values()) if skl else None
            rf = best_fit / fit if best_fit and fit > 0 else None
            rsc = best_score / score if best_score and score > 0 else None
            worst_fit = rf if worst_fit is None or (rf is not None and rf < worst_fit) else worst_fit
            worst_score = rsc if worst_score is None or (rsc is not None and rsc < worst_score) else worst_score
            rows.append([name, f"{n}x{f}", f"{fit:.2f}", " / ".join(f"{skl[j][0]:.1f}" for j in sorted(skl)), fmt(rf, 1, "x"),
                         f"{score:.2f}", " / ".join(f"{skl[j][1]:.1f}" for j in sorted(skl)), fmt(rsc, 1, "x")])
        table(["data set", "rows x features", "Swift fit ms", "sklearn fit ms (n_jobs 1 / 2)", "fit speed-up", "Swift score ms", "sklearn score ms (1 / 2)", "score speed-up"], rows)
        print("speed-up: against the faster of scikit-learn's n_jobs=1 and n_jobs=2.")
        print()
        goal("Isolation Forest fit vs scikit-learn (worst data set)", ">= 10x", fmt(worst_fit, 1, "x"), worst_fit is not None and worst_fit >= 10)
        goal("Isolation Forest score vs scikit-learn (worst data set)", ">= 10x", fmt(worst_score, 1, "x"), worst_score is not None and worst_score >= 10)

# ---- detect + persist
detect = jsonl("detect-wrk.jsonl")
meta = load("detect-meta.json")
if detect:
    committed = {r["rep"]: r for r in jsonl("detect-rows.jsonl")}
    rows, rates = [], []
    for r in detect:
        c = committed.get(r["rep"], {})
        ok = r["requests"] - r["errors_status"]
        # Acknowledged (2xx) samples are committed before the answer; the SQL count, taken after
        # wrk stops, also holds up to `connections` requests still in flight, so it can only be
        # higher: it confirms the rows are there, the rate counts acknowledged ones.
        rate = c.get("samples_committed", 0) / r["seconds"]
        rates.append(ok * 1000 / r["seconds"] if c.get("samples_committed", 0) >= ok * 1000 else rate)
        rows.append([r["rep"], r["requests"], r["errors_status"] + r["errors_timeout"] + r["errors_read"], fmt(ok * 1000 / r["seconds"]),
                     c.get("samples_committed", "n/a"), fmt(rate), fmt(r["p50_ms"], 1), fmt(r["p99_ms"], 1)])
    print("### POST /anomaly/detect, 1000 samples/request, persist: true, PostgreSQL" + (
        f" {meta['postgres']} (fsync={meta['fsync']}, synchronous_commit={meta['synchronous_commit']}), scored by: {meta['methods']}, peak RSS {meta['peak_rss_kb'] / 1024:.0f} MB" if meta else ""))
    print()
    table(["run", "requests", "errors", "acknowledged samples/s", "rows added (SQL count)", "rows/s (SQL count)", "p50 ms", "p99 ms"], rows)
    print("A 2xx answer means its samples and scores are committed; the SQL count after each run confirms it (it also holds the <= 4 requests in flight when wrk stopped).")
    print()
    goal("detect + persist: samples committed/s (acknowledged)", ">= 20,000/s", fmt(med(rates)) + "/s", med(rates) >= 20000)
elif os.path.exists(path("logs/with-postgres.log")):
    goal("detect + persist: samples committed/s", ">= 20,000/s", "did not run (see logs/with-postgres.log)", None)

oip = jsonl("oip.jsonl")
if oip:
    FORMS = [("swift-json", "this service, REST JSON"), ("swift-binary", "this service, REST binary tensors"),
             ("swift-grpc", "this service, gRPC (typed contents)"), ("swift-grpc-raw", "this service, gRPC (raw_input_contents)"),
             ("mlserver-json", "MLServer, REST JSON"), ("mlserver-grpc", "MLServer, gRPC (typed contents)"),
             ("mlserver-grpc-raw", "MLServer, gRPC (raw_input_contents)")]
    reps = sorted({r["rep"] for r in oip})

    def errors(r):
        return r.get("errors", 0) + sum(r.get(k, 0) for k in ("errors_status", "errors_timeout", "errors_read", "errors_connect", "errors_write"))

    def at(target, size, rep):
        return next((r for r in oip if r["target"] == target and r["size"] == size and r["rep"] == rep), None)

    def ratio(a, b, size):  # median over repetitions of rps(a) / rps(b), b a target or a list (best of)
        values = []
        for rep in reps:
            x = at(a, size, rep)
            ys = [at(t, size, rep) for t in (b if isinstance(b, list) else [b])]
            ys = [y for y in ys if y and y["rps"] > 0]
            if x and ys:
                values.append(x["rps"] / max(y["rps"] for y in ys))
        return med(values)

    parity = load("oip-parity.json")
    print(f"### Open Inference Protocol: this service against MLServer 1.7.1 + mlserver-xgboost (median of {len(reps)} interleaved runs)")
    print()
    rows = []
    for size in (1, 100, 1000):
        for target, label in FORMS:
            runs = [r for r in oip if r["target"] == target and r["size"] == size]
            if not runs:
                continue
            rps = med([r["rps"] for r in runs])
            rows.append([label, size, fmt(rps), fmt(rps * size), fmt(med([r["p50_ms"] for r in runs]), 2), fmt(med([r["p99_ms"] for r in runs]), 2),
                         sum(errors(r) for r in runs)])
    table(["form", "rows/request", "req/s", "rows/s", "p50 ms", "p99 ms", "errors"], rows)
    print("MLServer serves the same booster (model.ubj of the champion run) with mlserver-xgboost and 2 parallel workers; it has no scaler, so it is")
    print("sent the rows pre-scaled by the run's scaler (float64 arithmetic on the same FP32 values), FP32, asking for predict_proba; this service is")
    print("sent the raw FP32 readings and scales them itself. REST through wrk; gRPC through h2load posting the framed request, the same clients for both")
    conns = re.search(r"-c(\d+)", machine)
    print(f"servers ({conns.group(1) if conns else 'the same'} connections, one call in flight on each; a gRPC answer counts only if its bytes are a whole answer). Binary tensors: FP32 input and both outputs binary (Inference-Header-Content-Length).")
    if parity:
        worst = max(parity["max_abs_difference"].values())
        print(f"Parity before timing: every probability of both servers against xgboost on the pre-scaled rows, max |difference| {worst:.1e} ({'ok' if parity['ok'] else 'FAILED'}).")
    print()
    best_mls = ["mlserver-json", "mlserver-grpc", "mlserver-grpc-raw"]
    ours_grpc = ["swift-grpc", "swift-grpc-raw"]
    for form, name in (("swift-binary", "REST binary"), ("swift-grpc-raw", "gRPC (raw)")):
        r = ratio(form, "swift-json", 1000)
        goal(f"OIP 1000 rows: {name} against this service's REST JSON", ">= 1.5x", fmt(r, 2, "x"), None if r is None else r >= 1.5)
        r = ratio(form, best_mls, 1000)
        goal(f"OIP 1000 rows: {name} against MLServer's best form", ">= 10x", fmt(r, 1, "x"), None if r is None else r >= 10)
    for ours, theirs, name in (("swift-json", "mlserver-json", "REST JSON"), ("swift-binary", "mlserver-json", "REST binary (against MLServer's REST JSON, its only REST form)"),
                               ("swift-grpc", "mlserver-grpc", "gRPC typed"), ("swift-grpc-raw", "mlserver-grpc-raw", "gRPC raw")):
        r = ratio(ours, theirs, 1)
        goal(f"OIP 1 row: {name} against MLServer's same form", ">= 50x", fmt(r, 1, "x"), None if r is None else r >= 50)

print("### Goals")
print()
table(["goal", "bar", "measured", "result"], goals)
print(f"(raw results: {OUT})")
