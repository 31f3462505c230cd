"""Posts each headline /predict body once and prints the share of readings Swift labelled hazardous.

    python3 bench/hazard_share.py SWIFT_URL BODIES_DIR

Prints one JSON object: {"readings": N, "hazardous": H, "hazardous_share": H / N}. Standard library only.
"""
import glob
import json
import os
import sys
import urllib.request

url, bodies = sys.argv[1:3]
readings = hazardous = 0
for path in sorted(glob.glob(os.path.join(bodies, "predict-*-[0-4].json"))):
    request = urllib.request.Request(url + "/predict", data=open(path, "rb").read(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        summary = json.load(answer)["summary"]
    readings += summary["count"]
    hazardous += summary["hazardous"]
print(json.dumps({"readings": readings, "hazardous": hazardous, "hazardous_share": round(hazardous / readings, 4)}))
