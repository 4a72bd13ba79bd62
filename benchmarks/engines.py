"""Where `artcheck check` spends its time, and what the Ray engine costs on this machine.

    python benchmarks/engines.py --n 2000 [--model default] [--skip-ray] [--parts profile,forward,e2e]

1. Stage profile, one image at a time on one thread, per image size (256, 512, 1024 px JPEGs):
   decode (``load_image``), provenance (``collect_evidence``), preprocessing (the model's resize),
   forward (backbone + head).
2. The forward pass's limit on this machine: one ONNX Runtime session using every core, and
   one single-threaded session per core run side by side (the detector's CLIP graph quantises
   activations per batch, so images go through it one at a time either way).
3. End to end, one run each on the same folder of N 512-px JPEGs, as users run them:
   ``artcheck check FOLDER --out X.jsonl -q`` with the plain engine, then ``--engine ray`` with
   1 and 2 actors (each a fresh process: Ray's start-up is counted). Peak RSS of the plain run.
JSON in OUT/engines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from artcheck.data.synthetic import make_image
from artcheck.detect.detector import load_detector
from artcheck.images import load_image
from artcheck.provenance import collect_evidence

SIZES = (256, 512, 1024)


def _folder(root: Path, n: int, size: int) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = root / f"{i:06d}.jpg"
        if not p.exists():
            make_image("ai" if i % 2 else "human", i, size=size).save(p, quality=90)
        paths.append(str(p))
    return paths


def profile(det, tmp: Path, per_size: int) -> dict:
    out = {}
    for size in SIZES:
        paths = _folder(tmp / f"p{size}", per_size, size)
        t = dict.fromkeys(("decode", "provenance", "preprocess", "forward"), 0.0)
        for p in paths:
            t0 = time.perf_counter()
            loaded = load_image(p)
            t1 = time.perf_counter()
            collect_evidence(loaded)
            t2 = time.perf_counter()
            arr = det.preprocess.to_uint8(loaded.image)
            t3 = time.perf_counter()
            det.predict_arrays(arr[None])
            t4 = time.perf_counter()
            for k, a, b in (("decode", t0, t1), ("provenance", t1, t2), ("preprocess", t2, t3), ("forward", t3, t4)):
                t[k] += b - a
        ms = {k: round(1000 * v / len(paths), 1) for k, v in t.items()}
        out[str(size)] = {"ms_per_image": ms, "share": {k: round(v / sum(t.values()), 3) for k, v in t.items()}}
        print(f"{size} px: " + ", ".join(f"{k} {v} ms" for k, v in ms.items()), flush=True)
    return out


def forward_limit(model: str, seconds: float = 40.0, rounds: int = 2) -> dict:
    """Images/s of the forward pass alone: one session with all cores vs one 1-thread session per
    core, measured in alternation (A B A B) so drift in the machine's speed hits both."""
    cores = os.cpu_count() or 1
    arr = np.stack([load_detector(model).preprocess.to_uint8(make_image("ai", i, size=512)) for i in range(8)])
    setups = {"one session, all cores": (1, cores), f"{cores} sessions x 1 thread": (cores, 1)}
    loaded = {}
    for label, (sessions, threads) in setups.items():
        loaded[label] = [load_detector(model, threads=threads) for _ in range(sessions)]
        for d in loaded[label]:
            d.predict_arrays(arr[:1])
    res: dict[str, list[float]] = {label: [] for label in setups}
    for _ in range(rounds):
        for label, dets in loaded.items():
            counts = [0] * len(dets)
            stop = time.perf_counter() + seconds

            def run(k, dets=dets, counts=counts, stop=stop):
                while time.perf_counter() < stop:
                    dets[k].predict_arrays(arr[counts[k] % 8:counts[k] % 8 + 1])
                    counts[k] += 1
            threads_ = [threading.Thread(target=run, args=(k,)) for k in range(len(dets))]
            t0 = time.perf_counter()
            for th in threads_:
                th.start()
            for th in threads_:
                th.join()
            res[label].append(round(sum(counts) / (time.perf_counter() - t0), 2))
            print(f"forward only, {label}: {res[label][-1]} images/s", flush=True)
    return res


def end_to_end(folder: Path, n: int, model: str, tmp: Path, skip_ray: bool) -> dict:
    runs = {"plain": []}
    if not skip_ray:
        runs.update({"ray, 1 actor": ["--engine", "ray", "--actors", "1"],
                     "ray, 2 actors": ["--engine", "ray", "--actors", "2"]})
    res = {}
    for label, extra in runs.items():
        out = tmp / f"{label.replace(' ', '').replace(',', '-')}.jsonl"
        cmd = [sys.executable, "-m", "artcheck.cli", "check", str(folder), "--model", model, "--out", str(out), "-q",
               *extra]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        rows = sum(1 for _ in open(out)) if out.exists() else 0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        res[label] = {"seconds": round(wall, 1), "images_per_s": round(rows / wall, 2), "rows": rows,
                      "exit": proc.returncode, "peak_rss_mb_children_so_far": round(peak)}
        print(f"{label}: {rows} rows in {wall:.0f} s = {rows / wall:.2f} images/s (exit {proc.returncode})", flush=True)
        if proc.returncode not in (0, 1):
            print(proc.stderr[-2000:], file=sys.stderr)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="images in the end-to-end folder")
    ap.add_argument("--per-size", type=int, default=40, help="images per size in the stage profile")
    ap.add_argument("--model", default="default")
    ap.add_argument("--seconds", type=float, default=40.0, help="duration of each forward-limit measurement")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--parts", default="profile,forward,e2e", help="comma-separated: profile, forward, e2e")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    out_json = Path(args.out) / "engines.json"
    result = json.loads(out_json.read_text()) if out_json.is_file() and parts != {"profile", "forward", "e2e"} else {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        result.update({"n": args.n, "cpus": os.cpu_count()})
        if "profile" in parts:
            det = load_detector(args.model, threads=1)
            result.update(model=det.model_info, profile_one_thread=profile(det, tmp, args.per_size))
            del det
        if "forward" in parts:
            result["forward_limit_images_per_s"] = forward_limit(args.model, args.seconds)
        if "e2e" in parts:
            folder = tmp / "e2e"
            _folder(folder, args.n, 512)
            result.setdefault("end_to_end", {}).update(end_to_end(folder, args.n, args.model, tmp, args.skip_ray))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}/engines.json")


if __name__ == "__main__":
    main()
