"""Are small originals, upscaled, called AI? A failure-mode check on the training sources only.

    python scripts/extra_sources.py
    python benchmarks/small_originals.py          # about 8 minutes (CLIP features of two variants)

wild-dev-style data is normalised by resizing every original to 384 px (Lanczos), a WebP q90
round trip and 256 px. An original smaller than 384 px is upscaled on the way. This script
simulates such originals from the training images themselves: each 256 px image is shrunk to
SIZE px (Lanczos), then put through that same pipeline, so the picture is the same and only
its resampling history differs. Every image is scored by the shipped recipe's probe trained
without its source (leave-one-source-out, as in ``artcheck build-detector``). Printed per
source: the share called AI (P >= 0.5) as is, and after the shrink and upscale. No reserved
source is read. Writes benchmarks/results/small_originals.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from artcheck.lab import perturb  # noqa: E402
from artcheck.detect.backbones import get_backbone  # noqa: E402
from artcheck.lab.heads import Recipe  # noqa: E402
from artcheck.lab.pool import _features  # noqa: E402
from artcheck.lab.folds import loso_logits  # noqa: E402
from common import shipped_training_data, training_pool, write_json  # noqa: E402
from second_backbone import SHIPPED, views_of  # noqa: E402

PIPELINE_SIZE, OUT_SIZE, WEBP_Q = 384, 256, 90    # wild-dev's normalisation (its README)


def small_original(size: int):
    def fn(img: Image.Image, i: int) -> Image.Image:
        lanczos = Image.Resampling.LANCZOS
        small = img.resize((size, size), lanczos)
        big = perturb.webp(small.resize((PIPELINE_SIZE, PIPELINE_SIZE), lanczos), WEBP_Q)
        return big.resize((OUT_SIZE, OUT_SIZE), lanczos)
    return fn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", help="sources (default: the shipped build's)")
    ap.add_argument("--sizes", nargs="+", type=int, default=[150, 100], help="simulated original sizes, px")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/small_originals.json"))
    args = ap.parse_args()
    args.data = args.data or shipped_training_data()   # resolved here, so --help works without the data
    paths, y, src = training_pool(args.data)
    clip = get_backbone("clip-vit-b16", fetch=True)
    views = views_of(clip, paths, 2)
    names = [f"small{s}" for s in args.sizes]
    for s, name in zip(args.sizes, names):
        views[name] = _features(clip, clip.spec.name, paths, name, small_original(s), None)
    lg = loso_logits(views, y, src, Recipe(SHIPPED, True), 2, ("clean", *names))
    result = {"command": "python benchmarks/small_originals.py", "data": args.data, "sizes": args.sizes,
              "called_ai": {}}
    print(f"{'source':26s} {'label':6s} {'n':>4s}  called AI: as is  " + "  ".join(f"{s} px" for s in args.sizes))
    for s in sorted(set(src)):
        m = src == s
        shares = {v: float((lg[v][m] >= 0).mean()) for v in ("clean", *names)}
        label = "ai" if y[m].mean() > 0.5 else "human"
        result["called_ai"][s] = {"label": label, "n": int(m.sum()), **shares}
        print(f"{s:26s} {label:6s} {m.sum():4d}  {shares['clean']:17.2f}  "
              + "  ".join(f"{shares[v]:6.2f}" for v in names))
    for label, c in (("human", 0), ("ai", 1)):
        shares = {v: float((lg[v][y == c] >= 0).mean()) for v in ("clean", *names)}
        result["called_ai"][f"all {label}"] = shares
        print(f"{'all ' + label:26s} {'':6s} {(y == c).sum():4d}  {shares['clean']:17.2f}  "
              + "  ".join(f"{shares[v]:6.2f}" for v in names))
    write_json(Path(args.out), result)


if __name__ == "__main__":
    main()
