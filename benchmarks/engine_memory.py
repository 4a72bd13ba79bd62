"""Does memory stay flat over a long scan, in each engine? Resident memory sampled while
`artcheck check FOLDER --out X.jsonl` runs, at each quarter of the scan.

    python benchmarks/engine_memory.py --n 10000 --model DIR [--engines plain ray]

DIR is a detector folder; with a tiny exported model (tests/tiny_backbone.build_exported_detector,
as the default here) the scan is fast and the figure is the pipeline's own memory (queues, rows,
Ray's object store traffic), not the model's. RSS is summed over the CLI process, its children
and, for Ray, every ``ray::`` worker process. JSON in OUT/engine_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def family(root: int, ray: bool) -> set[int]:
    pids, out = {root}, set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text().split()
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[3]) in pids or (ray and (b"ray::" in cmd or b"raylet" in cmd or b"gcs_server" in cmd)):
            out.add(int(p.name))
    return pids | out


def run(folder: Path, n: int, model: str, engine: str, tmp: Path) -> dict:
    out = tmp / f"{engine}.jsonl"
    cmd = [sys.executable, "-m", "artcheck.cli", "check", str(folder), "--model", model, "--out", str(out), "-q"]
    if engine == "ray":
        cmd += ["--engine", "ray", "--actors", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marks, samples, t0 = {}, [], time.perf_counter()
    while proc.poll() is None:
        rows = out.read_bytes().count(b"\n") if out.exists() else 0
        mb = rss_mb(family(proc.pid, engine == "ray"))
        samples.append((round(time.perf_counter() - t0, 1), rows, round(mb)))
        for q in (0.25, 0.5, 0.75):
            if rows >= q * n and q not in marks:
                marks[q] = round(mb)
        time.sleep(1.0)
    rows = out.read_bytes().count(b"\n") if out.exists() else 0
    res = {"rows": rows, "seconds": round(time.perf_counter() - t0, 1), "rss_mb_at": {str(k): v for k, v in marks.items()},
           "peak_rss_mb": max((s[2] for s in samples), default=0), "exit": proc.returncode}
    print(engine, res, flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--model", default=None, help="detector folder (default: a tiny exported model built here)")
    ap.add_argument("--engines", nargs="*", default=["plain", "ray"])
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from tiny_backbone import build_exported_detector

            model = str(build_exported_detector(tmp / "tiny-model"))
        folder = tmp / "imgs"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(args.n):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i:06d}.png")
        result = {"n": args.n, "model": "tiny exported model" if args.model is None else args.model,
                  "engines": {e: run(folder, args.n, model, e, tmp) for e in args.engines}}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "engine_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}/engine_memory.json")


if __name__ == "__main__":
    main()
