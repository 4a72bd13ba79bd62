"""Heads fitted on cached features: the recipe that names them, the source-balanced linear
probe the default ships, a per-block ensemble that folds into one linear probe, and an MLP
compared but not shipped. A new method is one function beside ``fit_head``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artcheck.detect.probe import LinearProbe
from artcheck.lab.pool import FEATURE_SETS, columns, holdout_units

HEADS = ("logreg", "mlp", "ensemble")


@dataclass
class Recipe:
    features: str
    augment: bool
    balance_sources: bool = True
    head: str = "logreg"    # logreg; mlp (one hidden layer); ensemble (a probe per block range, logits averaged)
    C: float | None = None  # fixed regularisation; None: chosen by grouped cross-validation

    @property
    def name(self) -> str:
        head = {"logreg": "", "mlp": " [MLP head]", "ensemble": " [per-block probes averaged]"}[self.head]
        return (f"{self.features}{head}{' + processing augmentation' if self.augment else ''}"
                f"{'' if self.balance_sources else ' (sources not balanced)'}"
                f"{f' C={self.C:g}' if self.C is not None else ''}")


def source_weights(y: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Per-image weights under which every source counts the same within its class (a class
    keeps its total), so one big source (150 landscape photos) cannot set the boundary alone.
    The probe's class balancing then evens out the two classes."""
    w = np.ones(len(y), float)
    for c in np.unique(y):
        in_c = y == c
        sources = np.unique(src[in_c])
        for s in sources:
            m = in_c & (src == s)
            w[m] = in_c.sum() / (len(sources) * m.sum())
    return w


def _fit_probe(Xs: list[np.ndarray], y: np.ndarray, src: np.ndarray, balance: bool, C: float | None = None,
               **kw) -> LinearProbe:
    """One probe on the clean features plus their processed copies (same labels, same groups);
    its regularisation is ``C``, or chosen by cross-validation over held-out units (HOLDOUT_FAMILIES)."""
    n = len(Xs)
    w = np.concatenate([source_weights(y, src)] * n) if balance else None
    extra = {"Cs": (C,)} if C is not None else {}
    return LinearProbe(**kw).fit(np.concatenate(Xs), np.concatenate([y] * n),
                                 groups=np.concatenate([holdout_units(src)] * n), sample_weight=w, **extra)


def ensemble_probe(probes: list[LinearProbe], col_sets: list[np.ndarray], dim: int) -> tuple[LinearProbe, np.ndarray]:
    """Probes on several column sets, logits averaged, as one LinearProbe on the union of the
    columns (an average of linear functions is linear): ships and runs like any other head."""
    cols = np.unique(np.concatenate(col_sets))
    where = {c: i for i, c in enumerate(cols)}
    coef, mean, scale = np.zeros(len(cols)), np.zeros(len(cols)), np.ones(len(cols))
    intercept = 0.0
    for pr, cs in zip(probes, col_sets):
        idx = np.array([where[c] for c in cs])
        # w.(x - m)/s = (w/s).x - w.m/s: fold each probe's own standardisation into raw-x weights
        coef[idx] += pr.coef / pr.scale / len(probes)
        intercept += (pr.intercept - float(pr.coef @ (pr.mean / pr.scale))) / len(probes)
    return LinearProbe(backbone=probes[0].backbone, C=probes[0].C, coef=coef, intercept=intercept, mean=mean,
                       scale=scale), cols


def recipe_blocks(recipe: Recipe) -> list[np.ndarray]:
    """The column sets a recipe's head is fitted on: one for a single probe, one per range for an ensemble."""
    ranges = FEATURE_SETS[recipe.features]
    return [np.arange(a, b) for a, b in ranges] if recipe.head == "ensemble" else [columns(ranges)]


class MLPHead:
    """A one-hidden-layer MLP on standardised features (scikit-learn); compared, not shipped."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, X, y, w):
        from sklearn.neural_network import MLPClassifier

        self.mean, self.scale = X.mean(0), X.std(0) + 1e-6
        self.clf = MLPClassifier((128,), alpha=1.0, max_iter=40, random_state=self.seed)
        self.clf.fit((X - self.mean) / self.scale, y, sample_weight=w)
        return self

    def decision_function(self, X):
        p = np.clip(self.clf.predict_proba((X - self.mean) / self.scale)[:, 1], 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))


def fit_head(views: dict[str, np.ndarray], rows: np.ndarray, y: np.ndarray, src: np.ndarray, recipe: Recipe,
             n_aug: int, backbone: str = "", cols: np.ndarray | None = None):
    """The recipe's head fitted on ``rows`` (clean plus processed copies when it augments), on
    its named feature set or on ``cols``. Returns (model with decision_function, its columns)."""
    col_sets = recipe_blocks(recipe) if cols is None else [cols]
    keys = ["clean"] + ([f"aug{k + 1}" for k in range(n_aug)] if recipe.augment else [])
    if recipe.head == "mlp":
        cols = col_sets[0]
        X = np.concatenate([views[k][rows][:, cols] for k in keys])
        w = np.concatenate([source_weights(y[rows], src[rows])] * len(keys)) if recipe.balance_sources else None
        yy = np.concatenate([y[rows]] * len(keys))
        if w is None:
            w = np.ones(len(yy))
        w = w * np.where(yy == 1, 0.5 / yy.mean(), 0.5 / (1 - yy.mean()))   # class-balanced like the probes
        return MLPHead().fit(X, yy, w / w.mean()), cols
    probes = [_fit_probe([views[k][rows][:, cs] for k in keys], y[rows], src[rows], recipe.balance_sources,
                         C=recipe.C, backbone=backbone) for cs in col_sets]
    if len(probes) == 1:
        return probes[0], col_sets[0]
    return ensemble_probe(probes, col_sets, views["clean"].shape[1])
