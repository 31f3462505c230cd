"""A tracking server's artifact proxy that misbehaves, for the bounded-download tests
(Tests/ModelSourcesTests/HostileTrackingServerTests.swift). No real MLflow server can be made to
lie about sizes or trickle bytes, so this stand-in does; every well-behaved path is tested against
a real `mlflow server` elsewhere. Prints its port on the first line, then serves until killed.

Listings (GET /api/2.0/mlflow-artifacts/artifacts?path=P), by P's first segment:
  nest/...  one folder inside every folder, forever (P/a)
  twice     the same folder listed twice
  big       big/model.ubj, listed at 10 bytes; its download sends 50 MB
  slow      slow/model.ubj, listed at 10 bytes; its download sends a byte a second
  fine      fine/model.ubj, listed at 10 bytes; its download sends those 10 bytes
  rsame     rsame/model.ubj, listed at 10 bytes; its download redirects (302) to a path of the same
            server that sends "credential" or "anonymous." (10 bytes: was Authorization sent?)
  rother    the same, redirected to another host name for this server (localhost)
  busy      busy/model.ubj, listed at 10 bytes; its first download is 503 with Retry-After: 2,
            the next sends the 10 bytes
  later     later/model.ubj, listed at 10 bytes; its downloads are 429 with Retry-After: 30
"""
import os
import signal
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from json_handler import JSONHandler

PREFIX = "/api/2.0/mlflow-artifacts/artifacts"
# Downloads answered so far, by kind (busy, later).
SEEN = {}
LOCK = threading.Lock()


class Handler(JSONHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == PREFIX:
            path = parse_qs(url.query).get("path", [""])[0]
            kind = path.split("/")[0]
            if kind == "nest":
                return self.answer(200, {"files": [{"path": f"{path}/a", "is_dir": True}]})
            if kind == "twice":
                return self.answer(200, {"files": [{"path": "twice/a", "is_dir": True}, {"path": "twice/a", "is_dir": True}]})
            if kind in ("big", "slow", "fine", "rsame", "rother", "busy", "later") and path == kind:
                return self.answer(200, {"files": [{"path": f"{kind}/model.ubj", "is_dir": False, "file_size": 10}]})
            return self.answer(200, {})
        if url.path.startswith(PREFIX + "/"):
            kind = url.path[len(PREFIX) + 1:].split("/")[0]
            try:
                if kind == "big":
                    self.send_response(200)
                    self.send_header("Content-Length", str(50 << 20))
                    self.end_headers()
                    chunk = b"x" * (64 << 10)
                    for _ in range(800):
                        self.wfile.write(chunk)
                    return
                if kind == "slow":
                    self.send_response(200)
                    self.send_header("Content-Length", "10")
                    self.end_headers()
                    for _ in range(10):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(1)
                    return
                if kind in ("rsame", "rother"):
                    host = "" if kind == "rsame" else f"http://localhost:{self.server.server_address[1]}"
                    self.send_response(302)
                    self.send_header("Location", f"{host}{PREFIX}/whoami/model.ubj")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if kind == "whoami":
                    self.send_response(200)
                    self.send_header("Content-Length", "10")
                    self.end_headers()
                    self.wfile.write(b"credential" if self.headers.get("Authorization") else b"anonymous.")
                    return
                if kind in ("busy", "later"):
                    with LOCK:
                        SEEN[kind] = SEEN.get(kind, 0) + 1
                        first = SEEN[kind] == 1
                    if kind == "later" or first:
                        data = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}'
                        self.send_response(429 if kind == "later" else 503)
                        self.send_header("Retry-After", "30" if kind == "later" else "2")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                    kind = "fine"
                if kind == "fine":
                    self.send_response(200)
                    self.send_header("Content-Length", "10")
                    self.end_headers()
                    self.wfile.write(b"0123456789")
                    return
            except (BrokenPipeError, ConnectionResetError):
                return
        self.answer(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such artifact"})


# Gone with the test: on SIGTERM, and when standard input closes (the test process ended, however).
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
