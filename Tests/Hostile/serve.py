"""Starts the real `inference-api serve` for the hostile-client scripts and waits for its port.

One place for what kill_during_writes.py, postgres_outage.py and full_disk.py all do: run the
binary on port 0 with JSON logs into `log_path` (appended, so a restart's port is the newest
"listening on" line), and read the port back from that line.
"""
import re
import signal
import subprocess
import time

LISTENING = re.compile(r"listening on http:(?:\\?/){2}127\.0\.0\.1:([0-9]+)")


def start(binary, mlruns, log_path, env, timeout=60):
    """(process, port) once the server listens; SystemExit with the log's tail if it does not."""
    seen = len(LISTENING.findall(_read(log_path)))
    # GRPC_PORT 0: several servers run at once here, and its default (8081) would be taken twice.
    environment = {"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json", "PORT": "0", "GRPC_PORT": "0", **env}
    with open(log_path, "ab") as log:
        process = subprocess.Popen([binary, "serve", "--mlruns", mlruns], env=environment, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + timeout
    while time.time() < deadline:
        ports = LISTENING.findall(_read(log_path))
        if len(ports) > seen:
            return process, int(ports[-1])
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"server did not start: {_read(log_path)[-2000:]!r}")


def stop(process, timeout=30):
    """SIGTERM, and SIGKILL if it has not exited within `timeout` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
