"""``train(cfg) -> RunResult``: the training loop for torch models.

Reproducible on CPU (same seed, same result), early stopping on validation loss, the
best checkpoint always on disk (Ctrl-C keeps it), a progress bar, and a run directory
holding everything needed to evaluate, predict or export later.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from artcheck.data import leave_one_out, read_dataset, split_manifest, subset
from artcheck.data.manifest import Manifest, Record
from artcheck.data.scan import ScanResult, scan
from artcheck.detect.preprocess import PreprocessConfig
from artcheck.images import load_image
from artcheck.lab import perturb, runs
from artcheck.lab.config import TrainConfig, parse_perturb
from artcheck.labels import CLASSES, parse_classes
from artcheck.models import create_model
from artcheck.progress import console, progress_enabled

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    best_epoch: int
    best_val_loss: float
    history: list[dict] = field(default_factory=list)
    interrupted: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)


def pixel_fn(preprocess: PreprocessConfig, grayscale: bool = False, perturbation: str | None = None,
             fraction: float = 0.5, seed: int = 0) -> Callable:
    """RGB PIL image -> uint8 (H, W, 3) model input; grayscale keeps 3 identical channels.

    ``perturbation`` ("text=0.5") is applied, before resizing, to a ``fraction`` of the images
    chosen by a hash of their pixels (so the choice is seeded, stable and blind to the label).
    """
    name, strength = parse_perturb(perturbation) if perturbation else (None, 0.0)

    def to_array(img):
        if name:
            h = perturb.image_seed(img, seed)
            if (h % 10_000) / 10_000 < fraction:
                img = perturb.apply(img, name, strength, seed=h)
        if grayscale:
            img = img.convert("L").convert("RGB")
        return preprocess.to_uint8(img)
    return to_array


class ImageDataset(Dataset):
    """uint8 CHW tensors and targets; pixels from the scan's cache or decoded on the fly."""

    def __init__(self, records: list[Record], to_array: Callable, pixels: dict[str, np.ndarray],
                 classes: tuple[str, ...] = CLASSES):
        self.records, self.to_array, self.pixels, self.classes = records, to_array, pixels, classes

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        r = self.records[i]
        arr = self.pixels.get(r.path)
        if arr is None:   # not cached: decode now (the scan already vetted this file)
            arr = self.to_array(load_image(r.path).image)
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))), r.class_index(self.classes)


def to_input(batch: torch.Tensor, preprocess: PreprocessConfig) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> normalised float32, using the model's own constants."""
    mean = torch.tensor(preprocess.mean).view(1, 3, 1, 1)
    std = torch.tensor(preprocess.std).view(1, 3, 1, 1)
    return (batch.float() / 255.0 - mean) / std


def loss_fn(model) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if model.num_outputs >= 2:
        return lambda logits, y: nn.functional.cross_entropy(logits, y)
    return lambda logits, y: nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float())


def make_optimizer(cfg: TrainConfig, model) -> torch.optim.Optimizer:
    name = model.default_optimizer if cfg.optimizer == "default" else cfg.optimizer
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def prepare_splits(cfg: TrainConfig, manifest: Manifest) -> Manifest:
    manifest = subset(manifest, cfg.subset, seed=cfg.seed)
    if cfg.holdout_by:
        return leave_one_out(manifest, cfg.holdout_by, cfg.holdout, seed=cfg.seed, val_fraction=cfg.val_fraction)
    train_fraction = 1.0 - cfg.val_fraction - cfg.test_fraction
    return split_manifest(manifest, (train_fraction, cfg.val_fraction, cfg.test_fraction), seed=cfg.seed)


def load_data(cfg: TrainConfig, preprocess: PreprocessConfig) -> ScanResult:
    """Read, validate (bad files reported), group near-duplicates, split."""
    manifest = read_dataset(cfg.data, cfg.layout)
    h, w = preprocess.input_size
    scanned = scan(manifest, pixel_fn(preprocess, cfg.grayscale, cfg.perturb, cfg.perturb_fraction, cfg.seed), array_bytes=h * w * 3,
                   workers=max(1, cfg.workers))
    scanned.manifest = prepare_splits(cfg, scanned.manifest)
    classes = parse_classes(cfg.classes)
    for split in ("train", "val"):
        labels = {classes[r.class_index(classes)] for r in scanned.manifest if r.split == split}
        if len(labels) < len(classes):
            raise ValueError(f"the {split} split holds {'only ' + str(sorted(labels)) if labels else 'no'} images; "
                             f"all of {list(classes)} are needed. Use more data or another holdout.")
    return scanned


def _run_dir(cfg: TrainConfig) -> Path:
    if cfg.out:
        path = Path(cfg.out)
    else:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / f"{cfg.model}-{stamp}"
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} already holds files; pass another --out (artcheck never overwrites a run)")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _epoch(model, loader, preprocess, criterion, optimizer=None, gen=None, augment=False, net=None):
    """One pass; trains when ``optimizer`` is given. Returns (mean loss, accuracy, n, seconds).

    ``net`` is what runs the forward pass (a DistributedDataParallel wrapper under --ddp, which
    averages gradients across processes); ``model`` holds the attributes. Under --ddp the loss,
    accuracy and count are summed over every process's share."""
    net = net or model
    model.train(optimizer is not None)
    total_loss, correct, n, t0 = 0.0, 0, 0, time.perf_counter()
    with torch.set_grad_enabled(optimizer is not None):
        for x, y in loader:
            if augment:
                flip = torch.rand(x.shape[0], generator=gen) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            logits = net(to_input(x, preprocess))
            loss = criterion(logits, y)
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            total_loss += float(loss.detach()) * len(y)
            pred = logits.argmax(1) if model.num_outputs >= 2 else (logits[:, 0] >= 0).long()
            correct += int((pred == y).sum())
            n += len(y)
    if net is not model and torch.distributed.is_initialized():
        sums = torch.tensor([total_loss, correct, n], dtype=torch.float64)
        torch.distributed.all_reduce(sums)
        total_loss, correct, n = float(sums[0]), int(sums[1]), int(sums[2])
    return total_loss / max(n, 1), correct / max(n, 1), n, time.perf_counter() - t0


def _write_setup(run_dir: Path, cfg: TrainConfig, data: ScanResult, model) -> None:
    runs.write_json(run_dir / runs.CONFIG_FILE, {
        "config": cfg.model_dump(), "data_abspath": os.path.abspath(cfg.data), "seed": cfg.seed,
        "versions": runs.versions(), "git_sha": runs.git_sha(),
        "created": datetime.now(timezone.utc).isoformat(), "data_layout": data.manifest.layout,
        "counts": {s: data.manifest.where(split=s).counts() for s in ("train", "val", "test")},
    })
    data.manifest.to_csv(run_dir / runs.SPLIT_FILE)
    with (run_dir / runs.SKIPPED_FILE).open("w", newline="") as f:
        csv.writer(f).writerows([("path", "reason"), *data.errors])


def train(cfg: TrainConfig, progress: bool | None = None, ddp: int = 1) -> RunResult:
    """Train ``cfg.model`` on ``cfg.data``; returns the run's summary (the run dir holds the rest).

    ``ddp > 1`` trains in that many processes (:func:`train_ddp`)."""
    if ddp > 1:
        return train_ddp(cfg, ddp, progress)
    return _train(cfg, progress)


def _train(cfg: TrainConfig, progress: bool | None = None, rank: int = 0, world: int = 1) -> RunResult:
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = create_model(cfg.model, **cfg.model_kwargs)
    classes = parse_classes(cfg.classes)
    model.set_classes(classes)
    pre = model.preprocess
    data = load_data(cfg, pre)
    lead = rank == 0                      # the one process that writes the run directory
    run_dir = _run_dir(cfg) if lead else Path(cfg.out)
    if lead:
        _write_setup(run_dir, cfg, data, model)
    if getattr(model, "family", "") == "classical":
        if world > 1:
            raise ValueError(f"--ddp trains torch models; {cfg.model} is a scikit-learn model (one fit, one process)")
        return _fit_classical(cfg, model, data, run_dir)
    if getattr(model, "family", "") == "vlm":
        if world > 1:
            raise ValueError("--ddp trains the CNNs; vlm-lora trains in one process")
        return _fit_vlm(cfg, model, data, run_dir, progress_enabled(progress))
    to_array = pixel_fn(pre, cfg.grayscale, cfg.perturb, cfg.perturb_fraction, cfg.seed)
    split = {s: [r for r in data.manifest if r.split == s] for s in ("train", "val")}
    gen = torch.Generator().manual_seed(cfg.seed + rank)
    workers = 0 if len(data.pixels) == len(data.manifest) else cfg.workers
    train_set = ImageDataset(split["train"], to_array, data.pixels, classes)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
        # each process takes its share of a batch; gradients are averaged, so one step sees cfg.batch_size images
        train_loader = DataLoader(train_set, batch_size=max(1, -(-cfg.batch_size // world)), sampler=sampler,
                                  num_workers=workers)
        net = DistributedDataParallel(model)
    else:
        sampler = None
        train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                                  num_workers=workers)
    val_loader = DataLoader(ImageDataset(split["val"], to_array, data.pixels, classes), batch_size=cfg.batch_size,
                            num_workers=workers)
    two_stage = _setup_stages(cfg, model)
    criterion, optimizer = loss_fn(model), make_optimizer(cfg, model)
    scheduler = _scheduler(cfg, optimizer)
    result = RunResult(run_dir, 0, float("inf"), skipped=data.errors)
    best_state, stale = None, 0
    show = progress_enabled(progress)
    try:
        for epoch in range(1, cfg.epochs + 1):
            if two_stage and epoch == cfg.freeze_epochs + 1:   # stage 2: everything trains, at a lower lr
                model.set_backbone_trainable(True)
                stage2 = cfg.model_copy(update={"lr": cfg.unfrozen_lr or cfg.lr / 10})
                optimizer, stale = make_optimizer(stage2, model), 0
                scheduler = _scheduler(stage2, optimizer)
            if sampler is not None:
                sampler.set_epoch(epoch)
            tr_loss, tr_acc, n_tr, sec = _epoch(model, train_loader, pre, criterion, optimizer, gen, cfg.augment,
                                                net=net)
            if world > 1:       # BatchNorm statistics as rank 0 has them, so every process validates one model
                for buf in model.buffers():
                    torch.distributed.broadcast(buf, 0)
            va_loss, va_acc, _, _ = _epoch(model, val_loader, pre, criterion)
            row = {"epoch": epoch, "stage": 1 if two_stage and epoch <= cfg.freeze_epochs else (2 if two_stage else 1),
                   "train_loss": tr_loss, "train_acc": tr_acc, "val_loss": va_loss,
                   "val_acc": va_acc, "lr": optimizer.param_groups[0]["lr"], "train_images_per_s": n_tr / sec}
            result.history.append(row)
            if lead:
                with (run_dir / runs.HISTORY_FILE).open("a") as f:
                    f.write(json.dumps(row) + "\n")
            if show and lead:
                console.print(f"epoch {epoch:3d}/{cfg.epochs}  train loss {tr_loss:.4f} acc {tr_acc:.3f}  "
                              f"val loss {va_loss:.4f} acc {va_acc:.3f}  ({n_tr / sec:.0f} img/s)")
            if scheduler:
                scheduler.step()
            if va_loss < result.best_val_loss - 1e-6:
                result.best_epoch, result.best_val_loss, stale = epoch, va_loss, 0
                best_state = copy.deepcopy(model.state_dict())
                if lead:
                    runs.save_model(run_dir, model)
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
    except KeyboardInterrupt:
        result.interrupted = True
        console.print(f"[yellow]interrupted: keeping the best checkpoint (epoch {result.best_epoch}) in {run_dir}")
    if best_state is not None:
        model.load_state_dict(best_state)
    if lead:
        _finish(run_dir, result)
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, cfg: TrainConfig, world: int, port: int, progress: bool | None) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    # gloo: training runs on the CPU (the loop has no GPU path yet, so NCCL, which needs CUDA tensors, is not used)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    try:
        _train(cfg, progress if rank == 0 else False, rank, world)
    finally:
        dist.destroy_process_group()


def train_ddp(cfg: TrainConfig, world: int, progress: bool | None = None) -> RunResult:
    """Train in ``world`` processes with torch.distributed (gloo, on the CPU) and a DistributedSampler: each process trains on its share of
    every batch, gradients are averaged, rank 0 writes the run directory: the same files as one process."""
    import torch.multiprocessing as mp

    from artcheck.models import model_entry

    if world < 1:
        raise ValueError(f"--ddp takes a number of processes (1 or more); got {world}")
    if model_entry(cfg.model).family == "classical":
        raise ValueError(f"--ddp trains torch models; {cfg.model} is a scikit-learn model (one fit, one process): "
                         "leave --ddp out")
    run_dir = _run_dir(cfg)              # fixed here, so every process agrees on it; rank 0 fills it
    cfg = cfg.model_copy(update={"out": str(run_dir)})
    mp.spawn(_ddp_worker, args=(cfg, world, _free_port(), progress), nprocs=world, join=True)
    summary = json.loads((run_dir / runs.SUMMARY_FILE).read_text())
    history = [json.loads(line) for line in (run_dir / runs.HISTORY_FILE).read_text().splitlines() if line.strip()]
    with (run_dir / runs.SKIPPED_FILE).open(newline="") as f:
        skipped = [tuple(r) for r in list(csv.reader(f))[1:]]
    return RunResult(run_dir, summary["best_epoch"], summary["best_val_loss"], history, summary["interrupted"],
                     skipped)


def _fit_classical(cfg: TrainConfig, model, data: ScanResult, run_dir: Path) -> RunResult:
    """One fit of a scikit-learn model on the train split; the val split is scored once."""
    from sklearn.metrics import log_loss

    to_array = pixel_fn(model.preprocess, cfg.grayscale, cfg.perturb, cfg.perturb_fraction, cfg.seed)

    def xy(split: str) -> tuple[np.ndarray, np.ndarray]:
        recs = [r for r in data.manifest if r.split == split]
        arrays = [data.pixels[r.path] if r.path in data.pixels else to_array(load_image(r.path).image) for r in recs]
        feats = [model.featurize(np.stack(arrays[i:i + 64])) for i in range(0, len(arrays), 64)]
        return np.concatenate(feats), np.array([r.target for r in recs])

    t0 = time.perf_counter()
    X, y = xy("train")
    model.fit(X, y)
    seconds = time.perf_counter() - t0
    Xv, yv = xy("val")
    pv = model.proba_from_features(Xv)
    row = {"epoch": 1, "stage": 1, "train_loss": float(log_loss(y, model.proba_from_features(X), labels=[0, 1])),
           "train_acc": float(np.mean((model.proba_from_features(X) >= 0.5) == y)),
           "val_loss": float(log_loss(yv, pv, labels=[0, 1])), "val_acc": float(np.mean((pv >= 0.5) == yv)),
           "lr": 0.0, "train_images_per_s": len(y) / seconds}
    with (run_dir / runs.HISTORY_FILE).open("a") as f:
        f.write(json.dumps(row) + "\n")
    runs.save_model(run_dir, model)
    result = RunResult(run_dir, 1, row["val_loss"], [row], skipped=data.errors)
    _finish(run_dir, result)
    return result


def _fit_vlm(cfg: TrainConfig, model, data: ScanResult, run_dir: Path, show: bool) -> RunResult:
    """LoRA fine-tuning of a vision-language model: AdamW on the adapters, next-token loss on the
    first answer token, validation loss each epoch, the best adapter kept."""
    to_array = pixel_fn(model.preprocess, cfg.grayscale, cfg.perturb, cfg.perturb_fraction, cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    def arrays(split: str) -> tuple[list[np.ndarray], np.ndarray]:
        recs = [r for r in data.manifest if r.split == split]
        xs = [data.pixels[r.path] if r.path in data.pixels else to_array(load_image(r.path).image) for r in recs]
        return xs, np.array([r.target for r in recs])

    (xt, yt), (xv, yv) = arrays("train"), arrays("val")
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=cfg.lr)
    result = RunResult(run_dir, 0, float("inf"), skipped=data.errors)
    stale = 0
    for epoch in range(1, cfg.epochs + 1):
        t0, total = time.perf_counter(), 0.0
        model.net.train()
        order = rng.permutation(len(xt))
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            loss = model.loss(np.stack([xt[j] for j in idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        sec = time.perf_counter() - t0
        pv, pt = model.predict_arrays(np.stack(xv)), model.predict_arrays(np.stack(xt))
        eps = 1e-7
        va_loss = float(-np.mean(yv * np.log(pv + eps) + (1 - yv) * np.log(1 - pv + eps)))
        row = {"epoch": epoch, "stage": 1, "train_loss": total / max(len(xt), 1),
               "train_acc": float(np.mean((pt >= 0.5) == yt)), "val_loss": va_loss,
               "val_acc": float(np.mean((pv >= 0.5) == yv)), "lr": cfg.lr, "train_images_per_s": len(xt) / sec}
        result.history.append(row)
        with (run_dir / runs.HISTORY_FILE).open("a") as f:
            f.write(json.dumps(row) + "\n")
        if show:
            console.print(f"epoch {epoch:3d}/{cfg.epochs}  train loss {row['train_loss']:.4f}  val loss {va_loss:.4f} "
                          f"acc {row['val_acc']:.3f}")
        if va_loss < result.best_val_loss - 1e-6:
            result.best_epoch, result.best_val_loss, stale = epoch, va_loss, 0
            runs.save_model(run_dir, model)
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    _finish(run_dir, result)
    return result


def _setup_stages(cfg: TrainConfig, model) -> bool:
    """Freeze a transfer model's backbone for the first ``freeze_epochs``; True if two stages run."""
    if cfg.freeze_epochs == 0:
        return False
    if not hasattr(model, "set_backbone_trainable"):
        raise ValueError(f"--freeze-epochs applies to transfer models (e.g. mobilenet-v2-transfer); "
                         f"{cfg.model!r} has no pretrained backbone to freeze")
    model.set_backbone_trainable(False)
    return cfg.freeze_epochs < cfg.epochs


def _scheduler(cfg: TrainConfig, optimizer):
    return torch.optim.lr_scheduler.StepLR(optimizer, cfg.step_size, cfg.gamma) if cfg.scheduler == "step" else None


def _finish(run_dir: Path, result: RunResult) -> None:
    runs.write_json(run_dir / runs.SUMMARY_FILE, {
        "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
        "epochs_run": len(result.history), "interrupted": result.interrupted, "skipped_files": len(result.skipped),
    })
    if result.history:
        from artcheck.lab.plots import plot_history
        plot_history(result.history, run_dir / "curves.png")
