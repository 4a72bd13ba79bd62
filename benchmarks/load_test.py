"""Load test of `artcheck serve` on loopback: N concurrent clients for T seconds.

    python benchmarks/load_test.py --clients 4 --seconds 120 [--model default] [--out benchmarks/results]

Starts the server as a subprocess on 127.0.0.1 (a free port), waits for /healthz, then
runs N client threads that POST one 512x512 JPEG each to /v1/check in a loop until T
seconds pass (and at most --max-requests in all). Reports requests/s, p50/p99 latency,
errors by status, and the server's resident memory sampled every second (first
minute vs last minute) to show whether it stays flat. Loopback only; bounded in time
and count; it stops by itself.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

from artcheck.data.synthetic import make_image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--max-requests", type=int, default=5000)
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "artcheck.cli", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--model", args.model, "--max-queue", str(args.clients)],
                              stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if json.load(urllib.request.urlopen(base + "/healthz", timeout=2))["model_loaded"]:
                    break
            except (OSError, ValueError):
                time.sleep(0.5)
        images = []
        for i in range(16):
            buf = io.BytesIO()
            make_image("ai" if i % 2 else "human", i, size=512).save(buf, format="JPEG", quality=90)
            images.append(buf.getvalue())
        latencies, statuses, lock = [], Counter(), threading.Lock()
        memory: list[tuple[float, float]] = []
        stop_at, sent = time.time() + args.seconds, [0]

        def client(k: int) -> None:
            i = k
            while time.time() < stop_at:
                with lock:
                    if sent[0] >= args.max_requests:
                        return
                    sent[0] += 1
                body, ctype = multipart(f"{i}.jpg", images[i % len(images)])
                req = urllib.request.Request(base + "/v1/check", data=body, headers={"Content-Type": ctype})
                t = time.perf_counter()
                try:
                    with urllib.request.urlopen(req, timeout=120) as r:
                        r.read()
                        code = r.status
                except urllib.error.HTTPError as e:
                    code = e.code
                except OSError:
                    code = -1
                with lock:
                    latencies.append(time.perf_counter() - t)
                    statuses[code] += 1
                i += args.clients

        def sampler() -> None:
            t0 = time.time()
            while time.time() < stop_at + 1:
                memory.append((time.time() - t0, rss_mb(server.pid)))
                time.sleep(1)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        threads.append(threading.Thread(target=sampler))
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - t0
    finally:
        server.terminate()
        server.wait(20)
    lat = np.array(latencies) * 1000
    first = [m for s, m in memory if s <= 60]
    last = [m for s, m in memory if s >= memory[-1][0] - 60]
    result = {"clients": args.clients, "seconds": round(elapsed, 1), "requests": len(latencies),
              "requests_per_s": round(len(latencies) / elapsed, 2),
              "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
              "statuses": dict(statuses), "errors": sum(v for k, v in statuses.items() if k != 200),
              "server_rss_mb": {"first_minute_max": round(max(first), 1), "last_minute_max": round(max(last), 1),
                                "peak": round(max(m for _, m in memory), 1)},
              "cpus": os.cpu_count()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "load_test.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
