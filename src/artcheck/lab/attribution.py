"""Train and measure the family-attribution head (issue 27) on the detector's cached features.

    artcheck build-attribution --model src/artcheck/assets/default --data ... [--data ...]

Only AI images whose generator the reviewed table (``assets/generator_families.csv``) maps to a
family other than ``unknown`` are used. Measured, as the detector is, held out by source:

- K = 5 folds over hold-out units (``lab.folds.unit_folds``): top-1 and top-3 accuracy per
  family, macro over families with at least 3 sources, the confusion matrix, ECE of the top
  probability;
- leave-one-family-out, nested (``lofo_rates``): a head trained without a family scores that
  family's images; how often the open-set rule answers ``unknown`` for it, with the rule's
  threshold chosen on held-out scores of heads that were also trained without it, against how much
  top-1 accuracy the known families keep with the same rule.

The open-set threshold is the largest that keeps the known families' held-out top-1 accuracy at
90% of what it is without the rule (``KEEP``), chosen on these held-out scores, for each open-set
score of ``detect.attribution.open_score`` (the energy score and the top probability); the head
keeps the one that answers a left-out family ``unknown`` more often.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from artcheck.detect.attribution import OPEN_RULES, UNKNOWN, FamilyHead, open_score, softmax

C = 0.01            # regularisation of the multinomial logistic regression (standardised features)
K, SEED = 5, 0
KEEP = 0.90         # known families keep at least this share of their top-1 accuracy under the open-set rule
MIN_SOURCES = 3     # families measured per family need this many sources


def family_weights(fam: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Each family counts the same in total, and each source the same within its family."""
    w = np.ones(len(fam), float)
    families = np.unique(fam)
    for f in families:
        in_f = fam == f
        sources = np.unique(src[in_f])
        for s in sources:
            m = in_f & (src == s)
            w[m] = 1.0 / (len(families) * len(sources) * m.sum())
    return w * len(fam)


def fit_family_head(X: np.ndarray, fam: np.ndarray, src: np.ndarray, C: float = C) -> FamilyHead:
    from sklearn.linear_model import LogisticRegression

    mean, scale = X.mean(0), X.std(0) + 1e-6
    # With far fewer images than features the L2-penalised solution lies in the span of the
    # training rows: fit on their coordinates in that span (an exact rotation, U S = Xs V) and map
    # the weights back (W Vt). The same model as on all 18,432 columns, about 10x faster.
    U, S, Vt = np.linalg.svd((X - mean) / scale, full_matrices=False)
    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(U * S, fam, sample_weight=family_weights(fam, src))
    coef, intercept = clf.coef_ @ Vt, clf.intercept_
    if len(clf.classes_) == 2:        # scikit-learn keeps one row for two classes: softmax over [0, w.x + b]
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return FamilyHead(list(clf.classes_), coef, intercept, mean, scale)


def fit_temperature(logp_fn, y_idx: np.ndarray) -> float:
    """The temperature minimising held-out negative log-likelihood (``logp_fn(T)`` -> (N, K) probabilities)."""
    from scipy.optimize import minimize_scalar

    def nll(t: float) -> float:
        p = logp_fn(t)
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y_idx)), y_idx], 1e-12, 1))))

    return float(minimize_scalar(nll, bounds=(0.05, 20), method="bounded").x)


def _logits(head: FamilyHead, X: np.ndarray, classes: list[str]) -> np.ndarray:
    """(N, len(classes)) logits of ``head`` in the order of ``classes`` (-inf for a class it lacks)."""
    z = head.logits(X)
    out = np.full((len(X), len(classes)), -np.inf)
    for j, c in enumerate(head.classes):
        out[:, classes.index(c)] = z[:, j]
    return out


def top_ece(p: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Calibration error of the top probability: |confidence - accuracy| over equal-width bins."""
    conf = p.max(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - right[m].mean())
    return float(total)


def heldout_logits(X: np.ndarray, fam: np.ndarray, units: np.ndarray, fit_logits, classes: list[str],
                   progress: bool = True) -> np.ndarray:
    """(N, len(classes)) logits of each image from a model fitted without its fold (K folds over
    hold-out units, stratified by family). ``fit_logits(train_idx, test_idx, classes)`` fits on the
    training rows and returns the test rows' logits (-inf for a class the training rows lack)."""
    from artcheck.lab.folds import unit_folds

    y_idx = np.array([classes.index(f) for f in fam])
    folds = unit_folds(y_idx, units, K, SEED)      # stratified by family, every unit on one side
    z = np.zeros((len(fam), len(classes)))
    for f in range(K):
        te = folds == f
        if progress:
            print(f"attribution: fold {f + 1}/{K} ({te.sum()} images held out)", flush=True)
        z[te] = fit_logits(np.flatnonzero(~te), np.flatnonzero(te), classes)
    return z


def head_fit(X: np.ndarray, fam: np.ndarray, src: np.ndarray, C: float = C):
    """The shipped recipe as a ``fit_logits`` for :func:`heldout_logits`: the family head on ``X``."""
    return lambda tr, te, classes: _logits(fit_family_head(X[tr], fam[tr], src[tr], C), X[te], classes)


def heldout_metrics(z: np.ndarray, fam: np.ndarray, src: np.ndarray) -> dict:
    """Temperature-calibrated held-out figures of logits ``z`` (columns: the sorted families)."""
    classes = sorted(set(fam))
    y_idx = np.array([classes.index(f) for f in fam])
    z = np.where(np.isfinite(z), z, -1e9)
    t = fit_temperature(lambda T: softmax(z / T), y_idx)
    p = softmax(z / t)
    top1 = p.argmax(1) == y_idx
    top3 = (np.argsort(-p, 1)[:, :3] == y_idx[:, None]).any(1)
    n_sources = {c: len(set(src[fam == c])) for c in classes}
    per_family = {c: {"n": int((fam == c).sum()), "sources": n_sources[c], "top1": float(top1[fam == c].mean()),
                      "top3": float(top3[fam == c].mean())} for c in classes}
    measured = [c for c in classes if n_sources[c] >= MIN_SOURCES]
    confusion = np.zeros((len(classes), len(classes)), int)
    for a, b in zip(y_idx, p.argmax(1)):
        confusion[a, b] += 1
    return {"classes": classes, "temperature": t, "p": p, "top1": top1, "per_family": per_family,
            "measured_families": measured,
            "macro_top1": float(np.mean([per_family[c]["top1"] for c in measured])) if measured else None,
            "macro_top3": float(np.mean([per_family[c]["top3"] for c in measured])) if measured else None,
            "pooled_top1": float(top1.mean()), "pooled_top3": float(top3.mean()), "ece_top": top_ece(p, top1),
            "confusion": confusion.tolist()}


def open_threshold(score: np.ndarray, top1: np.ndarray, fam: np.ndarray, measured: list[str],
                   lofo_score: dict[str, np.ndarray]) -> dict:
    """The largest threshold on an open-set ``score`` (higher: more like a known family; held out)
    that keeps the measured families' held-out top-1 at ``KEEP`` of what it is without a rule, and
    how often each family left out of training is then answered ``unknown`` (``lofo_score``: its
    images' scores from a model fitted without it)."""
    base = float(np.mean([top1[fam == c].mean() for c in measured])) if measured else float(top1.mean())

    def known_top1(th: float) -> float:     # right and above the threshold, macro over measured families
        ok = top1 & (score >= th)
        return float(np.mean([ok[fam == c].mean() for c in (measured or sorted(set(fam)))]))

    grid = np.unique(np.round(np.quantile(score, np.linspace(0.0, 0.95, 191)), 3))
    threshold = float(max((th for th in grid if known_top1(th) >= KEEP * base), default=grid[0]))
    rate = {c: float(np.mean(v < threshold)) for c, v in lofo_score.items()}
    return {"threshold": threshold, "known_top1_with_rule": known_top1(threshold), "known_top1_without_rule": base,
            "lofo_unknown_rate": rate,
            "lofo_unknown_macro": float(np.mean([rate[c] for c in measured])) if measured and lofo_score else None}


def lofo_rates(X: np.ndarray, fam: np.ndarray, src: np.ndarray, units: np.ndarray, C: float = C,
               say=lambda *a, **k: None) -> dict[str, dict[str, float]]:
    """Leave-one-family-out, nested: per open-set rule and family ``c``, how often a head fitted
    without ``c`` answers ``c``'s images ``unknown``, its threshold chosen (as the shipped one is) on
    held-out scores of heads that were also fitted without ``c``. Every score a threshold meets then
    comes from heads of the same families: the energy score's log-sum grows with the number of
    families, so a threshold chosen on heads that know ``c`` and applied to one that lacks it answers
    ``unknown`` too often (stop 38 reported 34% for the energy rule that way; 16% measured nested)."""
    rates = {r: {} for r in OPEN_RULES}
    for c in sorted(set(fam)):
        keep = fam != c
        say(f"attribution: leave out {c} ({(~keep).sum()} images)", flush=True)
        Xk, fk, sk = X[keep], fam[keep], src[keep]
        classes = sorted(set(fk))
        zk = heldout_logits(Xk, fk, units[keep], head_fit(Xk, fk, sk, C), classes, False)
        mk = heldout_metrics(zk, fk, sk)
        zc = _logits(fit_family_head(Xk, fk, sk, C), X[~keep], classes)
        for r in OPEN_RULES:
            known = open_score(zk, mk["temperature"], r)
            th = open_threshold(known, mk["top1"], fk, mk["measured_families"], {})["threshold"]
            rates[r][c] = float(np.mean(open_score(zc, mk["temperature"], r) < th))
    return rates


def measure(X: np.ndarray, fam: np.ndarray, src: np.ndarray, units: np.ndarray, progress: bool = True,
            C: float = C, lofo: bool = True) -> dict:
    """Held-out attribution figures (see the module docstring), the fitted temperature, and the
    open-set rule and threshold (``lofo=False``: the folds only, for comparing settings)."""
    say = print if progress else (lambda *a, **k: None)
    classes = sorted(set(fam))
    z = heldout_logits(X, fam, units, head_fit(X, fam, src, C), classes, progress)
    m = heldout_metrics(z, fam, src)
    t, top1 = m.pop("temperature"), m.pop("top1")
    m.pop("p")

    rules = {r: open_threshold(open_score(z, t, r), top1, fam, m["measured_families"], {}) for r in OPEN_RULES}
    for r, rate in (lofo_rates(X, fam, src, units, C, say) if lofo else {}).items():
        rules[r].update(lofo_unknown_rate=rate,
                        lofo_unknown_macro=float(np.mean([rate[c] for c in m["measured_families"]])))
    # the rule that answers a left-out family "unknown" more often, at the same cost to the known ones
    rule = max(OPEN_RULES, key=lambda r: rules[r]["lofo_unknown_macro"] or 0.0) if lofo else "top_p"
    chosen = rules[rule]
    return {**m, "temperature": t, "open_rule": rule, "open_threshold": chosen["threshold"],
            **{k: chosen[k] for k in ("known_top1_with_rule", "known_top1_without_rule", "lofo_unknown_rate",
                                      "lofo_unknown_macro")},
            "open_rules": rules, "k": K, "seed": SEED, "C": C, "n": int(len(fam))}


def confusion_figure(m: dict, out: str | Path) -> None:
    """A row-normalised confusion matrix (held out by source) as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(m["confusion"], float)
    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    names = [f"{c} (n={m['per_family'][c]['n']}, {m['per_family'][c]['sources']} src)" for c in m["classes"]]
    ax.set_xticks(range(len(names)), m["classes"], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xlabel("answered family (top 1)")
    ax.set_ylabel("true family")
    ax.set_title("Family attribution held out by source (5 folds over sources), share of each row", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def attribution_rows(data: list[str]) -> list:
    """The manifest rows the attribution head learns from: AI images whose generator the table names."""
    from artcheck.families import family_of
    from artcheck.lab.pool import training_manifest

    return [r for r in training_manifest(data) if r.target == 1 and family_of(r.generator) != UNKNOWN]


def attribution_pool(data: list[str], backbone_name: str = "clip-vit-b16", progress: bool | None = None,
                     tokens: str | None = None):
    """(features, families, sources, hold-out units) of the named AI images; ``tokens``: the
    detector's CLIP token subset (the half tier's), None for all tokens."""
    from artcheck.detect.backbones import get_backbone
    from artcheck.families import family_of
    from artcheck.lab.pool import _features, holdout_units

    rows = attribution_rows(data)
    backbone = get_backbone(backbone_name, fetch=True, tokens=tokens)
    X = _features(backbone, backbone_name, [r.path for r in rows], "clean", None, progress)
    fam = np.array([family_of(r.generator) for r in rows])
    src = np.array([r.source for r in rows])
    units = holdout_units(src, np.array([r.group for r in rows]))
    return X, fam, src, units


def build_attribution(model_dir: str | Path, data: list[str], progress: bool | None = None,
                      figure: str | Path | None = None) -> dict:
    """Measure, then fit on every named AI image and write ``attribution.npz`` into the detector
    folder; its figures go into ``detector.json`` and the model card (``card.store_in_card``)."""
    import json

    from artcheck.detect.detector import DETECTOR_FILE
    from artcheck.lab.card import store_in_card
    from artcheck.lab.pool import columns

    folder = Path(model_dir)
    cfg = json.loads((folder / DETECTOR_FILE).read_text())
    cols = columns(cfg["feature_columns"])
    X, fam, src, units = attribution_pool(data, cfg["backbone"], progress, cfg.get("tokens"))
    X = X[:, cols]
    m = measure(X, fam, src, units, progress is not False)
    head = fit_family_head(X, fam, src)
    head.temperature, head.open_threshold, head.open_rule = m["temperature"], m["open_threshold"], m["open_rule"]
    head.save(folder / "attribution.npz")
    m["data"] = list(data)
    m["figure"] = str(figure) if figure else None
    m["command"] = "artcheck build-attribution --model DIR " + " ".join(f"--data {d}" for d in data)
    cfg["attribution"] = "attribution.npz"
    (folder / DETECTOR_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    store_in_card(folder, "attribution_metrics", m)
    if figure:
        confusion_figure(m, figure)
    return m
