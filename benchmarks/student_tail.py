"""Does fine-tuning the fast tier's trunk help? MobileNetV2's last five stages trained, against the frozen student.

    python benchmarks/student_tail.py [--epochs 4] [--lr 3e-4]    # about 12 min here; results/student_tail.json

The shipped student (``models.student``, ``lab.fast``) is frozen: a linear head on per-channel mean and
std at eight depths. Fine-tuning the whole trunk once per held-out unit does not fit 2 cores, but its
last five stages (``features[14:19]``, 7 x 7 maps) do: the activations after stage 13 are computed
once per image and view (clean, one processed copy, JPEG q60 + 0.75x; about 6 min), and only stages
14-18 and the head are trained from them (about 1 min per fold). The early taps (1, 3, 6, 10, 13)
stay frozen statistics, so the model is the student with its late taps learned.

Protocol (the learners' one, ``benchmarks/learners.py``): the shipped detector's training pool, K = 5
folds over hold-out units (``lab.folds.unit_folds``), labels only, source-balanced loss, each epoch
drawing the clean or the processed copy of every image; pooled and macro over sources, clean and
after JPEG q60 + 0.75x, threshold 0.5 on the raw probability. The frozen baseline is the student's
recipe (``lab.fast.soft_probe``, C = 0.003, clean + processed copy) on the same folds.
BatchNorm keeps its ImageNet statistics (batches of 64 are too small to re-estimate them).
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

RESULTS = ROOT / "benchmarks" / "results" / "student_tail.json"
EARLY, FIRST_TRAINED = (1, 3, 6, 10, 13), 14
K, SEED, BATCH = 5, 0, 64


def cached_views(paths: list[str], folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """view -> (activations after stage 13 as float16 (N, 96, 14, 14), early tap statistics (N, 464))."""
    import torch

    from artcheck.detect.backbones import get_spec
    from artcheck.lab.pool import _robust, processed_copy
    from artcheck.models.student import StudentTrunk, channel_stats

    fns = {"clean": None, "aug1": processed_copy(1), "robust": _robust}
    pre = get_spec("mobilenet-v2").preprocess
    out = {}
    for view, fn in fns.items():
        fa, fe = folder / f"act13-{view}.npy", folder / f"early-{view}.npy"
        if not fa.exists():
            trunk = StudentTrunk().features.eval()
            acts, early = [], []
            for x in view_batches(paths, fn, pre, f"stage-13 activations, {view}"):
                parts = []
                with torch.no_grad():
                    for i in range(FIRST_TRAINED):
                        x = trunk[i](x)
                        if i in EARLY:
                            parts += channel_stats(x)
                acts.append(x.half().numpy())
                early.append(torch.cat(parts, 1).numpy())
            folder.mkdir(parents=True, exist_ok=True)
            np.save(fa, np.concatenate(acts))
            np.save(fe, np.concatenate(early))
        out[view] = (np.load(fa), np.load(fe))
    return out


def view_batches(paths: list[str], fn, pre, label: str, batch: int = 32):
    """Batches of ``paths`` as model input tensors: each image read, through the view ``fn`` (``(img, i) -> img``,
    or None for the clean image) and the preprocessing ``pre``, with a progress bar named ``label``."""
    import torch

    from artcheck.images import load_image
    from artcheck.progress import track

    for s in track(range(0, len(paths), batch), label):
        imgs = [load_image(p).image.convert("RGB") for p in paths[s:s + batch]]
        imgs = [fn(im, s + j) if fn else im for j, im in enumerate(imgs)]
        yield torch.from_numpy(pre.normalize(np.stack([pre.to_uint8(im) for im in imgs])))


def frozen_batchnorm_module():
    """An ``nn.Module`` base whose BatchNorm layers keep their ImageNet statistics and weights, in
    training too (call ``freeze_batchnorm()`` once the layers exist)."""
    from torch import nn

    class FrozenBatchNorm(nn.Module):
        def freeze_batchnorm(self) -> None:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.requires_grad_(False)

        def train(self, mode: bool = True):
            super().train(mode)
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
            return self

    return FrozenBatchNorm


def tail_model(early_mean: np.ndarray, early_std: np.ndarray, dims: int = 0):
    import torch
    from torch import nn

    from artcheck.models.student import StudentTrunk, channel_stats

    class Tail(frozen_batchnorm_module()):
        """Stages 14-18 (ImageNet weights, trainable) -> their tap statistics, beside the frozen early ones -> a
        logit (and, with ``dims``, that many CLIP coordinates: ``student_distill.py``)."""

        def __init__(self):
            super().__init__()
            self.stages = nn.ModuleList(StudentTrunk().features[FIRST_TRAINED:19])
            self.register_buffer("mean", torch.tensor(early_mean))
            self.register_buffer("std", torch.tensor(early_std))
            late = 2 * (160 * 3 + 320 + 1280)       # taps 14, 15, 16 (160 channels), 17, 18
            self.norm = nn.LayerNorm(late, elementwise_affine=False)
            self.head = nn.Linear(len(early_mean) + late, 1)
            self.proj = nn.Linear(len(early_mean) + late, dims) if dims else None
            self.freeze_batchnorm()

        def taps(self, act, early):
            """(the early tap statistics as given, the trained stages' tap statistics)"""
            parts = []
            for stage in self.stages:
                act = stage(act)
                parts += channel_stats(act)
            return early, torch.cat(parts, 1)

        def joined(self, early, late):
            """The head's input from the two tap groups."""
            return torch.cat([(early - self.mean) / self.std, self.norm(late)], 1)

        def forward(self, act, early, with_proj: bool = False):
            h = self.joined(*self.taps(act, early))
            return (self.head(h)[:, 0], self.proj(h)) if with_proj else self.head(h)[:, 0]

    return Tail()


def label_and_feature_loss(logit, y, wt, z=None, target=None, weight: float = 0.0):
    """Weighted binary cross-entropy on the label, plus ``weight`` x the mean squared error of ``z`` against
    ``target`` (the CLIP coordinates) when a target is given: the loss of every student benchmark."""
    import torch
    import torch.nn.functional as F

    loss = (F.binary_cross_entropy_with_logits(logit, torch.tensor(y, dtype=torch.float32), reduction="none") * wt).mean()
    if target is not None:
        loss = loss + weight * F.mse_loss(z, torch.from_numpy(target))
    return loss


def train_tail(views, rows, y, w, epochs: int, lr: float, seed: int, target=None, weight: float = 0.0):
    """Stages 14-18 and the head trained on ``rows``; with ``target`` ((N, dims) CLIP coordinates,
    ``student_distill.pca_targets``) and ``weight`` > 0 a feature loss beside the label's."""
    import torch

    torch.manual_seed(seed)
    e = views["clean"][1][rows]
    distil = target is not None and weight > 0
    model = tail_model(e.mean(0), e.std(0) + 1e-6, target.shape[1] if distil else 0)
    heads = list(model.head.parameters()) + (list(model.proj.parameters()) if distil else [])
    opt = torch.optim.AdamW([{"params": [p for p in model.stages.parameters() if p.requires_grad], "lr": lr},
                             {"params": heads, "lr": 10 * lr}], weight_decay=0.05)
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
            act, early = torch.from_numpy(act.astype(np.float32)), torch.from_numpy(early)
            logit, z = model(act, early, with_proj=True) if distil else (model(act, early), None)
            loss = label_and_feature_loss(logit, y[rows[b]], wt[b], z, target[rows[b]] if distil else None, weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def _scores(model, view, rows):
    import torch

    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(view[0][rows[s:s + 256]].astype(np.float32)),
                                     torch.from_numpy(view[1][rows[s:s + 256]])).numpy()
                               for s in range(0, len(rows), 256)])


def frozen_taps(views, view: str) -> np.ndarray:
    """The shipped student's eight-tap statistics, from the cached activations through the frozen stages."""
    return np.concatenate([views[view][1], _late_stats(views[view][0])], 1)


def _late_stats(acts: np.ndarray) -> np.ndarray:
    import torch

    from artcheck.models.student import TAPS, StudentTrunk, channel_stats

    stages = StudentTrunk().features[FIRST_TRAINED:19].eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(acts), 256):
            x, parts = torch.from_numpy(acts[s:s + 256].astype(np.float32)), []
            for i, stage in enumerate(stages, FIRST_TRAINED):
                x = stage(x)
                if i in TAPS:
                    parts += channel_stats(x)
            out.append(torch.cat(parts, 1).numpy())
    return np.concatenate(out)


def summary_row(name: str, y, src, clean, robust, seconds: float, **extra) -> dict:
    """One printed results row: held-out logits, clean and after JPEG q60 + 0.75x, pooled and macro."""
    from artcheck.detect.probe import _sigmoid
    from artcheck.lab.folds import held_out_summary

    s, r = held_out_summary(y, _sigmoid(clean), src), held_out_summary(y, _sigmoid(robust), src)
    row = {"method": name, "seconds": round(seconds), **extra,
           **{f"{scope} {k}": round(s[scope][k], 3) for scope in ("pooled", "macro")
              for k in ("balanced_accuracy", "roc_auc")},
           **{f"robust {scope} balanced_accuracy": round(r[scope]["balanced_accuracy"], 3)
              for scope in ("pooled", "macro")}}
    print(row, flush=True)
    return row


def frozen_baseline(views, folds, y, src, n_folds: int) -> dict:
    """The shipped student's recipe (labels only) on the cached taps, the first ``n_folds`` folds scored."""
    taps = {v: frozen_taps(views, v) for v in views}
    return probe_taps("frozen student (shipped recipe, labels only)", taps, folds, y, src, n_folds)


def probe_taps(name: str, taps: dict[str, np.ndarray], folds, y, src, n_folds: int = K) -> dict:
    """The shipped student's recipe (``lab.fast.soft_probe``, labels only) fitted on the clean and processed
    ``taps`` of each fold's training rows, its results row on the first ``n_folds`` folds held out."""
    from artcheck.lab.fast import soft_probe

    t0 = time.perf_counter()
    clean, robust = np.zeros(len(y)), np.zeros(len(y))
    for k in range(n_folds):
        tr, te = folds != k, folds == k
        probe = soft_probe([taps["clean"][tr], taps["aug1"][tr]], y[tr], y[tr].astype(float), src[tr])
        clean[te], robust[te] = probe.decision_function(taps["clean"][te]), probe.decision_function(taps["robust"][te])
    scored = folds < n_folds
    return summary_row(name, y[scored], src[scored], clean[scored], robust[scored], time.perf_counter() - t0,
                       **({"folds": n_folds} if n_folds < K else {}))


def student_pool():
    """(paths, labels, sources, the 5 unit folds, source-balanced weights) of the shipped detector's pool:
    what every student benchmark trains and scores on."""
    from artcheck.lab.folds import unit_folds
    from artcheck.lab.heads import source_weights
    from artcheck.lab.pool import holdout_units, training_manifest

    manifest = training_manifest(shipped_training_data())
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    folds = unit_folds(y, holdout_units(src, np.array([r.group for r in manifest])), K, SEED)
    w = source_weights(y, src) * np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    return [r.path for r in manifest], y, src, folds, w


def tail_cache(folder: str | None = None) -> Path:
    """Where the stage-13 activations are cached (``--cache`` or artcheck's cache)."""
    from artcheck.detect.weights import cache_dir

    return Path(folder) if folder else cache_dir().parent / "student_tail"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, nargs="+", default=[4])
    ap.add_argument("--lr", type=float, default=3e-4, help="the stages' peak learning rate (the head's is 10x)")
    ap.add_argument("--cache", default=None, help="folder for the cached activations (default: artcheck's cache)")
    args = ap.parse_args()

    from artcheck.detect.arithmetic import cpu_info

    paths, y, src, folds, w = student_pool()
    views = cached_views(paths, tail_cache(args.cache))

    def summary(name, clean, robust, seconds):
        return summary_row(name, y, src, clean, robust, seconds)

    rows_out = [frozen_baseline(views, folds, y, src, K)]
    clean, robust = np.zeros(len(y)), np.zeros(len(y))
    for epochs in args.epochs:
        t0 = time.perf_counter()
        for k in range(K):
            tr, te = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
            model = train_tail(views, tr, y, w[tr], epochs, args.lr, SEED + k)
            clean[te], robust[te] = _scores(model, views["clean"], te), _scores(model, views["robust"], te)
        rows_out.append(summary(f"stages 14-18 trained, {epochs} epochs, lr {args.lr:g}", clean, robust,
                                time.perf_counter() - t0))
    write_json(RESULTS, {"cpu": cpu_info(), "n": len(y), "k": K, "seed": SEED, "rows": rows_out,
                         "command": "python benchmarks/student_tail.py " + " ".join(sys.argv[1:])})


if __name__ == "__main__":
    main()
