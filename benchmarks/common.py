"""Helpers shared by the benchmark scripts: leave-one-source-out over a dataset."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from artcheck.data import read_dataset
from artcheck.lab.evaluate import Predictions, binary_metrics

N_BOOT = 1000   # bootstrap resamples for 95% intervals
WILD_DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wild-dev"


def pooled_summary(fold_preds: dict[str, Predictions], train_seconds: float, n_train_images: int,
                   infer_seconds: float) -> dict:
    """Pool held-out predictions over folds: each source is scored only by a model that never saw it."""
    y = np.concatenate([p.y for p in fold_preds.values()])
    p = np.concatenate([p.p_ai for p in fold_preds.values()])
    m = binary_metrics(y, p)
    per_source = {src: float(np.mean((pr.p_ai >= 0.5).astype(int) == pr.y)) for src, pr in fold_preds.items()}
    return {
        "balanced_accuracy": m["balanced_accuracy"], "roc_auc": m["roc_auc"],
        "human_false_positive_rate": m["human_false_positive_rate"], "n": m["n"],
        "per_source_accuracy": per_source,
        "train_images_per_s": n_train_images / train_seconds if train_seconds else None,
        "inference_images_per_s": len(y) / infer_seconds if infer_seconds else None,
    }


def sources_of(data: str | Path) -> list[str]:
    return sorted({r.source for r in read_dataset(data)})


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) and v < 10 else f"{v:.0f}"


def markdown_table(results: dict[str, dict], sources: list[str], label: Callable[[str], str] = str) -> str:
    head = ["model", "bal. acc", "AUC", "human FPR"] + [f"acc {s}" for s in sources] + ["train img/s", "infer img/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        row = [label(name), fmt(r["balanced_accuracy"]), fmt(r["roc_auc"]), fmt(r["human_false_positive_rate"])]
        row += [fmt(r["per_source_accuracy"].get(s)) for s in sources]
        row += [fmt(r["train_images_per_s"]), fmt(r["inference_images_per_s"])]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def grouped_folds(manifest, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold ids for stratified k-fold CV over near-duplicate (pHash) groups, sources mixed:
    the in-distribution figure that leave-one-source-out is compared with."""
    from sklearn.model_selection import StratifiedGroupKFold

    from artcheck.data.scan import scan

    scanned = scan(manifest, progress=False).manifest
    group_of = {r.path: r.group for r in scanned}
    y = np.array([r.target for r in manifest])
    groups = np.array([group_of.get(r.path, r.path) for r in manifest])
    folds = np.zeros(len(y), int)
    for i, (_, test) in enumerate(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(y, y, groups)):
        folds[test] = i
    return folds


def auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, p))


def bacc(y: np.ndarray, p: np.ndarray) -> float:
    return float(((p[y == 1] >= 0.5).mean() + (p[y == 0] < 0.5).mean()) / 2)


def interval(y: np.ndarray, p: np.ndarray, metric, rng: np.random.Generator) -> list[float]:
    """95% bootstrap interval of ``metric(y, p)``, images resampled within each class. ``p`` may
    have one column per model, for a paired interval of a difference between them."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    vals = []
    for _ in range(N_BOOT):
        i = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        vals.append(metric(y[i], p[i]))
    return [round(float(np.percentile(vals, 2.5)), 3), round(float(np.percentile(vals, 97.5)), 3)]


def shipped_training_data() -> list[str]:
    """The data folders the shipped default detector was built from (its detector.json)."""
    cfg = Path(__file__).resolve().parents[1] / "src" / "artcheck" / "assets" / "default" / "detector.json"
    data = json.loads(cfg.read_text())["data"]
    missing = [d for d in data if not Path(d).exists()]
    if missing:
        if len(missing) == len(data):
            fix = "run from the repository root (the paths are relative to it), with ../shared/data beside it"
        elif any(Path(d).parts[:2] == ("data", "extra") for d in missing):
            fix = "run `python scripts/extra_sources.py` first (it fetches them from Debian packages)"
        else:
            fix = "the shared datasets (wild-dev, github-art, github-art-2) belong in ../shared/data"
        raise FileNotFoundError(f"the shipped detector's training data is not all here: missing {', '.join(missing)} "
                                f"(relative to {Path.cwd()}); {fix}")
    return data


def training_pool(data: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(paths, labels, sources) of training data folders; reserved sources are refused."""
    from artcheck.lab.pool import check_not_reserved
    from artcheck.data import Manifest

    manifest = Manifest([r for d in data for r in read_dataset(d)])
    check_not_reserved(manifest)
    return ([r.path for r in manifest], np.array([r.target for r in manifest]),
            np.array([r.source for r in manifest]))
