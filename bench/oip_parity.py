"""Parity of the Open Inference rows of `make bench`, checked before anything is timed.

    python3 bench/oip_parity.py SWIFT_URL MLSERVER_URL OIP_DIR

For 1, 100 and 1000 rows (bench/mlserver/prepare.py's bodies): this service's REST JSON answer,
its REST binary answer (binary outputs decoded), and MLServer's predict_proba[:, 1], each against
xgboost's probability on the pre-scaled rows (expected.json). Exits 1 when a difference exceeds
1e-6 or a probability is missing. Standard library only.
"""
import json
import struct
import sys
import urllib.request

swift, mlserver, folder = sys.argv[1:4]
INFER = "/v2/models/battery-hazard/infer"
expected = json.load(open(f"{folder}/expected.json"))


def post(url, body, headers):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read(), response.headers


def swift_json(n):
    body, _ = post(swift + INFER, open(f"{folder}/oip-{n}.json", "rb").read(), {"Content-Type": "application/json"})
    outputs = {o["name"]: o for o in json.loads(body)["outputs"]}
    return outputs["hazard_probability"]["data"]


def swift_binary(n):
    data = open(f"{folder}/oip-bin-{n}.bin", "rb").read()
    hlen = open(f"{folder}/oip-bin-{n}.bin.hlen").read().strip()
    body, headers = post(swift + INFER, data, {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": hlen})
    size = int(headers["Inference-Header-Content-Length"])
    header = json.loads(body[:size])
    offset = size
    for output in header["outputs"]:
        length = output["parameters"]["binary_data_size"]
        if output["name"] == "hazard_probability":
            return list(struct.unpack(f"<{length // 4}f", body[offset:offset + length]))
        offset += length
    return []


def mlserver_json(n):
    body, _ = post(mlserver + INFER, open(f"{folder}/mls-{n}.json", "rb").read(), {"Content-Type": "application/json"})
    data = json.loads(body)["outputs"][0]["data"]
    return data[1::2]  # predict_proba, [n, 2] row-major: class 1


report, ok = {}, True
for n in ("1", "100", "1000"):
    want = expected[n]
    for name, call in (("swift-json", swift_json), ("swift-binary", swift_binary), ("mlserver-json", mlserver_json)):
        got = call(n)
        worst = max((abs(a - b) for a, b in zip(got, want)), default=float("inf")) if len(got) == len(want) else float("inf")
        report[f"{name} {n}"] = worst
        ok = ok and worst <= 1e-6
print(json.dumps({"max_abs_difference": report, "ok": ok}))
sys.exit(0 if ok else 1)
