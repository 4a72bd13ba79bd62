"""Does removing "which source is this" directions from the features help on unseen sources?

    python benchmarks/style_projection.py [--k 0 4 8 16 32] [--folds 8]

Held out by source as benchmarks/recipes.py (the shipped recipe's features and head). In each
fold, on the training images only: standardise the features, take each training source's
mean within its class (AI or human) minus that class's mean, and find the top ``k``
directions of those source offsets (SVD). They are directions along which sources of one
label differ from each other: style, subject, a generator's look. Projecting them out before
fitting the logistic head asks it to separate AI from human by what the sources of each
label share. The projection is linear, so a head fitted after it is still one linear head
(it would ship as the same LinearProbe, at no cost at check time). k = 0 is the plain recipe.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pool import N_AUG, pool_data  # noqa: E402
from recipes import ALL_TOKENS, C, fold_units  # noqa: E402

from artcheck.detect.backbones import get_backbone  # noqa: E402
from artcheck.detect.probe import _sigmoid  # noqa: E402
from artcheck.lab.pool import FEATURE_SETS, ROBUST_VARIANT, columns, feature_views, holdout_units, training_manifest  # noqa: E402
from artcheck.lab.heads import _fit_probe  # noqa: E402
from artcheck.lab.folds import held_out_summary  # noqa: E402

MIN_PER_SOURCE = 5


def style_directions(Z: np.ndarray, y: np.ndarray, src: np.ndarray, k: int) -> np.ndarray:
    """Top-k directions (rows, orthonormal) of per-source mean offsets within each class."""
    offsets = []
    for c in (0, 1):
        in_c = y == c
        mu = Z[in_c].mean(0)
        for s in np.unique(src[in_c]):
            m = in_c & (src == s)
            if m.sum() >= MIN_PER_SOURCE:
                offsets.append((Z[m].mean(0) - mu) * np.sqrt(m.sum()))
    _u, _s, vt = np.linalg.svd(np.array(offsets), full_matrices=False)
    return vt[:k]


def run(views, y, src, units, cols, k) -> dict[str, np.ndarray]:
    out = {v: np.zeros(len(y)) for v in ("clean", ROBUST_VARIANT)}
    for u in np.unique(units):
        test, tr = units == u, units != u
        X = views["clean"][:, cols]
        mean, scale = X[tr].mean(0), X[tr].std(0) + 1e-6
        U = style_directions((X[tr] - mean) / scale, y[tr], src[tr], k) if k else np.zeros((0, len(cols)))

        def proj(A: np.ndarray) -> np.ndarray:
            Z = (A - mean) / scale
            return Z - (Z @ U.T) @ U

        keys = ["clean"]          # the shipped recipe has no augmentation
        probe = _fit_probe([proj(views[key][tr][:, cols]) for key in keys], y[tr], src[tr], True, C=C)
        for v in out:
            out[v][test] = probe.decision_function(proj(views[v][test][:, cols]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", nargs="+", type=int, default=[0, 4, 8, 16, 32])
    ap.add_argument("--folds", type=int, default=8, help="grouped folds of hold-out units (0: one per unit)")
    ap.add_argument("--out", default="benchmarks/results/style_projection.json")
    args = ap.parse_args()
    manifest = training_manifest(pool_data())
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    units = fold_units(holdout_units(src, np.array([r.group for r in manifest])), y, args.folds)
    views = feature_views(get_backbone("clip-vit-b16", fetch=True), [r.path for r in manifest], N_AUG)
    cols = columns(FEATURE_SETS[ALL_TOKENS])
    results = {}
    for k in args.k:
        t0 = time.perf_counter()
        lg = run(views, y, src, units, cols, k)
        res = {v: held_out_summary(y, _sigmoid(lg[v]), src) for v in lg}
        results[k] = {"clean": res["clean"], "robust": res[ROBUST_VARIANT], "seconds": time.perf_counter() - t0}
        c, r = res["clean"], res[ROBUST_VARIANT]
        print(f"k={k}: pooled {c['pooled']['balanced_accuracy']:.3f}/{c['pooled']['roc_auc']:.3f} macro "
              f"{c['macro']['balanced_accuracy']:.3f}/{c['macro']['roc_auc']:.3f} human->ai "
              f"{c['pooled']['human_called_ai']:.3f}; processed {r['pooled']['balanced_accuracy']:.3f}/"
              f"{r['pooled']['roc_auc']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
