"""Train the detector's probe on one set of sources and score another it never saw.

    python scripts/extra_sources.py
    python benchmarks/new_sources.py \
        --train ../shared/data/wild-dev data/extra/widelands-photos \
        --test data/extra/flare-portraits data/extra/stellarium-art data/extra/opencv-photos

The question it answers: before a kind of image was added to the training data, what did
a detector built without it say about it? Uses the same features, processing augmentation
and probe as ``artcheck build-detector`` (features are cached, so a second run is quick).
Prints, per held-out source and recipe, the share classified correctly at P(ai) = 0.5.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from artcheck.lab import perturb  # noqa: E402
from artcheck.detect.backbones import get_backbone  # noqa: E402
from artcheck.lab.pool import FEATURE_SETS, _features, check_not_reserved, columns  # noqa: E402
from artcheck.data import Manifest, read_dataset  # noqa: E402
from artcheck.detect.probe import LinearProbe  # noqa: E402

RECIPES = ("CLS of blocks 1,3,..,11", "mean patch of blocks 1,3,..,11")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--test", nargs="+", required=True)
    ap.add_argument("--augment-copies", type=int, default=2)
    args = ap.parse_args()
    train, test = (Manifest([r for d in ds for r in read_dataset(d)]) for ds in (args.train, args.test))
    check_not_reserved(train)
    backbone = get_backbone("clip-vit-b16", fetch=True)

    def views(m: Manifest) -> list[np.ndarray]:
        paths = [r.path for r in m]
        out = [_features(backbone, "", paths, "clean", None, None)]
        for k in range(args.augment_copies):
            out.append(_features(backbone, "", paths, f"proc{k + 1}",
                                 lambda img, i, k=k: perturb.random_processing(img, perturb.image_seed(img, k + 1)),
                                 None))
        return out

    Xtr, Xte = views(train), views(test)[0]
    y, groups = np.array([r.target for r in train]), np.array([r.source for r in train])
    yte, src = np.array([r.target for r in test]), np.array([r.source for r in test])
    print(f"trained on {len(train)} images from {len(set(groups))} sources; scoring {len(test)} images")
    print("| recipe | " + " | ".join(f"{s} ({'ai' if yte[src == s].mean() > 0.5 else 'human'}, n={np.sum(src == s)})"
                                     for s in sorted(set(src))) + " |")
    print("|---|" + "---|" * len(set(src)))
    for name in RECIPES:
        cols = columns(FEATURE_SETS[name])
        n = len(Xtr)
        probe = LinearProbe().fit(np.concatenate([X[:, cols] for X in Xtr]), np.concatenate([y] * n),
                                  groups=np.concatenate([groups] * n))
        z = probe.decision_function(Xte[:, cols])
        acc = {s: float(np.mean((z[src == s] > 0) == (yte[src == s] == 1))) for s in sorted(set(src))}
        print(f"| {name} | " + " | ".join(f"{a:.2f}" for a in acc.values()) + " |")


if __name__ == "__main__":
    main()
