"""How much of the CLIP tower a fast tier needs (issue 23, point 4): the shipped probe recipe on
the CLS and mean patch tokens of only the first B blocks, under the learners' protocol (K = 5
folds over hold-out units, pooled and macro, clean and after JPEG q60 + 0.75x). A tower cut after
B blocks costs about B / 12 of the full one's transformer time.

    python benchmarks/truncated_tower.py     # a few minutes on cached features; results/truncated_tower.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import shipped_training_data, write_json  # noqa: E402

from artcheck.lab import pool as P  # noqa: E402

BLOCKS = (4, 6, 8, 10, 12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    from artcheck.detect.backbones import get_backbone
    from artcheck.detect.probe import _sigmoid
    from artcheck.lab.build_detector import DEFAULT_RECIPE
    from artcheck.lab.folds import held_out_summary, unit_folds
    from artcheck.lab.heads import fit_head

    man = P.training_manifest(shipped_training_data())
    y, src = np.array([r.target for r in man]), np.array([r.source for r in man])
    folds = unit_folds(y, P.holdout_units(src, np.array([r.group for r in man])), 5, 0)
    views = P.feature_views(get_backbone("clip-vit-b16", fetch=True), [r.path for r in man], 0, True)
    out = {}
    for nb in BLOCKS:
        name = f"CLS + mean patch of the first {nb} blocks"
        P.FEATURE_SETS[name] = [P._block(i, p) for i in range(nb) for p in ("cls", "mean")]
        recipe = type(DEFAULT_RECIPE)(name, augment=False, balance_sources=True, head="logreg", C=DEFAULT_RECIPE.C)
        oof = {v: np.zeros(len(y)) for v in ("clean", P.ROBUST_VARIANT)}
        for f in range(5):
            te = folds == f
            model, cols = fit_head(views, np.flatnonzero(~te), y, src, recipe, 1)
            for v in oof:
                oof[v][te] = model.decision_function(np.asarray(views[v])[te][:, cols])
        clean, robust = (held_out_summary(y, _sigmoid(oof[v]), src) for v in oof)
        out[nb] = {"clean": clean, "jpeg60+0.75x": robust}
        print(f"{nb:2d} blocks: pooled {clean['pooled']['balanced_accuracy']:.3f} / {clean['pooled']['roc_auc']:.3f}, "
              f"macro {clean['macro']['balanced_accuracy']:.3f} / {clean['macro']['roc_auc']:.3f}, after JPEG q60 + "
              f"0.75x {robust['pooled']['balanced_accuracy']:.3f}", flush=True)
    write_json(ROOT / "benchmarks" / "results" / "truncated_tower.json",
               {"command": "python benchmarks/truncated_tower.py", "k": 5, "blocks": out})


if __name__ == "__main__":
    main()
