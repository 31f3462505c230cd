"""Every curl example of the README, run against the real server, for ReadmeExamplesTests (make test).

Starts `inference-api serve` as `make run` does (development mode, the committed mlruns/, a
SQLite file of its own), reads README.md's ```sh blocks, and runs each curl command in them with
bash from the repository root, in order (they build on each other: the detect examples store
what the training and history examples read), the address rewritten to the server's port. Each
command's expectation comes from the README itself:
  - a command whose shown answer starts with {"error" must get a 4xx, every other one a 2xx;
  - every "key":value of a shown answer (string, number, true, false, null; not those written
    with "...") must appear in the answer as written;
  - a shown answer that is whole JSON (no "...") must equal the answer.
A shown answer is the comment after a command, or the ```json block right after its ```sh block.
The block that configures credentials and starts its own server (`make run &`) is run with a
server started with what it exports, its commands as one script. A line naming a placeholder
(`<pid>`) is left out, and its block listed. Prints one JSON object: the commands run, the blocks left out, and
every failure.

The server is given `EMS_CORE_URL` of a stand-in EMS Core started here (`ems_core`: its documented
`GET /api/metrics` pages of a deterministic five-minute series, and 201 to every event and alert),
so the README's training-from-EMS-Core example runs too.

usage: readme_examples.py BINARY MLRUNS [--log PATH]
"""
import argparse
import datetime
import http.server
import json
import math
import os
import re
import subprocess
import tempfile
import threading
import urllib.parse

import serve
from json_handler import JSONHandler

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FRAGMENT = re.compile(r'"([A-Za-z_]+)":("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null)')


def blocks(readme):
    """The ```sh blocks, as (lines, the ```json block right after it as one line, or "")."""
    out, current, kind, previous_end = [], None, None, -2
    for number, line in enumerate(readme.splitlines()):
        if current is None and line.strip() in ("```sh", "```json"):
            current, kind, start = [], line.strip()[3:], number
        elif current is not None and line.strip() == "```":
            if kind == "sh":
                out.append([current, ""])
            elif out and start == previous_end + 1:
                out[-1][1] = " ".join(part.strip() for part in current)
            current, previous_end = None, number
        elif current is not None:
            current.append(line)
    return out


def commands(lines):
    """(command, shown answer) pairs: a command runs on while a line ends with a backslash or a
    quote is open; the comment lines after it (and a trailing comment) are its shown answer."""
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        text = line
        while (text.endswith("\\") or text.count("'") % 2 == 1) and i + 1 < len(lines):
            i += 1
            text += "\n" + lines[i]
        i += 1
        shown = []
        match = re.search(r"\s#\s(.*)$", text.splitlines()[-1]) if text.count("'") % 2 == 0 else None
        if match and "'" not in match.group(1):
            shown.append(match.group(1))
            text = text[: len(text) - len(match.group(0))]
        while i < len(lines) and lines[i].lstrip().startswith("# "):
            shown.append(lines[i].lstrip()[2:])
            i += 1
        out.append((text.strip(), " ".join(shown).strip()))
    return out


def run(command, port):
    address = f"http://127.0.0.1:{port}"
    command = command.replace("http://127.0.0.1:8080", address).replace("localhost:8080", address)
    # curl with the status written after the body, on its own line.
    script = "curl() { command curl -w '\\n__status__%{http_code}' \"$@\"; }\n" + command
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    body, _, status = result.stdout.rpartition("\n__status__")
    return result.returncode, int(status) if status.isdigit() else None, body


def check(command, shown, code, status, body):
    problems = []
    if code != 0:
        problems.append(f"bash exited {code}")
    wants_error = shown.startswith('{"error"')
    if status is None or not (400 <= status < 500 if wants_error else 200 <= status < 300):
        problems.append(f"status {status}, expected {'a 4xx' if wants_error else 'a 2xx'}")
    if shown.startswith("{"):
        if "..." not in shown:
            try:
                if json.loads(shown) != json.loads(body):
                    problems.append(f"answer {body[:300]!r} is not the shown {shown!r}")
            except ValueError as error:
                problems.append(f"not JSON: {error}: {body[:200]!r}")
        for key, value in FRAGMENT.findall(shown):
            if "..." in value:
                continue
            if f'"{key}":{value}' not in body:
                problems.append(f'"{key}":{value} not in the answer {body[:400]!r}')
    return problems


def secured_block(args, lines, directory):
    """The block that configures credentials and starts its own server (`make run &`): its lines
    before that are run to get the environment they export, a server is started with it, and the
    lines after it run as one script (they share $TOKEN); each must succeed, and what the last
    pipes into grep must be found."""
    cut = next(i for i, line in enumerate(lines) if line.strip() == "make run &")
    setup = "\n".join(lines[:cut]) + "\nenv -0"
    result = subprocess.run(["bash", "-c", setup], cwd=ROOT, capture_output=True, text=True, timeout=60)
    exported = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    env = {name: exported[name] for name in ("JWT_SECRET", "AUTH_USERNAME", "AUTH_PASSWORD", "API_KEYS") if name in exported}
    env["SQLITE_PATH"] = os.path.join(directory, "secured.sqlite")
    process, port = serve.start(args.binary, args.mlruns, args.log, env)
    try:
        script = "set -eo pipefail\n" + "\n".join(lines[cut + 1:]).replace("localhost:8080", f"http://127.0.0.1:{port}")
        run = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        serve.stop(process)
    problems = []
    if set(env) != {"JWT_SECRET", "AUTH_USERNAME", "AUTH_PASSWORD", "API_KEYS", "SQLITE_PATH"}:
        problems.append(f"the block exported {sorted(env)}")
    if run.returncode != 0:
        problems.append(f"exited {run.returncode}: {run.stdout[-300:]!r} {run.stderr[-300:]!r}")
    if '"hazard_probability":' not in run.stdout or "hazard_predictions_total" not in run.stdout:
        problems.append(f"the prediction and the metric were not both printed: {run.stdout[-400:]!r}")
    return {"exported": sorted(env), "status": run.returncode, "problems": problems}


class StandInEMSCore(JSONHandler):
    """EMS Core as the README documents it: `GET /api/metrics?assetId&from&to&page` answers
    `{"data": [{"timestamp", "metrics"}], "page", "total_pages"}` (1,000 samples a page, one every
    five minutes from `from` up to `to`, cpu_pct on a daily cycle, latency_ms varying), and every
    `POST /api/...` (events, alerts) is accepted."""

    PAGE = 1000

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/api/metrics" or not {"assetId", "from", "to"} <= set(query):
            return self.answer(404, {"error": "not found"})
        parse = lambda text: datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        start, end = parse(query["from"][0]), parse(query["to"][0])
        count = max(0, int((end - start).total_seconds() // 300))
        page = int(query.get("page", ["1"])[0])
        rows = []
        for i in range((page - 1) * self.PAGE, min(count, page * self.PAGE)):
            time = start + datetime.timedelta(seconds=300 * i)
            cpu = 40 + 10 * math.sin(2 * math.pi * i / 288) + ((i * 7) % 11) * 0.3
            rows.append({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "metrics": {"cpu_pct": round(cpu, 3), "latency_ms": 20 + ((i * 13) % 17) * 0.5}})
        self.answer(200, {"data": rows, "page": page, "total_pages": max(1, math.ceil(count / self.PAGE))})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(201, {})


def ems_core():
    """A stand-in EMS Core on a loopback port, serving from a daemon thread; its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandInEMSCore)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("mlruns")
    parser.add_argument("--log", default="/dev/null")
    args = parser.parse_args()
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    directory = tempfile.mkdtemp(prefix="readme-")
    process, port = serve.start(args.binary, args.mlruns, args.log, {"SQLITE_PATH": os.path.join(directory, "s.sqlite"), "EMS_CORE_URL": ems_core()})
    report = {"commands": [], "left_out": [], "failures": []}
    try:
        for lines, answer in blocks(readme):
            text = "\n".join(lines)
            if "curl" not in text:
                continue
            if "make run &" in text:
                report["secured"] = secured_block(args, lines, directory)
                if report["secured"].get("problems"):
                    report["failures"].append({"command": text[:300], "problems": report["secured"]["problems"]})
                continue
            if "<pid>" in text:
                report["left_out"].append(lines[0][:120])  # the block's other commands run
            listed = commands(lines)
            if answer and listed and not listed[-1][1]:
                listed[-1] = (listed[-1][0], answer)  # the ```json block after the command
            for command, shown in listed:
                if "<pid>" in command or not command.startswith("curl"):
                    continue
                code, status, body = run(command, port)
                problems = check(command, shown, code, status, body)
                report["commands"].append({"command": command.splitlines()[0][:160], "status": status, "bytes": len(body)})
                if problems:
                    report["failures"].append({"command": command[:300], "problems": problems})
    finally:
        serve.stop(process)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
