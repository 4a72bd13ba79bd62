"""Generalisation across generators or sources: train on one group, test on every other.

``crossval(manifest, by, model)`` fills a matrix whose cell (i, j) is a model trained on
group i and tested on group j; ``mode="all-but-one"`` trains on every group but j instead
(leave-one-group-out), one row.

Single-label groups. In most real sets a group holds one class: a generator makes only AI
images, and in wild-dev every source is one label. A model cannot be trained or scored
with one class, so such a group is completed with the missing class from the records
that belong to neither group of the cell (and from records with no value, such as human
images when grouping by generator). Every group and that pool are split once, seeded and
near-duplicate aware, into halves A and B: training only ever draws from A and testing
from B, except that the tested group itself is used whole off the diagonal. So train and
test never share an image, and cell (i, j) answers "trained on i's class against the
rest, how well does it do on j's images against unseen others?".
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from artcheck.data.manifest import Manifest, Record
from artcheck.lab.evaluate import binary_metrics

MODES = ("matrix", "all-but-one")
BY = ("generator", "source", "style")
Fit = Callable[[Manifest, Path], Callable[[Manifest], tuple[list[Record], np.ndarray]]]


def _halves(records: list[Record], seed: int) -> dict[str, str]:
    """path -> "a" | "b", per label, near-duplicate groups kept together."""
    from artcheck.data.splits import _assign

    return _assign(records, (0.5, 0.5), ("a", "b"), np.random.default_rng(seed)) if records else {}


MIN_GROUP = 10      # smaller groups get no row or column (their images can still complete other cells)


def plan_cells(manifest: Manifest, by: str, mode: str = "matrix", seed: int = 0, min_group: int = MIN_GROUP
               ) -> tuple[list[str], dict[tuple[str, str], tuple[list[Record], list[Record]] | str]]:
    """Groups and, for each cell, (train records, test records) or the reason it cannot be run."""
    if by not in BY:
        raise ValueError(f"--by must be one of {', '.join(BY)}, got {by!r}")
    if mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    sizes = Counter(r.key(by) for r in manifest if r.key(by))
    groups = sorted(g for g, n in sizes.items() if n >= min_group)
    if len(groups) < 2:
        raise ValueError(f"cross-validation by {by} needs at least two values of {by} with {min_group} or more "
                         f"images each; the data has {dict(sizes) or 'none'}. Use a manifest CSV with a source or "
                         "generator column, or lower --min-group.")
    half = _halves(manifest.records, seed)
    of = {g: [r for r in manifest if r.key(by) == g] for g in groups}

    def complement(excluded: set[str], have: set[int], part: str) -> list[Record]:
        """Records of the classes ``have`` lacks, outside the cell's groups, from half ``part``."""
        need = {0, 1} - have
        return [r for r in manifest if r.target in need and r.key(by) not in excluded and half[r.path] == part]

    cells: dict[tuple[str, str], Any] = {}
    rows = groups if mode == "matrix" else ["all but " + g for g in groups]
    for i, row in enumerate(rows):
        for j in (groups if mode == "matrix" else [groups[i]]):
            if mode == "matrix":
                train_g = [row]
                if row == j:
                    train = [r for r in of[row] if half[r.path] == "a"]
                    test = [r for r in of[j] if half[r.path] == "b"]
                else:
                    train, test = list(of[row]), list(of[j])
            else:
                train_g = [g for g in groups if g != j]
                train = [r for g in train_g for r in of[g]]
                test = list(of[j])
            excluded = {*train_g, j}
            train += complement(excluded, {r.target for r in train}, "a")
            test += complement(excluded, {r.target for r in test}, "b")
            if len({r.target for r in train}) < 2:
                cells[(row, j)] = f"no records of the other class outside {row!r} and {j!r} to train against"
            elif not test:
                cells[(row, j)] = "nothing to test"
            else:
                cells[(row, j)] = (train, test)
    return rows, cells


def train_fitter(model: str, epochs: int, seed: int, overrides: dict[str, Any] | None = None) -> Fit:
    """Train any registered model (CNN, transfer or classical) with ``artcheck train`` on a cell's
    records (val carved from train), and predict with it."""
    def fit(train_manifest: Manifest, work: Path):
        from artcheck.lab import runs
        from artcheck.lab.config import TrainConfig
        from artcheck.lab.evaluate import predict_manifest
        from artcheck.lab.train import train

        csv_path = work / "cell.csv"
        train_manifest.to_csv(csv_path)
        cfg = TrainConfig(**{"model": model, "epochs": epochs, **(overrides or {}),
                             "data": str(csv_path), "seed": seed, "out": str(work / "run"), "subset": None})
        result = train(cfg, progress=False)
        net = runs.load_model(result.run_dir)

        def predict(test: Manifest):
            preds = predict_manifest(net, test, progress=False)
            return preds.records, preds.p_ai
        return predict
    return fit


def _cell_metrics(records: list[Record], p: np.ndarray, tested: str, by: str) -> dict[str, Any]:
    y = np.array([r.target for r in records])
    m = binary_metrics(y, p)
    own = np.array([r.key(by) == tested for r in records])
    return {"n_test": int(len(y)), "balanced_accuracy": m["balanced_accuracy"], "roc_auc": m["roc_auc"],
            "human_false_positive_rate": m["human_false_positive_rate"],
            "accuracy_on_group": float(np.mean((p[own] >= 0.5) == y[own])) if own.any() else None}


def crossval(manifest: Manifest, by: str, fit: Fit, mode: str = "matrix", seed: int = 0,
             work_dir: str | Path | None = None, progress: bool | None = None, min_group: int = MIN_GROUP
             ) -> dict[str, Any]:
    """Run every cell; returns the matrix (JSON-ready) with diagonal and off-diagonal means.
    A cell that cannot be trained (say, too few images of a class for a val split) is
    recorded with its reason and the others go on."""
    from artcheck.progress import track

    rows, cells = plan_cells(manifest, by, mode, seed, min_group)
    cols = sorted({j for _, j in cells})
    tmp = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="artcheck-crossval-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        for k, ((row, col), plan) in enumerate(track(list(cells.items()), "Cross-validation", enabled=progress)):
            if isinstance(plan, str):
                results.setdefault(row, {})[col] = {"skipped": plan}
                continue
            train, test = plan
            work = tmp / f"cell-{k:03d}"
            work.mkdir(parents=True, exist_ok=True)
            try:
                predict = fit(Manifest([replace(r, split="") for r in train]), work)
                recs, p = predict(Manifest([replace(r, split="test") for r in test]))
            except ValueError as e:
                results.setdefault(row, {})[col] = {"skipped": str(e)}
                continue
            results.setdefault(row, {})[col] = {"n_train": len(train), **_cell_metrics(recs, p, col, by)}
    finally:
        if work_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)

    def mean(key: str, diagonal: bool) -> float | None:
        vals = [c[key] for r, row in results.items() for j, c in row.items()
                if c.get(key) is not None and (r == j) == diagonal]
        return float(np.mean(vals)) if vals else None

    sizes = Counter(r.key(by) for r in manifest if r.key(by))
    out = {"by": by, "mode": mode, "seed": seed, "rows": rows, "columns": cols, "cells": results,
           "too_small": {g: n for g, n in sorted(sizes.items()) if n < min_group}}
    if mode == "matrix":
        out["means"] = {k: {"diagonal": mean(k, True), "off_diagonal": mean(k, False)}
                        for k in ("roc_auc", "balanced_accuracy", "accuracy_on_group")}
    else:
        out["means"] = {k: {"held_out": mean(k, False)} for k in ("roc_auc", "balanced_accuracy", "accuracy_on_group")}
    return out


def plot(result: dict[str, Any], path: Path, title: str = "") -> None:
    from artcheck.lab.plots import plt

    rows, cols = result["rows"], result["columns"]
    keys = [("roc_auc", "AUC"), ("balanced_accuracy", "balanced accuracy"), ("accuracy_on_group", "accuracy on the tested group")]
    fig, axes = plt.subplots(1, 3, figsize=(4.2 * 3 + 1, 1.6 + 0.55 * len(rows)))
    for ax, (key, name) in zip(axes, keys):
        m = np.array([[result["cells"].get(r, {}).get(c, {}).get(key) if result["cells"].get(r, {}).get(c, {}).get(key)
                       is not None else np.nan for c in cols] for r in rows], dtype=float)
        ax.imshow(m, cmap="RdYlGn", vmin=0, vmax=1)
        ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.set(xlabel="tested on", ylabel="trained on", title=name)
        for i in range(len(rows)):
            for j in range(len(cols)):
                ax.text(j, i, "–" if np.isnan(m[i, j]) else f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8)
    means = result["means"].get("roc_auc", {})
    summary = ", ".join(f"{k.replace('_', '-')} AUC {v:.3f}" for k, v in means.items() if v is not None)
    fig.suptitle(f"{title or 'cross-validation'} by {result['by']} ({result['mode']}): {summary}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(result: dict[str, Any], out_dir: Path, title: str = "") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "crossval.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out_dir / "crossval.png", title)
    return out_dir
