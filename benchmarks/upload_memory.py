"""What concurrent large uploads cost the server's memory (issue 25: 16 uploads of 95 MB held
2.6 GB in 0.3.0, 2.2 GB of it kept after).

    python benchmarks/upload_memory.py [--uploads 16] [--mb 95] [--model default]

Starts `artcheck serve` on 127.0.0.1 (a free port), sends N concurrent multipart uploads of one
file of M MB each, and reports the status codes and the server process's resident memory
(VmHWM peak and VmRSS after) against its memory before. Loopback only; it stops by itself.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import free_port, multipart  # noqa: E402  (the load test's loopback helpers)


def status_of(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) // 1024
    return out


def post(port: int, mb: int, codes: Counter) -> None:
    body, ctype = multipart("big.png", b"\0" * (mb * 1024 * 1024))
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/check", data=body, method="POST",
                                 headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            codes[r.status] += 1
    except urllib.error.HTTPError as e:
        codes[e.code] += 1
    except OSError as e:
        codes[type(e).__name__] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uploads", type=int, default=16)
    ap.add_argument("--mb", type=int, default=95)
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "artcheck.cli", "serve", "--port", str(port), "--model",
                               args.model, "--max-file-mb", "100"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        before = status_of(server.pid)
        codes: Counter = Counter()
        threads = [threading.Thread(target=post, args=(port, args.mb, codes)) for _ in range(args.uploads)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(2)
        after = status_of(server.pid)
        result = {"uploads": args.uploads, "mb_each": args.mb, "status_codes": dict(codes),
                  "seconds": round(time.monotonic() - t0, 1), "server_rss_mb_before": before["VmRSS"],
                  "server_peak_mb": after["VmHWM"], "server_rss_mb_after": after["VmRSS"],
                  "command": "python benchmarks/upload_memory.py " + " ".join(sys.argv[1:])}
        print(json.dumps(result, indent=1))
        out = Path(__file__).resolve().parent / "results" / "upload_memory.json"
        out.write_text(json.dumps(result, indent=1) + "\n")
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
