"""How many real images the input-quality check (``artcheck.detect.quality``) would call out of
scope, per rule and per source, and what the default detector answers for inputs that are out of
scope (its screenshot check is measured by ``artcheck build-screenshot-check``: docs/benchmarks.md).

    python benchmarks/input_quality.py [--data DIR ...]   # default: the training pool and github-art-2

Writes benchmarks/results/input_quality.json. The check's limits are right when the real
images flagged are none (or a handful, each named here) and every probe is flagged.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from artcheck.data import read_dataset
from artcheck.data.synthetic import screenshot
from artcheck.detect.backbones import get_spec
from artcheck.detect.detector import load_detector
from artcheck.detect.quality import _grey, out_of_scope, roughness
from artcheck.images import ImageError, load_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
DEFAULT_DATA = [SHARED / "wild-dev", SHARED / "github-art", SHARED / "github-art-2",
                *sorted((ROOT / "data" / "extra").glob("*"))]


def probes() -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    return {"16x16 flat square": Image.new("RGB", (16, 16), (200, 30, 30)),
            "flat 512x512": Image.new("RGB", (512, 512), (90, 90, 90)),
            "pixel noise 512x512": Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)),
            **{f"made-up program window 640x480 (seed {s})": screenshot(seed=s) for s in range(3)}}


def pixel_statistics(arr: np.ndarray) -> tuple[float, float]:
    """Two cheap screenshot cues on the 224-px input: the share of pixels flat with their right and
    lower neighbours (within 1 grey level), and the share of the four commonest colours (32 levels)."""
    g = _grey(arr)
    dx, dy = np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0))
    flat = float(((dx[:-1] <= 1) & (dy[:, :-1] <= 1)).mean())
    q = (arr // 8).reshape(-1, 3).astype(np.int32) @ np.array([1024, 32, 1])
    return flat, float(np.sort(np.bincount(q))[::-1][:4].sum() / len(q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="*", default=[str(d) for d in DEFAULT_DATA if Path(d).exists()])
    args = ap.parse_args()
    pre = get_spec("clip-vit-b16").preprocess
    flagged, per_rule, n, rough, stats = [], Counter(), 0, [], []
    for d in args.data:
        for r in read_dataset(d):
            try:
                loaded = load_image(r.path)
            except ImageError:
                continue
            arr = pre.to_uint8(loaded.image)
            n += 1
            rough.append(roughness(_grey(arr)))
            stats.append(pixel_statistics(arr))
            why = out_of_scope(loaded.width, loaded.height, arr)
            if why:
                flagged.append({"path": r.path, "source": r.source, "label": r.label, "why": why})
                per_rule[why.split(";")[0]] += 1
    # why screenshots are not found by pixel statistics: the pool's clipart, pixel art and comics
    # overlap real screenshots on both cues (data/screenshots: python scripts/screenshot_sources.py)
    shots = ROOT / "data" / "screenshots"
    cues = {"training pool": np.array(stats)}
    if shots.is_dir():
        cues["screenshots"] = np.array([pixel_statistics(pre.to_uint8(load_image(p).image))
                                        for p in sorted(shots.glob("*/*")) if p.suffix in (".png", ".jpg")])
    quantiles = (0.1, 0.5, 0.9)
    out = {"images": n, "flagged": flagged, "per_rule": dict(per_rule),
           "screenshot_cues": {k: {"n": len(v), **{f"{cue} q{int(q * 100)}": round(float(np.quantile(v[:, j], q)), 3)
                                                    for j, cue in enumerate(("flat share", "top-4 colour share"))
                                                    for q in quantiles}} for k, v in cues.items()},
           "roughness_quantiles": {q: float(np.quantile(rough, q)) for q in (0.5, 0.99, 0.999, 1.0)},
           # the probes through the whole default detector: the pixel rules above, then its screenshot check
           "probes": {k: v.reason for k, v in zip(probes(), load_detector().check(list(probes().values())))},
           "command": "python benchmarks/input_quality.py"}
    path = ROOT / "benchmarks" / "results" / "input_quality.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "flagged"}, indent=1))
    print(f"{len(flagged)} of {n} real images flagged:", *[f"  {f['source']}: {f['path']} ({f['why']})" for f in flagged],
          sep="\n")


if __name__ == "__main__":
    main()
