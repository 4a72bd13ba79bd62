"""Recompute the model card's leave-one-generator-family-out table with the reviewed family table
(``artcheck.families``), from cached features, without rebuilding the head.

    python scripts/refresh_family_table.py [--card src/artcheck/assets/default]

The head, calibration and band stay as built; only ``metrics.lofo_ai`` changes (its LOSO column
needs the held-out scores, so leave-one-source-out runs again: about 8 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    from pool import pool_data

    from artcheck.detect.backbones import get_backbone
    from artcheck.detect.probe import LinearProbe, _sigmoid
    from artcheck.lab.build_detector import DEFAULT_RECIPE
    from artcheck.lab.pool import feature_views, generator_family, training_manifest
    from artcheck.lab.folds import lofo_ai_logits, loso_logits
    from artcheck.lab.card import model_card

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--card", default=str(ROOT / "src" / "artcheck" / "assets" / "default"))
    args = ap.parse_args()
    folder = Path(args.card)
    cfg = json.loads((folder / "detector.json").read_text())
    manifest = training_manifest(cfg.get("data") and [str(ROOT / d) if not Path(d).is_absolute() else d
                                                      for d in cfg["data"]] or pool_data())
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    groups = np.array([r.group for r in manifest])
    families = np.array([generator_family(r.generator) if r.target == 1 else "" for r in manifest])
    views = feature_views(get_backbone(cfg["backbone"], fetch=True), [r.path for r in manifest], 0, False)
    a, b = LinearProbe.load(folder / cfg["head"]).platt
    calibrate = lambda z: _sigmoid(a * z + b)  # noqa: E731
    p_cal = calibrate(loso_logits(views, y, src, DEFAULT_RECIPE, 0, ("clean",), groups=groups)["clean"])
    hi = cfg["uncertain_band"][1]
    fam_logits = lofo_ai_logits(views, y, src, families, DEFAULT_RECIPE, 0, groups)
    cfg["metrics"]["lofo_ai"] = {
        f: {"n": int(len(z)), "called_ai_at_0.5": float(np.mean(calibrate(z) >= 0.5)),
            "called_ai_at_band": float(np.mean(calibrate(z) >= hi)),
            "loso_called_ai_at_0.5": float(np.mean(p_cal[(families == f) & (y == 1)] >= 0.5))}
        for f, z in fam_logits.items()}
    (folder / "detector.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (folder / "MODEL_CARD.md").write_text(model_card(cfg))
    for f, r in cfg["metrics"]["lofo_ai"].items():
        print(f"{f:16s} n={r['n']:4d} LOFO {r['called_ai_at_0.5']:.3f}  LOSO {r['loso_called_ai_at_0.5']:.3f}")


if __name__ == "__main__":
    main()
