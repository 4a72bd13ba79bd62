"""Does fine-tuning the fast tier's whole trunk help? Every MobileNetV2 stage trained, against the frozen student.

    python benchmarks/student_full.py [--epochs 3] [--lr 1e-4]    # about 45 min here; results/student_full.json
    python benchmarks/student_full.py --distill 1                 # with the CLIP feature loss; results/student_full_distill.json

``benchmarks/student_tail.py`` trained the last five stages from cached activations and found no gain;
this trains all 19 stages end to end, which the tail measurement could not rule out: the early
stages (112 and 56 px maps) are where pixel-level traces of a generator would be. The inputs
(224 px, ImageNet-normalised, exactly the student's preprocessing) are decoded once per image and
view (clean, one processed copy, JPEG q60 + 0.75x) and kept as uint8 arrays in artcheck's cache.

The model is the shipped student with every weight trainable: the eight taps' per-channel mean and
std (``models.student``), standardised with the frozen trunk's statistics on the training rows, and
one linear layer. BatchNorm keeps its ImageNet statistics and affine weights (batches of 32 are too
small to re-estimate them); channels-last memory layout (1.6x faster training here).

Protocol: ``student_tail.py``'s (the learners' one): the shipped detector's training pool, K = 5 folds
over hold-out units, labels only, source-balanced loss, each epoch drawing the clean or the processed
copy of every image; pooled and macro over sources, clean and after JPEG q60 + 0.75x, threshold 0.5.
The frozen baseline is recomputed from ``student_tail.py``'s cached activations on the same folds.
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
from common import write_json  # noqa: E402
from student_tail import (K, SEED, cached_views, frozen_baseline, frozen_batchnorm_module,  # noqa: E402
                          label_and_feature_loss, student_pool, summary_row, tail_cache)

RESULTS = ROOT / "benchmarks" / "results" / "student_full.json"
BATCH = 32


def cached_inputs(paths: list[str], folder: Path) -> dict[str, np.ndarray]:
    """view -> the student's uint8 input of every image, (N, 224, 224, 3), memory-mapped."""
    from artcheck.images import load_image
    from artcheck.lab.pool import _robust, processed_copy
    from artcheck.lab.fast import student_preprocess
    from artcheck.detect.preprocess import PreprocessConfig as Preprocess
    from artcheck.progress import track

    pre = Preprocess.from_dict(student_preprocess())
    fns = {"clean": None, "aug1": processed_copy(1), "robust": _robust}
    out = {}
    for view, fn in fns.items():
        f = folder / f"input224-{view}.npy"
        if not f.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f"input224-{view}.partial.npy"
            arr = np.lib.format.open_memmap(tmp, "w+", np.uint8, (len(paths), 224, 224, 3))
            for i in track(range(len(paths)), f"student inputs, {view}"):
                im = load_image(paths[i]).image.convert("RGB")
                arr[i] = pre.to_uint8(fn(im, i) if fn else im)
            arr.flush()
            del arr
            tmp.rename(f)
        out[view] = np.load(f, mmap_mode="r")
    return out


def _tensor(pre, x_uint8: np.ndarray):
    import torch

    return torch.from_numpy(pre.normalize(np.ascontiguousarray(x_uint8))).contiguous(memory_format=torch.channels_last)


def full_model(mean: np.ndarray, std: np.ndarray, dims: int = 0):
    import torch
    from torch import nn

    from artcheck.models.student import FEATURE_DIM, StudentTrunk

    class Full(frozen_batchnorm_module()):
        """The student's trunk, every weight trainable, -> standardised tap statistics -> a logit."""

        def __init__(self):
            super().__init__()
            self.trunk = StudentTrunk()
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
            self.head = nn.Linear(FEATURE_DIM, 1)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
            self.proj = nn.Linear(FEATURE_DIM, dims) if dims else None     # the CLIP coordinates (--distill)
            self.freeze_batchnorm()

        def forward(self, x, with_proj: bool = False):
            h = (self.trunk(x) - self.mean) / self.std
            return (self.head(h)[:, 0], self.proj(h)) if with_proj else self.head(h)[:, 0]

    return Full().to(memory_format=torch.channels_last)


def _features(model, pre, inputs, rows) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([model(_tensor(pre, inputs[rows[s:s + 64]])).numpy()
                               for s in range(0, len(rows), 64)])


def train_full(pre, inputs, rows, y, w, epochs: int, lr: float, seed: int, target=None, weight: float = 0.0):
    """``target``: (N, dims) CLIP coordinates (``student_distill.pca_targets``) the taps also regress,
    with ``weight`` beside the label's loss."""
    import torch

    from artcheck.models.student import StudentTrunk
    from artcheck.progress import track

    torch.manual_seed(seed)
    frozen = StudentTrunk().eval().to(memory_format=torch.channels_last)
    taps = _features(frozen, pre, inputs["clean"], rows)
    distil = target is not None and weight > 0
    model = full_model(taps.mean(0), taps.std(0) + 1e-6, target.shape[1] if distil else 0)
    heads = list(model.head.parameters()) + (list(model.proj.parameters()) if distil else [])
    opt = torch.optim.AdamW([{"params": [p for p in model.trunk.parameters() if p.requires_grad], "lr": lr},
                             {"params": heads, "lr": 10 * lr}], weight_decay=0.05)
    steps = epochs * -(-len(rows) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [lr, 10 * lr], total_steps=steps)
    rng, wt = np.random.default_rng(seed), torch.tensor(w / w.mean(), dtype=torch.float32)
    model.train()
    losses = []
    for epoch in range(epochs):
        order = rng.permutation(len(rows))
        for s in track(range(0, len(order), BATCH), f"epoch {epoch + 1}/{epochs}"):
            b = order[s:s + BATCH]
            aug = rng.random(len(b)) < 0.5
            idx = rows[b]
            x = np.where(aug[:, None, None, None], inputs["aug1"][idx], inputs["clean"][idx])
            logit, z = model(_tensor(pre, x), with_proj=True) if distil else (model(_tensor(pre, x)), None)
            loss = label_and_feature_loss(logit, y[idx], wt[b], z, target[idx] if distil else None, weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        print(f"  epoch {epoch + 1}: mean training loss {np.mean(losses[-(len(order) // BATCH):]):.3f}", flush=True)
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-4, help="the trunk's peak learning rate (the head's is 10x)")
    ap.add_argument("--folds", type=int, default=K, help="run only the first N of the K folds (a quick look)")
    ap.add_argument("--distill", type=float, default=0.0,
                    help="weight of a loss regressing the default's CLIP features beside the label's "
                         "(benchmarks/student_distill.py); 0: labels only")
    ap.add_argument("--dims", type=int, default=64, help="principal directions of the CLIP features regressed")
    ap.add_argument("--cache", default=None, help="folder for the cached inputs (default: artcheck's cache)")
    args = ap.parse_args()

    import torch

    from artcheck.detect.arithmetic import cpu_info
    from artcheck.detect.preprocess import PreprocessConfig as Preprocess
    from artcheck.detect.weights import cache_dir
    from artcheck.lab.fast import student_preprocess

    torch.set_num_threads(max(1, torch.get_num_threads()))
    paths, y, src, folds, w = student_pool()
    cache = Path(args.cache) if args.cache else cache_dir().parent / "student_full"
    inputs = cached_inputs(paths, cache)
    pre = Preprocess.from_dict(student_preprocess())
    scored = np.isin(folds, range(args.folds))

    T = None
    if args.distill:
        from student_distill import clip_targets, pca_targets

        T = clip_targets(paths)
    rows_out = [frozen_baseline(cached_views(paths, tail_cache()), folds, y, src, args.folds)]
    clean, robust = np.zeros(len(y)), np.zeros(len(y))
    t0 = time.perf_counter()
    for k in range(args.folds):
        tr, te = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        print(f"fold {k + 1}/{args.folds}: {len(tr)} training images, {len(te)} held out", flush=True)
        target = pca_targets(T, tr, args.dims) if T is not None else None
        model = train_full(pre, inputs, tr, y, w[tr], args.epochs, args.lr, SEED + k, target, args.distill)
        clean[te], robust[te] = _features(model, pre, inputs["clean"], te), _features(model, pre, inputs["robust"], te)
    name = f"whole trunk trained, {args.epochs} epochs, lr {args.lr:g}" + (
        f", CLIP feature loss x {args.distill:g} ({args.dims} dims)" if args.distill else "")
    rows_out.append(summary_row(name, y[scored], src[scored], clean[scored], robust[scored], time.perf_counter() - t0,
                                folds=args.folds))
    write_json(RESULTS.with_name("student_full_distill.json") if args.distill else RESULTS,
               {"cpu": cpu_info(), "n": int(scored.sum()), "k": K, "seed": SEED, "rows": rows_out,
                "command": "python benchmarks/student_full.py " + " ".join(sys.argv[1:])})


if __name__ == "__main__":
    main()
