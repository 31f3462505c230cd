"""Hostile clients against a running inference-api, for HostileClientTests (make test).

Each subcommand runs one kind of client against http://127.0.0.1:PORT and prints one JSON object
of what it saw; the Swift test starts the real server, runs this, and checks the figures.

  oversized PORT   bodies of 20 MB and 110 MB, sent whole before reading (as urllib, requests and
                   Java's HttpURLConnection do), with and without `Connection: close`
  slow PORT        slowloris connections (one header byte a second) and idle keep-alive
                   connections, while a normal client posts /predict and times every answer
  flood PORT N     N connections at once; how many the server closes at once
Standard library only: it runs on the machine's python3.
"""
import asyncio
import json
import resource
import socket
import sys
import time

HOST = "127.0.0.1"


def raise_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def read_answer(sock, deadline):
    """Reads one HTTP answer (head and Content-Length body); returns (status, body bytes) or (None, b"")."""
    data = b""
    while time.time() < deadline:
        sock.settimeout(max(0.01, deadline - time.time()))
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(body) >= length:
                return int(head.split(b" ")[1]), body[:length]
    if data.startswith(b"HTTP/1.1 "):
        return int(data.split(b" ")[1]), data.partition(b"\r\n\r\n")[2]
    return None, b""


def oversized(port):
    results = []
    chunk = b" " * (1 << 20)
    for megabytes in (20, 110):
        for path in ("/predict", "/anomaly/detect"):
            for close in (True, False):
                size = megabytes << 20
                sock = socket.create_connection((HOST, port))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
                started = time.time()
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {size}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
                ).encode()
                sent, error = 0, None
                sock.settimeout(30)
                try:
                    sock.sendall(head)
                    while sent < size:
                        sock.sendall(chunk[: min(len(chunk), size - sent)])
                        sent += min(len(chunk), size - sent)
                except OSError as e:
                    error = type(e).__name__
                status, body = read_answer(sock, time.time() + 30)
                code = None
                try:
                    code = json.loads(body)["error"]["code"]
                except Exception:
                    pass
                results.append(
                    {"megabytes": megabytes, "path": path, "connection_close": close, "status": status, "code": code,
                     "seconds": round(time.time() - started, 3), "sent_all": sent == size, "send_error": error})
                sock.close()
    # The server still answers others.
    sock = socket.create_connection((HOST, port))
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status, _ = read_answer(sock, time.time() + 5)
    print(json.dumps({"results": results, "health_after": status}))


async def slow(port, slow_count, idle_count, seconds, body):
    raise_file_limit()
    closed = {"slow": 0, "idle": 0}
    opened = {"slow": 0, "idle": 0}

    async def slowloris():
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            return
        opened["slow"] += 1
        head = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 10000
        try:
            for byte in head:
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1), timeout=1.0) == b"":
                        closed["slow"] += 1
                        return
                except asyncio.TimeoutError:
                    pass
        except (ConnectionError, OSError):
            closed["slow"] += 1

    async def idle():
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            return
        opened["idle"] += 1
        try:
            writer.write(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            if await asyncio.wait_for(reader.read(1), timeout=seconds + 30) == b"":
                closed["idle"] += 1
        except (asyncio.TimeoutError, ConnectionError, OSError, asyncio.IncompleteReadError):
            closed["idle"] += 1

    def normal_client(stop_at):
        latencies, errors = [], 0
        sock = socket.create_connection((HOST, port))
        request = (
            f"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        while time.time() < stop_at:
            started = time.perf_counter()
            sock.sendall(request)
            status, _ = read_answer(sock, time.time() + 10)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
                sock.close()
                sock = socket.create_connection((HOST, port))
            time.sleep(0.005)
        sock.close()
        return latencies, errors

    tasks = [asyncio.create_task(idle()) for _ in range(idle_count)]
    tasks += [asyncio.create_task(slowloris()) for _ in range(slow_count)]
    await asyncio.sleep(1.0)
    latencies, errors = await asyncio.to_thread(normal_client, time.time() + seconds)
    await asyncio.wait(tasks, timeout=30)
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3)
    print(json.dumps({
        "requests": len(latencies), "errors": errors, "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(latencies[-1] * 1000, 3),
        "opened": opened, "closed_by_server": closed}))


def flood(port, count):
    raise_file_limit()
    sockets, closed_at_once = [], 0
    for _ in range(count):
        sock = socket.create_connection((HOST, port))
        sockets.append(sock)
    time.sleep(1.0)
    for sock in sockets:
        sock.setblocking(False)
        try:
            if sock.recv(1) == b"":
                closed_at_once += 1
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed_at_once += 1
    for sock in sockets:
        sock.close()
    time.sleep(0.5)
    sock = socket.create_connection((HOST, port))
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status, _ = read_answer(sock, time.time() + 5)
    print(json.dumps({"opened": count, "closed_at_once": closed_at_once, "health_after": status}))


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "oversized":
        oversized(port)
    elif kind == "slow":
        body = open(sys.argv[6], "rb").read()
        asyncio.run(slow(port, int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), body))
    elif kind == "flood":
        flood(port, int(sys.argv[3]))
