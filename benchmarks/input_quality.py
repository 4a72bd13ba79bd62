"""How many real images the input-quality check (``artcheck.detect.quality``) would call out of
scope, per rule and per source, and what it does with inputs that are out of scope.

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
from artcheck.detect.backbones import get_spec
from artcheck.detect.quality import _grey, out_of_scope, roughness
from artcheck.images import ImageError, load_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
DEFAULT_DATA = [SHARED / "wild-dev", SHARED / "github-art", SHARED / "github-art-2",
                *sorted((ROOT / "data" / "extra").glob("*"))]


def probes() -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    ui = np.full((600, 800, 3), 240, np.uint8)
    ui[:40] = (50, 90, 160)
    ui[100:130, 50:300] = 30
    return {"16x16 flat square": Image.new("RGB", (16, 16), (200, 30, 30)),
            "flat 512x512": Image.new("RGB", (512, 512), (90, 90, 90)),
            "pixel noise 512x512": Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)),
            "UI-like screenshot 800x600": Image.fromarray(ui)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="*", default=[str(d) for d in DEFAULT_DATA if Path(d).exists()])
    args = ap.parse_args()
    pre = get_spec("clip-vit-b16").preprocess
    flagged, per_rule, n, rough = [], Counter(), 0, []
    for d in args.data:
        for r in read_dataset(d):
            try:
                loaded = load_image(r.path)
            except ImageError:
                continue
            arr = pre.to_uint8(loaded.image)
            n += 1
            rough.append(roughness(_grey(arr)))
            why = out_of_scope(loaded.width, loaded.height, arr)
            if why:
                flagged.append({"path": r.path, "source": r.source, "label": r.label, "why": why})
                per_rule[why.split(";")[0]] += 1
    out = {"images": n, "flagged": flagged, "per_rule": dict(per_rule),
           "roughness_quantiles": {q: float(np.quantile(rough, q)) for q in (0.5, 0.99, 0.999, 1.0)},
           "probes": {k: out_of_scope(*img.size, pre.to_uint8(img)) for k, img in probes().items()},
           "command": "python benchmarks/input_quality.py"}
    path = ROOT / "benchmarks" / "results" / "input_quality.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "flagged"}, indent=1))
    print(f"{len(flagged)} of {n} real images flagged:", *[f"  {f['source']}: {f['path']} ({f['why']})" for f in flagged],
          sep="\n")


if __name__ == "__main__":
    main()
