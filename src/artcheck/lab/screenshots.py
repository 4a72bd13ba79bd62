"""Fit and measure the screenshot check (``detect.quality.ScreenshotCheck``; issue 26, point 5).

A class-balanced logistic regression on the detector's own features: real screenshots of three
desktops' manuals (``scripts/screenshot_sources.py``) against the detector's training pool. Both
are measured held out:

- the pool, in the detector's 5 folds over hold-out units: the threshold is set above the highest
  held-out pool score (plus ``MARGIN``), so no image of the pool is called a screenshot (images
  that the pixel rules of ``detect.quality`` already call out of scope are left out of the pool);
- the screenshots, leave-one-suite-out: a check fitted without GNOME's screenshots scores them,
  with its own threshold found the same way.

Images it never trained on (other labelled folders, the bundled samples) are then scored by the
shipped check and counted.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

C = 0.01         # chosen on the leave-one-suite-out recall (macro 0.806, 0.825, 0.798 for C = 0.001, 0.01, 0.1)
MARGIN = 0.5     # logits above the highest held-out pool score
K = 5


def _fit(X: np.ndarray, y: np.ndarray):
    """(w, b) of a standardised, class-balanced logistic regression, folded back to raw features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(X)
    m = LogisticRegression(C=C, class_weight="balanced", max_iter=3000).fit(sc.transform(X), y)
    w = m.coef_[0] / sc.scale_
    return w.astype(np.float32), float(m.intercept_[0] - (w * sc.mean_).sum())


def _logit(wb, X):
    return X @ wb[0] + wb[1]


def measure(shots: np.ndarray, suites: np.ndarray, pool: np.ndarray, folds: np.ndarray) -> dict:
    """Held-out figures (see the module docstring) and the threshold for a check fitted on all."""
    def held_out_pool(keep: np.ndarray) -> np.ndarray:
        oof = np.zeros(len(pool))
        for k in range(K):
            te = folds == k
            wb = _fit(np.vstack([shots[keep], pool[~te]]), np.r_[np.ones(keep.sum()), np.zeros((~te).sum())])
            oof[te] = _logit(wb, pool[te])
        return oof

    oof = held_out_pool(np.ones(len(shots), bool))
    threshold = float(oof.max() + MARGIN)
    per_suite = {}
    for s in sorted(set(suites)):
        keep = suites != s
        t = float(held_out_pool(keep).max() + MARGIN)
        z = _logit(_fit(np.vstack([shots[keep], pool]), np.r_[np.ones(keep.sum()), np.zeros(len(pool))]),
                   shots[~keep])
        per_suite[s] = {"n": int((~keep).sum()), "caught": round(float((z >= t).mean()), 3), "threshold": round(t, 2)}
    return {"threshold": threshold, "pool_held_out_max": float(oof.max()), "pool_held_out_oof": oof,
            "per_suite_held_out": per_suite,
            "macro_caught": round(float(np.mean([r["caught"] for r in per_suite.values()])), 3)}


def read_screenshots(folder: str | Path) -> tuple[list[str], np.ndarray]:
    folder = Path(folder)
    man = folder / "manifest.csv"
    if not man.is_file():
        raise FileNotFoundError(f"{folder}: no manifest.csv; write the screenshots with "
                                f"'python scripts/screenshot_sources.py --out {folder}'")
    with man.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [str(folder / r["path"]) for r in rows], np.array([r["suite"] for r in rows])


def build_screenshot_check(model_dir: str | Path, screenshots: str | Path, data: list[str],
                           eval_data: list[str] = (), progress: bool | None = None) -> dict:
    """Measure, fit on everything, write ``screenshot.npz`` into the detector folder and its
    figures into ``detector.json`` and the model card."""
    from artcheck.detect.detector import DETECTOR_FILE, load_detector
    from artcheck.data.manifest import Manifest
    from artcheck.detect.quality import SCREENSHOT_FILE, ScreenshotCheck, out_of_scope
    from artcheck.images import load_image
    from artcheck.lab.card import store_in_card
    from artcheck.lab.folds import unit_folds
    from artcheck.data import read_dataset
    from artcheck.lab.pool import check_time_features as pool_check_time_features
    from artcheck.lab.pool import feature_views, holdout_units, training_manifest

    folder = Path(model_dir)
    det = load_detector(folder)

    def check_time_features(paths: list[str]) -> np.ndarray:
        return pool_check_time_features(det, paths, progress)[:, det.columns]

    shot_paths, suites = read_screenshots(screenshots)
    shots = check_time_features(shot_paths)
    manifest = training_manifest(data)
    pool = feature_views(det.backbone, [r.path for r in manifest], 0, progress)["clean"][:, det.columns]
    # images the pixel rules already call out of scope (near-flat, tiny, noise) are left out: their
    # features are extreme, and their verdict is `uncertain` whatever this check says
    pixel_rule = np.array([out_of_scope(L.width, L.height, det.preprocess.to_uint8(L.image)) is not None
                           for L in (load_image(r.path) for r in manifest)])
    manifest = Manifest([r for r, out in zip(manifest, pixel_rule) if not out])
    pool = pool[~pixel_rule]
    src = np.array([r.source for r in manifest])
    units = holdout_units(src, np.array([r.group for r in manifest]))
    folds = unit_folds(np.array([r.target for r in manifest]), units, K, 0)
    m = measure(shots, suites, pool, folds)
    oof = m.pop("pool_held_out_oof")
    top = np.argsort(-oof)[:5]
    m["pool_highest"] = [{"source": str(src[i]), "path": manifest[int(i)].path, "score": round(float(oof[i]), 2)}
                         for i in top]
    wb = _fit(np.vstack([shots, pool]), np.r_[np.ones(len(shots)), np.zeros(len(pool))])
    check = ScreenshotCheck(wb[0], wb[1], m["threshold"])
    m.update(n_screenshots=len(shots), n_pool=len(pool), n_pool_pixel_rule=int(pixel_rule.sum()), C=C, margin=MARGIN,
             suites={s: int((suites == s).sum()) for s in sorted(set(suites))})
    unseen = {}
    for d in eval_data:
        paths = [r.path for r in read_dataset(d)]
        z = check.logits(check_time_features(paths))
        unseen[Path(d).name] = {"n": len(paths), "flagged": [p for p, v in zip(paths, z) if v >= check.threshold]}
    from importlib import resources

    samples = sorted(str(p) for p in Path(str(resources.files("artcheck") / "assets" / "samples")).iterdir())
    z = check.logits(check_time_features(samples))
    unseen["bundled samples"] = {"n": len(samples), "flagged": [p for p, v in zip(samples, z) if v >= check.threshold]}
    m["unseen"] = unseen
    m["command"] = (f"artcheck build-screenshot-check --model DIR --screenshots {screenshots} "
                    + " ".join(f"--data {d}" for d in data) + "".join(f" --eval-data {d}" for d in eval_data))
    check.save(folder / SCREENSHOT_FILE)
    cfg = json.loads((folder / DETECTOR_FILE).read_text())
    cfg["screenshot_check"] = SCREENSHOT_FILE
    cfg["input_check"] = True
    (folder / DETECTOR_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    store_in_card(folder, "screenshot_metrics", m)
    return m
