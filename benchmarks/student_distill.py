"""Does the fast tier's student learn more from the default's features than from its scores?

    python benchmarks/student_distill.py [--epochs 4] [--weight 1]    # about 20 min here; results/student_distill.json

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
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import shipped_training_data, write_json  # noqa: E402
from student_tail import (BATCH, FIRST_TRAINED, K, SEED, cached_views, frozen_baseline,  # noqa: E402
                          frozen_batchnorm_module, summary_row)

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


def distill_model(early_mean: np.ndarray, early_std: np.ndarray, dims: int):
    import torch
    from torch import nn

    from artcheck.models.student import StudentTrunk, channel_stats

    class Distilled(frozen_batchnorm_module()):
        """Stages 14-18 (trainable) -> tap statistics beside the frozen early ones -> a logit and ``dims`` CLIP coordinates."""

        def __init__(self):
            super().__init__()
            self.stages = nn.ModuleList(StudentTrunk().features[FIRST_TRAINED:19])
            self.register_buffer("mean", torch.tensor(early_mean))
            self.register_buffer("std", torch.tensor(early_std))
            late = 2 * (160 * 3 + 320 + 1280)       # taps 14, 15, 16 (160 channels), 17, 18
            self.norm = nn.LayerNorm(late, elementwise_affine=False)
            self.head = nn.Linear(len(early_mean) + late, 1)
            self.proj = nn.Linear(len(early_mean) + late, dims)
            self.freeze_batchnorm()

        def taps(self, act, early):
            parts = []
            for stage in self.stages:
                act = stage(act)
                parts += channel_stats(act)
            return early, torch.cat(parts, 1)

        def forward(self, act, early):
            early, late = self.taps(act, early)
            h = torch.cat([(early - self.mean) / self.std, self.norm(late)], 1)
            return self.head(h)[:, 0], self.proj(h)

    return Distilled()


def train_distilled(views, rows, y, w, target, epochs: int, lr: float, weight: float, seed: int):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    e = views["clean"][1][rows]
    model = distill_model(e.mean(0), e.std(0) + 1e-6, target.shape[1])
    opt = torch.optim.AdamW([{"params": [p for p in model.stages.parameters() if p.requires_grad], "lr": lr},
                             {"params": list(model.head.parameters()) + list(model.proj.parameters()), "lr": 10 * lr}],
                            weight_decay=0.05)
    steps = epochs * -(-len(rows) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [lr, 10 * lr], total_steps=steps)
    rng, wt = np.random.default_rng(seed), torch.tensor(w / w.mean(), dtype=torch.float32)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(rows))
        for s in range(0, len(order), BATCH):
            b = order[s:s + BATCH]
            aug = rng.random(len(b)) < 0.5
            act = np.where(aug[:, None, None, None], views["aug1"][0][rows[b]], views["clean"][0][rows[b]])
            early = np.where(aug[:, None], views["aug1"][1][rows[b]], views["clean"][1][rows[b]])
            logit, z = model(torch.from_numpy(act.astype(np.float32)), torch.from_numpy(early))
            loss = (F.binary_cross_entropy_with_logits(logit, torch.tensor(y[rows[b]], dtype=torch.float32),
                                                       reduction="none") * wt[b]).mean()
            if weight:
                loss = loss + weight * F.mse_loss(z, torch.from_numpy(target[rows[b]]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def read(model, view, rows):
    """(label logits, the tail's tap statistics) of ``rows`` of one cached view."""
    import torch

    logits, taps = [], []
    with torch.no_grad():
        for s in range(0, len(rows), 256):
            act = torch.from_numpy(view[0][rows[s:s + 256]].astype(np.float32))
            early = torch.from_numpy(view[1][rows[s:s + 256]])
            logits.append(model(act, early)[0].numpy())
            taps.append(torch.cat(model.taps(act, early), 1).numpy())
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
    from artcheck.detect.backbones import get_backbone
    from artcheck.detect.weights import cache_dir
    from artcheck.lab.fast import soft_probe
    from artcheck.lab.folds import unit_folds
    from artcheck.lab.heads import source_weights
    from artcheck.lab.pool import feature_views, holdout_units, training_manifest
    from attribution_alternatives import detector_columns

    manifest = training_manifest(shipped_training_data())
    paths = [r.path for r in manifest]
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    folds = unit_folds(y, holdout_units(src, np.array([r.group for r in manifest])), K, SEED)
    views = cached_views(paths, Path(args.cache) if args.cache else cache_dir().parent / "student_tail")
    T = feature_views(get_backbone("clip-vit-b16", fetch=True), paths, 0)["clean"][:, detector_columns()]
    w = source_weights(y, src) * np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    scored = folds < args.folds

    rows_out = [frozen_baseline(views, folds, y, src, args.folds)]
    for weight in args.weight:
        t0 = time.perf_counter()
        out = {k: np.zeros(len(y)) for k in ("logit", "logit_robust", "probe", "probe_robust")}
        for k in range(args.folds):
            tr, te = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
            target = pca_targets(T, tr, args.dims)
            model = train_distilled(views, tr, y, w[tr], target, args.epochs, args.lr, weight, SEED + k)
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
    write_json(RESULTS, {"cpu": cpu_info(), "n": len(y), "k": K, "folds_scored": args.folds, "seed": SEED,
                         "rows": rows_out, "command": "python benchmarks/student_distill.py " + " ".join(sys.argv[1:])})


if __name__ == "__main__":
    main()
