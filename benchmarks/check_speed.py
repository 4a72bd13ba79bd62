"""End-to-end vs forward-only throughput of the detector, and memory as the folder grows.

    python benchmarks/check_speed.py --n 2000 [--sizes 500 1000 2000] [--out benchmarks/results]
                                     [--card src/artcheck/assets/default]

Generates N synthetic 512x512 JPEGs (a fresh temp folder), then:
- forward-only: backbone + head on preprocessed arrays already in memory (no decoding);
- end-to-end: Detector.check_many over the file paths (decode, preprocess, provenance,
  inference, fusion), the same code path as `artcheck check`;
- peak RSS of the process after each of --sizes images, to show memory stays flat.
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
from artcheck.detect.detector import load_detector


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--card", default=None, help="a detector folder whose model card gets these figures")
    args = ap.parse_args()
    sizes = sorted(set(args.sizes or [args.n // 4, args.n // 2, args.n]))
    det = load_detector(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.n):
            p = Path(tmp) / f"{i:06d}.jpg"
            make_image("ai" if i % 2 else "human", i, size=512).save(p, quality=90)
            paths.append(str(p))
        arrays = np.stack([det.backbone.preprocess.to_uint8(make_image("ai", i, size=512)) for i in range(64)])
        det._p_ai(arrays[: args.batch_size])   # warm-up
        t = time.perf_counter()
        n_fwd = 0
        while n_fwd < min(args.n, 256):
            det._p_ai(arrays[: args.batch_size])
            n_fwd += args.batch_size
        forward = n_fwd / (time.perf_counter() - t)
        memory, done, t = [], 0, time.perf_counter()
        for v in det.check_many(paths, batch_size=args.batch_size, workers=args.workers):
            done += 1
            if done in sizes:
                memory.append({"images": done, "rss_mb": round(rss_mb(), 1),
                               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
        end_to_end = args.n / (time.perf_counter() - t)
    result = {"n": args.n, "forward_only_images_per_s": round(forward, 2),
              "end_to_end_images_per_s": round(end_to_end, 2), "ratio": round(end_to_end / forward, 3),
              "memory": memory, "batch_size": args.batch_size, "workers": args.workers, "cpus": __import__("os").cpu_count()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "check_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
    if args.card:
        from artcheck.lab.build_detector import store_in_card
        store_in_card(Path(args.card), "speed", {**result, "command": "python benchmarks/check_speed.py "
                                                                        + " ".join(sys.argv[1:])})


if __name__ == "__main__":
    main()
