"""Checking speed, every mode in one run: forward-only per arithmetic path, end to end per image
size, and memory as the folder grows. The CPU's model and flags are printed with every figure.

    python benchmarks/check_speed.py [--n 200] [--px 256 1024 4000] [--card src/artcheck/assets/default]

- forward-only: backbone + head on preprocessed arrays already in memory (no decoding), for
  each arithmetic path the backbone offers (``detect.arithmetic``; each forced in turn, with its
  largest P(ai) deviation from the float64 reference);
- end-to-end: Detector.check_many over N synthetic JPEGs of each size (decode, preprocess,
  provenance, inference, fusion), the code path of `artcheck check`, with the path the probe chose;
- peak RSS after a quarter, half and all of the largest run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from artcheck.data.synthetic import make_image
from artcheck.detect.arithmetic import cpu_info
from artcheck.detect.detector import load_detector

def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def forward_speed(det, arrays: np.ndarray, batch: int, seconds: float = 20.0) -> float:
    det._p_ai(arrays[:batch])      # warm-up
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        det._p_ai(arrays[:batch])
        n += batch
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="images per size, end to end")
    ap.add_argument("--px", type=int, nargs="*", default=[256, 1024, 4000], help="image sizes (long side)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--card", default=None, help="a detector folder whose model card gets these figures")
    args = ap.parse_args()
    info = cpu_info()
    print("CPU:", json.dumps(info), flush=True)
    det = load_detector(args.model)
    chosen = det.arithmetic.to_dict() if det.arithmetic else None
    arrays = np.stack([det.backbone.preprocess.to_uint8(make_image("ai", i, size=512)) for i in range(args.batch_size)])
    forward = {}
    paths = det.backbone.spec.arithmetic if chosen else ()
    for name in paths or ["default"]:
        if paths:
            from artcheck.detect.backbones import OnnxBackbone

            det.backbone = OnnxBackbone(det.backbone.spec, det.backbone.path, arithmetic=name)
        forward[name] = round(forward_speed(det, arrays, args.batch_size), 2)
        print(f"forward-only, {name}: {forward[name]} images/s", flush=True)
    det = load_detector(args.model)         # the path the probe chose, as `artcheck check` runs it
    end_to_end, memory = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for px in args.px:
            files = []
            for i in range(args.n):
                p = Path(tmp) / f"{px}-{i:05d}.jpg"
                img = make_image("ai" if i % 2 else "human", i, size=256)
                img.resize((px, px * 3 // 4)).save(p, quality=90)
                files.append(str(p))
            marks = {args.n // 4, args.n // 2, args.n} if px == max(args.px) else set()
            done, t = 0, time.perf_counter()
            for _ in det.check_many(files, batch_size=args.batch_size, workers=args.workers):
                done += 1
                if done in marks:
                    memory.append({"images": done, "px": px, "rss_mb": round(rss_mb(), 1),
                                   "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
            end_to_end[str(px)] = round(args.n / (time.perf_counter() - t), 2)
            print(f"end to end, {px}x{px * 3 // 4} JPEG: {end_to_end[str(px)]} images/s", flush=True)
            for f in files:
                os.unlink(f)
    result = {"cpu": info, "arithmetic": chosen, "forward_only_images_per_s": forward,
              "end_to_end_images_per_s": end_to_end, "n_per_size": args.n, "memory": memory,
              "batch_size": args.batch_size, "workers": args.workers,
              "command": "python benchmarks/check_speed.py " + " ".join(sys.argv[1:])}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "check_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
    if args.card:
        from artcheck.lab.card import store_in_card
        store_in_card(Path(args.card), "speed", result)


if __name__ == "__main__":
    main()
