"""Family attribution: methods other than the shipped head, held out by source (issue 27).

    python benchmarks/attribution_alternatives.py    # about 16 minutes here once the pool's features are cached
                                                     # -> benchmarks/results/attribution_alternatives.json

The shipped head (a multinomial logistic regression on the detector's CLIP features) tells
families apart well within a source and badly across sources. Each row tries one idea against
that, with the same 5 folds over hold-out units as ``artcheck build-attribution``, on the same
named AI images (the shipped pool), every fit inside its fold:

- **source projection** (nuisance attribute projection): the directions along which sources of
  the same family differ (the top-k principal directions of the per-source means minus their
  family's mean) are projected out of the features before the head is fitted, so that what is
  left is less about a source's subjects and style;
- **nearest family mean**: each family the mean of its sources' means (every source the same
  weight), the answer the nearest by cosine; no fitted weights to overfit sources;
- **forensic features only**: the 28 weight-free traces of ``lab.forensic`` (spectrum rings,
  high-frequency share, noise residuals), which see the maker rather than the subject;
- **CLIP + forensic**: the shipped head's logits plus w x the forensic head's logits;
- **processed copies**: each training image also as its JPEG q60 + 0.75x copy (the detector's
  robustness view), so the head cannot lean on traces that processing removes;
- **the half tier's features** (the same CLIP on a checkerboard of half its patch tokens), alone
  and with their logits averaged with the shipped head's.

All rows temperature-calibrated on their held-out logits, macro over families with at least
3 sources, as docs/evaluation.md reports the shipped head.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import shipped_training_data, write_json  # noqa: E402

from artcheck.lab.attribution import (C, _logits, attribution_pool, attribution_rows, fit_family_head,  # noqa: E402
                                      head_fit, heldout_logits, heldout_metrics)
from artcheck.detect.backbones import get_backbone  # noqa: E402
from artcheck.lab.pool import ROBUST_VARIANT, columns, feature_views  # noqa: E402

FORENSIC_C = 1.0            # 28 standardised features: little to overfit
NAP_K = (10, 40)
FUSION_W = (0.25, 0.5, 1.0)


def source_directions(Xs: np.ndarray, fam: np.ndarray, src: np.ndarray, k: int) -> np.ndarray:
    """(k, D) orthonormal directions of the within-family spread of source means."""
    rows = []
    for f in np.unique(fam):
        means = np.stack([Xs[(fam == f) & (src == s)].mean(0) for s in np.unique(src[fam == f])])
        rows.append(means - means.mean(0))
    _, _, Vt = np.linalg.svd(np.concatenate(rows), full_matrices=False)
    return Vt[:k]


def projected_fit(X, fam, src, k):
    def fit(tr, te, classes):
        mean, scale = X[tr].mean(0), X[tr].std(0) + 1e-6
        Xtr, Xte = (X[tr] - mean) / scale, (X[te] - mean) / scale
        V = source_directions(Xtr, fam[tr], src[tr], k)
        Xtr, Xte = Xtr - (Xtr @ V.T) @ V, Xte - (Xte @ V.T) @ V
        return _logits(fit_family_head(Xtr, fam[tr], src[tr], C), Xte, classes)
    return fit


def nearest_mean_fit(X, fam, src):
    def fit(tr, te, classes):
        mean, scale = X[tr].mean(0), X[tr].std(0) + 1e-6
        Xtr, Xte = (X[tr] - mean) / scale, (X[te] - mean) / scale
        z = np.full((len(te), len(classes)), -np.inf)
        unit = Xte / np.linalg.norm(Xte, axis=1, keepdims=True)
        for f in np.unique(fam[tr]):
            in_f = fam[tr] == f
            c = np.mean([Xtr[in_f & (src[tr] == s)].mean(0) for s in np.unique(src[tr][in_f])], axis=0)
            z[:, classes.index(f)] = unit @ (c / np.linalg.norm(c))
        return z
    return fit


def augmented_fit(X, R, fam, src):
    """The shipped head fitted on each training image and its processed copy (``R``)."""
    def fit(tr, te, classes):
        return _logits(fit_family_head(np.concatenate([X[tr], R[tr]]), np.concatenate([fam[tr]] * 2),
                                       np.concatenate([src[tr]] * 2), C), X[te], classes)
    return fit


def forensic_matrix(paths: list[str]) -> np.ndarray:
    from artcheck.images import open_rgb
    from artcheck.lab.forensic import forensic_features
    from artcheck.progress import track

    return np.stack([forensic_features(open_rgb(p)) for p in track(paths, "forensic features")]).astype(np.float64)


def detector_columns() -> np.ndarray:
    cfg = json.loads((ROOT / "src" / "artcheck" / "assets" / "default" / "detector.json").read_text())
    return columns(cfg["feature_columns"])


def row(m: dict) -> dict:
    return {k: m[k] for k in ("macro_top1", "macro_top3", "pooled_top1", "pooled_top3", "ece_top")}


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    data = shipped_training_data()
    X, fam, src, units = attribution_pool(data)
    X = X[:, detector_columns()]                  # the columns the shipped head reads
    F = forensic_matrix([r.path for r in attribution_rows(data)])
    classes = sorted(set(fam))
    out, z = {}, {}

    def report(name: str, logits: np.ndarray) -> None:
        m = heldout_metrics(logits, fam, src)
        out[name] = {**row(m), "per_family_top1": {c: v["top1"] for c, v in m["per_family"].items()}}
        print(f"| {name} | {m['macro_top1']:.3f} | {m['macro_top3']:.3f} | {m['pooled_top1']:.3f} | "
              f"{m['pooled_top3']:.3f} | {m['ece_top']:.3f} |", flush=True)

    z["clip"] = heldout_logits(X, fam, units, head_fit(X, fam, src), classes, progress=False)
    report("the shipped head (CLIP features, C=0.01)", z["clip"])
    for k in NAP_K:
        report(f"source projection, k={k}", heldout_logits(X, fam, units, projected_fit(X, fam, src, k), classes,
                                                           progress=False))
    report("nearest family mean (cosine)", heldout_logits(X, fam, units, nearest_mean_fit(X, fam, src), classes,
                                                          progress=False))
    z["forensic"] = heldout_logits(F, fam, units, head_fit(F, fam, src, FORENSIC_C), classes, progress=False)
    report(f"forensic features only (C={FORENSIC_C:g})", z["forensic"])
    for w in FUSION_W:
        report(f"CLIP + {w:g} x forensic", z["clip"] + w * z["forensic"])
    paths = [r.path for r in attribution_rows(data)]
    R = feature_views(get_backbone("clip-vit-b16", fetch=True), paths, 0)[ROBUST_VARIANT][:, detector_columns()]
    report("clean + processed copies (JPEG q60 + 0.75x) in training", heldout_logits(
        X, fam, units, augmented_fit(X, R, fam, src), classes, progress=False))
    H = attribution_pool(data, tokens="checkerboard")[0][:, detector_columns()]
    z["half"] = heldout_logits(H, fam, units, head_fit(H, fam, src), classes, progress=False)
    report("the half tier's features (checkerboard tokens)", z["half"])
    report("mean of the shipped head's and the half-feature head's logits", (z["clip"] + z["half"]) / 2)
    write_json(ROOT / "benchmarks" / "results" / "attribution_alternatives.json",
               {"command": "python benchmarks/attribution_alternatives.py", "n": int(len(fam)), "rows": out})
