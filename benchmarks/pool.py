"""The training pool of the default detector, shared by the build command line, the recipe
comparison and the evaluation benchmarks: wild-dev, github-art and the extra package sources.

    python benchmarks/pool.py --extract     # fill the feature cache for every image and view
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SHARED = ROOT.parent / "shared" / "data"
EXTRA = ROOT / "data" / "extra"
EXTRA_SOURCES = ("widelands-photos", "flare-portraits", "wesnoth-portraits", "stellarium-art", "opencv-photos",
                 "openclipart-drawings", "renpy-question", "gcompris-drawings", "gcompris-photos")
N_AUG = 1


def pool_data() -> list[str]:
    data = [str(SHARED / "wild-dev"), str(SHARED / "github-art")] + [str(EXTRA / s) for s in EXTRA_SOURCES]
    missing = [d for d in data if not Path(d).is_dir()]
    if missing:
        raise SystemExit(f"missing training data {missing}: the extra sources come from "
                         "'python scripts/extra_sources.py'; the shared sets from ../shared/data")
    return data


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--extract", action="store_true")
    args = ap.parse_args()
    from artcheck.detect.backbones import get_backbone
    from artcheck.lab.pool import feature_views, training_manifest

    manifest = training_manifest(pool_data())
    print(f"{len(manifest)} images from {len({r.source for r in manifest})} sources")
    if args.extract:
        views = feature_views(get_backbone("clip-vit-b16", fetch=True), [r.path for r in manifest], N_AUG, True)
        print({k: v.shape for k, v in views.items()})
