"""Checking speed, every mode in one run: forward-only per arithmetic path, end to end per image
size, and memory as the folder grows. The CPU's model and flags are printed with every figure.

    python benchmarks/check_speed.py [--n 200] [--px 256 1024 4000] [--models default fast cascade]
                                     [--rss-images 10000] [--card src/artcheck/assets/default]

- forward-only: backbone + head on preprocessed arrays already in memory (no decoding), for
  each arithmetic path the backbone offers (``detect.arithmetic``; each forced in turn, with its
  largest P(ai) deviation from the float64 reference);
- end-to-end: Detector.check_many over N synthetic JPEGs of each size (decode, preprocess,
  provenance, inference, fusion), the code path of `artcheck check`, with the path the probe chose;
- with ``--rss-images N``: RSS after every tenth of N images checked in one stream (after every
  model's speed figures, so those are not taken beside a long run);
- the cascade: end to end only, with the share of images it sent on to the default (synthetic
  images: the share on real ones is in the fast tier's card, held out).
"""

from __future__ import annotations

import argparse
import json
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


def _jpegs(tmp: str, px: int, n: int) -> list[str]:
    files = []
    for i in range(n):
        p = Path(tmp) / f"{px}-{i:05d}.jpg"
        if not p.exists():
            img = make_image("ai" if i % 2 else "human", i, size=256)
            img.resize((px, px * 3 // 4)).save(p, quality=90)
        files.append(str(p))
    return files


def measure(model: str, args, tmp: str) -> dict:
    """Forward-only per arithmetic path, end to end per size, RSS over the largest run, for one model."""
    det = load_detector(model)
    chosen = det.arithmetic.to_dict() if det.arithmetic else None
    forward = {}
    if hasattr(det, "_p_ai"):            # a single model (the cascade is two: its figure is end to end)
        arrays = np.stack([det.backbone.preprocess.to_uint8(make_image("ai", i, size=512))
                           for i in range(args.batch_size)])
        paths = det.backbone.spec.arithmetic if chosen else ()
        for name in paths or ["as stored"]:
            if paths:
                det.backbone = det.backbone.with_arithmetic(name)
            forward[name] = round(forward_speed(det, arrays, args.batch_size, args.seconds), 2)
            print(f"{model}: forward-only, {name}: {forward[name]} images/s", flush=True)
        det = load_detector(model)         # the path the probe chose, as `artcheck check` runs it
    end_to_end, memory, escalated = {}, [], {}
    for px in args.px:
        files = _jpegs(tmp, px, args.n)
        seen0, esc0 = getattr(det, "seen", 0), getattr(det, "escalated", 0)
        t = time.perf_counter()
        for _ in det.check_many(files, batch_size=args.batch_size, workers=args.workers):
            pass
        end_to_end[str(px)] = round(args.n / (time.perf_counter() - t), 2)
        if hasattr(det, "seen"):
            escalated[str(px)] = round((det.escalated - esc0) / max(det.seen - seen0, 1), 3)
        print(f"{model}: end to end, {px}x{px * 3 // 4} JPEG: {end_to_end[str(px)]} images/s"
              + (f" ({escalated[str(px)]:.0%} escalated)" if escalated else ""), flush=True)
    return {"arithmetic": chosen, "forward_only_images_per_s": forward, "end_to_end_images_per_s": end_to_end,
            "escalated_share": escalated or None, "memory": memory}


def measure_memory(model: str, args, tmp: str) -> list[dict]:
    """RSS after every tenth of ``--rss-images`` 256-px JPEGs checked in one stream (500 files, cycled)."""
    det, memory = load_detector(model), []
    if args.rss_images:
        files = _jpegs(tmp, 256, min(args.rss_images, 500))
        marks = sorted({args.rss_images // 10 * k for k in range(1, 11)})
        done, t = 0, time.perf_counter()
        stream = (files[i % len(files)] for i in range(args.rss_images))
        for _ in det.check_many(stream, batch_size=args.batch_size, workers=args.workers):
            done += 1
            if done in marks:
                memory.append({"images": done, "rss_mb": round(rss_mb(), 1),
                               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
        print(f"{model}: {args.rss_images} images in {time.perf_counter() - t:.0f} s; RSS (MB) "
              + ", ".join(f"{m['images']}: {m['rss_mb']}" for m in memory), flush=True)
    return memory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="images per size, end to end")
    ap.add_argument("--px", type=int, nargs="*", default=[256, 1024, 4000], help="image sizes (long side)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0, help="forward-only: seconds per path")
    ap.add_argument("--models", nargs="*", default=["default"], help="default, fast, cascade or detector folders")
    ap.add_argument("--rss-images", type=int, default=0, help="also check this many 256-px JPEGs (500 files, "
                    "cycled) and record RSS after every tenth of them")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--card", nargs="*", default=[], help="detector folders whose model cards get these figures")
    args = ap.parse_args()
    info = cpu_info()
    print("CPU:", json.dumps(info), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    models: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        # speeds first, for every model; then the long memory runs (whose own pace is not a figure)
        steps = [(m, "speed") for m in args.models] + [(m, "memory") for m in args.models if args.rss_images]
        for m, step in steps:
            if step == "speed":
                models[m] = measure(m, args, tmp)
            else:
                models[m]["memory"] = measure_memory(m, args, tmp)
            first = models[args.models[0]]
            result = {"cpu": info, **first, "models": models, "n_per_size": args.n, "batch_size": args.batch_size,
                      "workers": args.workers, "command": "python benchmarks/check_speed.py " + " ".join(sys.argv[1:])}
            # after each model, so a run stopped part way keeps what it measured
            (Path(args.out) / "check_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
    from artcheck.lab.card import store_in_card

    for card in args.card:
        store_in_card(Path(card), "speed", result)


if __name__ == "__main__":
    main()
