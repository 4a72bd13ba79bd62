"""Calibration of held-out logits and the uncertain band: expected calibration error, the
maps compared (none, temperature, Platt), cross-fitting, and the band's cut-offs."""

from __future__ import annotations

import numpy as np

from artcheck.detect.probe import LinearProbe, _sigmoid

# above the band: at most this share of held-out human images, pooled and macro (issue 24, point 7)
TARGET_HUMAN_FPR = 0.03
TARGET_AI_MISS = 0.10       # below the band: at most this share of held-out AI images


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10, balanced: bool = True) -> float:
    """Expected calibration error of P(ai), equal-width bins. ``balanced`` weights each class
    to half the total, matching probabilities calibrated for equal priors."""
    y, p = np.asarray(y), np.asarray(p)
    w = np.ones(len(y), float)
    if balanced and 0 < y.sum() < len(y):
        w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if m.any():
            total += w[m].sum() / w.sum() * abs(np.average(p[m], weights=w[m]) - np.average(y[m], weights=w[m]))
    return float(total)


CALIBRATIONS = ("none", "temperature", "platt")


def _fit_map(method: str, logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, c) of p = sigmoid(a * logit + c); class-balanced, so 0.5 means even odds."""
    if method == "none":
        return 1.0, 0.0
    a, c = LinearProbe().calibrate(logits, y).platt
    if method == "temperature":   # slope only: refit with the intercept held at zero
        from scipy.optimize import minimize_scalar

        w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))

        def loss(t: float) -> float:
            p = np.clip(_sigmoid(t * logits), 1e-9, 1 - 1e-9)
            return float(-np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p))))

        return float(minimize_scalar(loss, bounds=(1e-3, 10), method="bounded").x), 0.0
    return a, c


def cross_fitted(method: str, logits: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Calibrated P(ai) where each image's map was fitted on the other folds.

    Folds are stratified by label, not by source: every source here holds one label, so a
    map fitted without source S is biased against S's label and would invert the ranking.
    """
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros(len(y))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(logits, y):
        a, c = _fit_map(method, logits[tr], y[tr])
        out[te] = _sigmoid(a * logits[te] + c)
    return out


def choose_calibration(logits: np.ndarray, y: np.ndarray) -> tuple[str, tuple[float, float], dict[str, float]]:
    """The map with the lowest cross-fitted, class-balanced ECE; fitted on all held-out logits."""
    scores = {m: ece(y, cross_fitted(m, logits, y)) for m in CALIBRATIONS}
    best = min(scores, key=scores.get)
    return best, _fit_map(best, logits, y), scores


def pick_band(y: np.ndarray, p: np.ndarray, src: np.ndarray | None = None) -> tuple[float, float]:
    """[lo, hi): at or above hi is 'ai' (human FPR <= target, pooled and, given ``src``, also
    averaged over human sources), below lo is 'human' (AI miss <= target)."""
    grid = np.round(np.linspace(0.01, 0.99, 99), 2)

    def human_fpr(t: float) -> float:
        pooled = np.mean(p[y == 0] >= t)
        if src is None:
            return float(pooled)
        macro = np.mean([np.mean(p[(src == s) & (y == 0)] >= t) for s in np.unique(src[y == 0])])
        return float(max(pooled, macro))

    hi = next((t for t in grid if human_fpr(t) <= TARGET_HUMAN_FPR), 0.99)
    lo = next((t for t in grid[::-1] if np.mean(p[y == 1] < t) <= TARGET_AI_MISS), 0.01)
    if lo > hi:   # the targets can be met with room to spare: one cut-off between them
        lo = hi = float(np.round((lo + hi) / 2, 2))
    return float(lo), float(hi)


def ece_one_class(y: np.ndarray, p: np.ndarray) -> float:
    """Calibration error within one source: |mean P(ai) - share of AI| over equal-width bins
    (for a one-label source, how far its probabilities sit from its label on average)."""
    return ece(y, p, balanced=False)
