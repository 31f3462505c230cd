"""The table of scripts/bench-compare.sh: each figure's median for A and B, and the median of the
per-repetition ratios B / A (both binaries measured within the same repetition)."""
import json
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1])
run = json.loads((out / "run.json").read_text())
figures = {}  # name -> side -> rep -> value


def put(name, side, rep, value):
    if value is not None:
        figures.setdefault(name, {}).setdefault(side, {})[rep] = value


for line in (out / "limits.jsonl").read_text().splitlines():
    d = json.loads(line)
    side, rep = d["side"], d["rep"]
    for row in d.get("compiled", []):
        put(f"compiled forest, batch {row['batch']}, rows/s (1 thread)", side, rep, row["rows_per_s_1t"])
        put(f"compiled forest, batch {row['batch']}, x the C API (1 thread)", side, rep, row["vs_capi_1t"])
    for row in d.get("hazard_model", []):
        put(f"HazardModel, batch {row['batch']}, rows/s (1 caller)", side, rep, row["rows_per_s_1caller"])
    single = d.get("compiled_single_row_us", {})
    put("compiled forest, one row, p50 us", side, rep, single.get("p50"))
    explain = d.get("explain_us_per_reading", {})
    put("explanation, one reading, p50 us", side, rep, explain.get("single_p50"))
for line in (out / "wrk.jsonl").read_text().splitlines():
    d = json.loads(line)
    put(f"POST /predict, {d['size']} reading(s), req/s", d["side"], d["rep"], d["rps"])
    put(f"POST /predict, {d['size']} reading(s), p99 ms", d["side"], d["rep"], d["p99_ms"])

print(f"A = {run['A'][:7]}, B = {run['B'][:7]}: {run['reps']} interleaved repetitions, wrk {run['duration']} s x {run['connections']} connections\n")
print("| figure | A (median) | B (median) | B / A per repetition (median; min-max) |")
print("|---|---|---|---|")
for name, sides in figures.items():
    a, b = sides.get("A", {}), sides.get("B", {})
    reps = sorted(set(a) & set(b))
    ratios = [b[r] / a[r] for r in reps if a[r]]
    fmt = (lambda v: f"{v:,.0f}") if max(list(a.values()) + list(b.values()) + [0]) >= 100 else (lambda v: f"{v:.2f}")
    line = f"| {name} | {fmt(statistics.median(a.values())) if a else '-'} | {fmt(statistics.median(b.values())) if b else '-'} | "
    line += f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})" if ratios else "-"
    print(line + " |")
