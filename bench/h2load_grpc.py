"""One gRPC row of `make bench`: h2load (nghttp2-client) posting a framed ModelInferRequest.

    python3 bench/h2load_grpc.py --url http://127.0.0.1:PORT --body FILE --expect-bytes N \
        --connections 4 --threads 2 --seconds 5 --label '"target":"x","size":1,"rep":1' --result-file F

h2load keeps one call in flight per connection (-m 1, like wrk's rows) and logs every request;
this prints one JSON line in wrk's shape (bench/post.lua). h2load sees HTTP statuses only, and a
failed gRPC call is an HTTP 200 whose answer has no message: an answer counts as a success only
if the DATA bytes add up to N per answer (the framed answer `inference-api bench-grpc --probe`
measured), the rest are errors.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

parser = argparse.ArgumentParser()
for name in ("--url", "--body", "--label", "--result-file"):
    parser.add_argument(name, required=name != "--result-file")
parser.add_argument("--expect-bytes", type=int, required=True)
parser.add_argument("--connections", type=int, default=4)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--seconds", type=int, default=5)
args = parser.parse_args()

with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as log:
    log_path = log.name
try:
    out = subprocess.run(
        ["h2load", "-c", str(args.connections), "-t", str(min(args.threads, args.connections)), "-m", "1",
         "-D", str(args.seconds), "-d", args.body, "-H", "content-type: application/grpc", "-H", "te: trailers",
         "--log-file", log_path, args.url.rstrip("/") + "/inference.GRPCInferenceService/ModelInfer"],
        capture_output=True, text=True, check=True).stdout
    durations = sorted(int(line.split("\t")[2]) for line in open(log_path) if line.count("\t") == 2)
finally:
    os.unlink(log_path)

seconds = float(re.search(r"finished in ([0-9.]+)s", out).group(1))
succeeded = int(re.search(r"(\d+) succeeded", out).group(1))
total = int(re.search(r"requests: (\d+) total", out).group(1))
data = int(re.search(r"traffic: .*?, .*?, [0-9.]+\w*B \((\d+)\) data", out).group(1))
complete = min(succeeded, data // args.expect_bytes)


def percentile(p):
    return durations[min(len(durations) - 1, int(p / 100 * len(durations)))] / 1000 if durations else 0


line = "{%s,%s}" % (args.label, json.dumps({
    "requests": complete, "seconds": seconds, "rps": complete / seconds, "p50_ms": percentile(50), "p90_ms": percentile(90),
    "p99_ms": percentile(99), "max_ms": durations[-1] / 1000 if durations else 0, "bytes": data,
    "errors": total - complete, "client": "h2load"})[1:-1])
print(line)
if args.result_file:
    with open(args.result_file, "a") as f:
        f.write(line + "\n")
