"""Before any timing: the reference must answer what the Swift server answers, for `make bench`.

    python3 bench/parity.py SWIFT_URL REFERENCE_URL BODIES_DIR FIXTURE_VECTOR STATIC_DIR

POSTs parity.json (the fixture's 200 readings) and predict-{1,100,1000}.json to both /predict
endpoints; every hazard_probability must agree to 1e-6 (and with Python's probabilities in the
fixture vector), labels and counts exactly. Saves the Swift answers as STATIC_DIR/r<N>.json for the
nginx floor. Prints one JSON line; exits 1 on any mismatch.
"""
import json
import os
import sys
import urllib.request

TOLERANCE = 1e-6


def post(url, body):
    req = urllib.request.Request(url + "/predict", data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, r.read()


def main():
    swift, reference, bodies, vector, static = sys.argv[1:6]
    expected = json.load(open(vector))["probabilities"]
    report, failures = {}, []
    for name in ("parity", "predict-1", "predict-100", "predict-1000"):
        body = open(os.path.join(bodies, name + ".json"), "rb").read()
        s_status, s_raw = post(swift, body)
        r_status, r_raw = post(reference, body)
        if s_status != 200 or r_status != 200:
            failures.append(f"{name}: status swift {s_status}, reference {r_status}")
            continue
        s, r = json.loads(s_raw), json.loads(r_raw)
        sp = [p["hazard_probability"] for p in s["predictions"]]
        rp = [p["hazard_probability"] for p in r["predictions"]]
        if len(sp) != len(rp):
            failures.append(f"{name}: {len(sp)} predictions from swift, {len(rp)} from the reference")
            continue
        worst = max(abs(a - b) for a, b in zip(sp, rp))
        labels = sum(a["label"] != b["label"] or a["prediction"] != b["prediction"] for a, b in zip(s["predictions"], r["predictions"]))
        ids = sum(a.get("module_id") != b.get("module_id") or a.get("timestamp") != b.get("timestamp") for a, b in zip(s["predictions"], r["predictions"]))
        entry = {"readings": len(sp), "max_abs_diff": worst, "label_mismatches": labels, "id_mismatches": ids,
                 "swift_bytes": len(s_raw), "reference_bytes": len(r_raw)}
        if name == "parity":
            entry["max_abs_diff_vs_fixture"] = max(abs(a - b) for a, b in zip(sp, expected))
            if entry["max_abs_diff_vs_fixture"] > TOLERANCE:
                failures.append(f"{name}: swift differs from the fixture's Python probabilities by {entry['max_abs_diff_vs_fixture']}")
        if worst > TOLERANCE or labels or ids or s["summary"]["count"] != r["summary"]["count"]:
            failures.append(f"{name}: max |swift - reference| = {worst}, {labels} label and {ids} id mismatches")
        report[name] = entry
        if name != "parity":
            with open(os.path.join(static, "r" + name.split("-")[1] + ".json"), "wb") as f:
                f.write(s_raw)
    print(json.dumps({"parity": report, "failures": failures}))
    if failures:
        sys.exit("parity check failed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
