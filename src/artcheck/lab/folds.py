"""The held-out protocol: leave-one-source-out (siblings and near-duplicate groups together),
leave-one-generator-family-out for the AI side, and the pooled and macro summaries every
table in the card and docs reports."""

from __future__ import annotations

import numpy as np

from artcheck.lab.heads import Recipe, fit_head, source_weights
from artcheck.lab.pool import holdout_units

def loso_logits(views: dict[str, np.ndarray], y: np.ndarray, src: np.ndarray, recipe: Recipe,
                n_aug: int, eval_views: tuple[str, ...] = ("clean",),
                cols: np.ndarray | None = None, groups: np.ndarray | None = None,
                units: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Held-out logits per image for each view in ``eval_views``, by leave-one-source-out
    (sources of one family in HOLDOUT_FAMILIES, or joined by a near-duplicate ``groups``
    entry, are left out together; ``units`` overrides the hold-out units). ``cols``: feature
    columns to use instead of the recipe's named set (for other feature layouts)."""
    out = {v: np.zeros(len(y)) for v in eval_views}
    units = holdout_units(src, groups) if units is None else units
    for s in np.unique(units):
        tr = units != s
        if len(np.unique(y[tr])) < 2:
            continue
        model, use = fit_head(views, np.flatnonzero(tr), y, src, recipe, n_aug, cols=cols)
        for v in eval_views:
            out[v][~tr] = model.decision_function(views[v][~tr][:, use])
    return out


def lofo_ai_logits(views: dict[str, np.ndarray], y: np.ndarray, src: np.ndarray, families: np.ndarray,
                   recipe: Recipe, n_aug: int, groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Leave-one-generator-family-out for the AI side: for each family, a head trained without
    any AI image of that family (nor any image in a near-duplicate group with one) scores
    that family's AI images. Human images are not scored here (see ``loso_logits``)."""
    out: dict[str, np.ndarray] = {}
    for fam in sorted(set(families[y == 1])):
        test = (y == 1) & (families == fam)
        tr = ~test
        if groups is not None:
            held = {g for g in groups[test] if g}
            tr &= ~np.isin(groups, list(held))
        if len(np.unique(y[tr])) < 2:
            continue
        model, use = fit_head(views, np.flatnonzero(tr), y, src, recipe, n_aug)
        out[fam] = model.decision_function(views["clean"][test][:, use])
    return out


def macro_auc(y: np.ndarray, p: np.ndarray, src: np.ndarray) -> float | None:
    """ROC AUC with every source weighted the same within its class (a big source counts
    as much as a small one)."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, p, sample_weight=source_weights(y, src)))


def held_out_summary(y: np.ndarray, p: np.ndarray, src: np.ndarray, hi: float | None = None,
                     threshold: float = 0.5) -> dict:
    """Pooled and macro-over-sources figures for held-out probabilities. Macro: each source's
    share right, averaged over the sources of each class, then over the two classes; AUC with
    source-equal weights."""
    from sklearn.metrics import roc_auc_score

    pred = p >= threshold
    per_src = {s: float(np.mean(pred[src == s] == (y[src == s] == 1))) for s in np.unique(src)}
    by_class = {c: [per_src[s] for s in np.unique(src[y == c])] for c in (0, 1)}
    # a source holding both labels counts once per class, with its accuracy on that class
    for c in (0, 1):
        by_class[c] = [float(np.mean(pred[(src == s) & (y == c)] == (c == 1))) for s in np.unique(src[y == c])]
    out = {"pooled": {"balanced_accuracy": float(np.mean([np.mean(pred[y == c] == (c == 1)) for c in (0, 1)])),
                      "roc_auc": float(roc_auc_score(y, p)),
                      "human_called_ai": float(np.mean(pred[y == 0]))},
           "macro": {"balanced_accuracy": float(np.mean([np.mean(v) for v in by_class.values()])),
                     "roc_auc": macro_auc(y, p, src),
                     "human_called_ai": float(1 - np.mean(by_class[0]))}}
    if hi is not None:
        out["pooled"]["human_called_ai_at_band"] = float(np.mean(p[y == 0] >= hi))
        out["macro"]["human_called_ai_at_band"] = float(np.mean([np.mean(p[(src == s) & (y == 0)] >= hi)
                                                                 for s in np.unique(src[y == 0])]))
    return out


def _metrics(y, p, threshold=0.5):
    from artcheck.lab.evaluate import binary_metrics

    m = binary_metrics(y, p, threshold)
    return {k: m[k] for k in ("balanced_accuracy", "roc_auc", "human_false_positive_rate", "accuracy")}


def unit_folds(y: np.ndarray, units: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold id (0..k-1) per image: K folds over hold-out units (``pool.holdout_units``), every
    unit wholly on one side, stratified by label so each fold holds AI and human units. The same
    (y, units, k, seed) always gives the same folds, so every method is compared on them."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = np.full(len(y), -1)
    for i, (_, test) in enumerate(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(y, y, units)):
        folds[test] = i
    return folds
