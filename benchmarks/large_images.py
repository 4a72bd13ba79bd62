"""Peak memory of `artcheck check` on a folder of very large images (issue 15).

    python benchmarks/large_images.py [--n 20] [--megapixels 80] [--out benchmarks/results/large_images.json]

Writes N JPEGs of about --megapixels each (smooth colour fields with noise, so they compress
like photographs, distinct per image), then runs `artcheck check FOLDER --format jsonl` in a
child process and reads its peak resident memory (ru_maxrss of the child). Target: under
1.5 GB for twenty 80-megapixel images.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def big_jpeg(path: Path, side: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((side, side), 24).convert("RGB")
    Image.blend(img, noise, 0.15).save(path, quality=85)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--megapixels", type=float, default=80)
    ap.add_argument("--out", default="benchmarks/results/large_images.json")
    args = ap.parse_args()
    side = int((args.megapixels * 1e6) ** 0.5) - 8
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "big"
        folder.mkdir()
        t0 = time.perf_counter()
        for i in range(args.n):
            big_jpeg(folder / f"big-{i:02d}.jpg", side, i)
        made = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "artcheck.cli", "check", str(folder), "--format", "jsonl", "-q"],
                             capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    out = {"command": "python benchmarks/large_images.py " + " ".join(sys.argv[1:]), "n": args.n,
           "side_px": side, "megapixels": round(side * side / 1e6, 1), "exit_code": res.returncode,
           "checked": len(rows), "failed": sum(1 for r in rows if r["error"]), "peak_rss_mb": round(peak_mb, 1),
           "seconds": round(seconds, 1), "images_per_s": round(len(rows) / seconds, 3),
           "generate_seconds": round(made, 1), "target_peak_rss_mb": 1536, "met": peak_mb < 1536}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    if res.returncode not in (0, 1):
        print(res.stderr[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
