"""Does the fast tier's student learn more from the default's features than from its scores?

    python benchmarks/student_distill.py [--epochs 4] [--weight 1]    # about 11 min per weight here once the caches exist; results/student_distill.json

The shipped student (``models.student``, ``lab.fast``) learns from one number per image: the label,
softened by the default's P(ai). ``student_tail.py`` and ``student_full.py`` found that training its
trunk on that number fits the training sources and gains nothing held out. This gives the trunk a
far richer target: the default's own features. MobileNetV2's last five stages (from
``student_tail.py``'s cached stage-13 activations) learn to regress the CLIP features the default's
head reads (its 18,432 columns, standardised on the training rows and projected on their top
``--dims`` principal directions), beside the label. The CLIP target is the clean image's, also for
the processed copy, so the student is taught to see through processing as well. The CLIP tower was
never trained on the pool, so the target carries no label.

Two readings of each trained tail, held out:
- its own label output (``logit``);
- the shipped student's recipe (``lab.fast.soft_probe``, labels only, C = 0.003) on the trained
  tail's tap statistics (``probe on learned taps``): what a rebuilt fast tier would ship.

Protocol and folds are ``student_tail.py``'s (5 folds over hold-out units, labels only unless named,
pooled and macro, clean and after JPEG q60 + 0.75x, threshold 0.5). ``--weight 0`` is the
labels-only tail of ``student_tail.py``, read the same two ways.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import write_json  # noqa: E402
from student_tail import K, SEED, cached_views, frozen_baseline, student_pool, summary_row, tail_cache, train_tail  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "student_distill.json"


def pca_targets(T: np.ndarray, rows: np.ndarray, dims: int) -> np.ndarray:
    """Every row's coordinates on the top ``dims`` principal directions of the standardised
    training rows, scaled to unit mean square (fitted on ``rows`` only)."""
    mean, scale = T[rows].mean(0), T[rows].std(0) + 1e-6
    Zr = (T[rows] - mean) / scale
    w, U = np.linalg.eigh(Zr @ Zr.T)                 # the Gram matrix: n x n, not D x D
    top = np.argsort(w)[::-1][:dims]
    V = (U[:, top].T @ Zr) / np.sqrt(np.maximum(w[top], 1e-12))[:, None]
    Z = ((T - mean) / scale) @ V.T
    return (Z / np.sqrt((Z[rows] ** 2).mean())).astype(np.float32)


def clip_targets(paths: list[str]) -> np.ndarray:
    """The clean CLIP features the default's head reads, of every image (cached)."""
    from attribution_alternatives import detector_columns

    from artcheck.detect.backbones import get_backbone
    from artcheck.lab.pool import feature_views

    return feature_views(get_backbone("clip-vit-b16", fetch=True), paths, 0)["clean"][:, detector_columns()]


def read(model, view, rows):
    """(label logits, the tail's tap statistics) of ``rows`` of one cached view."""
    import torch

    logits, taps = [], []
    with torch.no_grad():
        for s in range(0, len(rows), 256):
            act = torch.from_numpy(view[0][rows[s:s + 256]].astype(np.float32))
            early = torch.from_numpy(view[1][rows[s:s + 256]])
            early, late = model.taps(act, early)            # the stages run once for both readings
            logits.append(model.head(model.joined(early, late))[:, 0].numpy())
            taps.append(torch.cat([early, late], 1).numpy())
    return np.concatenate(logits), np.concatenate(taps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-4, help="the stages' peak learning rate (the heads' is 10x)")
    ap.add_argument("--weight", type=float, nargs="+", default=[1.0],
                    help="weights of the feature loss beside the label's (0: labels only)")
    ap.add_argument("--dims", type=int, default=64, help="principal directions of the CLIP features regressed")
    ap.add_argument("--folds", type=int, default=K, help=f"score only the first N of the {K} folds (quicker, noisier)")
    ap.add_argument("--cache", default=None, help="folder for the cached activations (default: artcheck's cache)")
    args = ap.parse_args()

    from artcheck.detect.arithmetic import cpu_info
    from artcheck.lab.fast import soft_probe

    paths, y, src, folds, w = student_pool()
    views = cached_views(paths, tail_cache(args.cache))
    T = clip_targets(paths)
    scored = folds < args.folds

    rows_out = [frozen_baseline(views, folds, y, src, args.folds)]
    for weight in args.weight:
        t0 = time.perf_counter()
        out = {k: np.zeros(len(y)) for k in ("logit", "logit_robust", "probe", "probe_robust")}
        for k in range(args.folds):
            tr, te = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
            target = pca_targets(T, tr, args.dims)
            model = train_tail(views, tr, y, w[tr], args.epochs, args.lr, SEED + k, target, weight)
            out["logit"][te], taps_te = read(model, views["clean"], te)
            out["logit_robust"][te], taps_rob = read(model, views["robust"], te)
            taps_tr, taps_aug = read(model, views["clean"], tr)[1], read(model, views["aug1"], tr)[1]
            probe = soft_probe([taps_tr, taps_aug], y[tr], y[tr].astype(float), src[tr])
            out["probe"][te], out["probe_robust"][te] = probe.decision_function(taps_te), probe.decision_function(taps_rob)
        name = f"feature loss x {weight:g}, {args.dims} dims, {args.epochs} epochs"
        for reading in ("logit", "probe"):
            rows_out.append(summary_row(f"{name}: {'its label output' if reading == 'logit' else 'probe on learned taps'}",
                                        y[scored], src[scored], out[reading][scored], out[reading + "_robust"][scored],
                                        time.perf_counter() - t0, weight=weight, dims=args.dims, epochs=args.epochs))
    command = "python benchmarks/student_distill.py " + " ".join(sys.argv[1:])
    for row in rows_out[1:]:
        row["command"] = command
    write_json(RESULTS, {"cpu": cpu_info(), "n": len(y), "k": K, "folds_scored": args.folds, "seed": SEED,
                         "rows": merged_rows(rows_out, args.folds)})


def merged_rows(new: list[dict], folds: int) -> list[dict]:
    """The rows of earlier runs (same folds scored) that this run did not redo, then this run's: each run
    adds its settings to the file instead of replacing the others'."""
    old = []
    if RESULTS.exists():
        earlier = json.loads(RESULTS.read_text())
        if earlier.get("folds_scored") == folds:
            old = earlier["rows"]
    names = {r["method"] for r in new}
    return new[:1] + [r for r in old[1:] if r["method"] not in names] + new[1:]


if __name__ == "__main__":
    main()
