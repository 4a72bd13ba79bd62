"""Classical scikit-learn models on three feature types, leave-one-source-out.

    python benchmarks/classical.py [--data ../shared/data/wild-dev] [--out benchmarks/results]

Also reports stratified 5-fold cross-validation grouped by near-duplicate (pHash) group,
sources mixed, to show how far in-distribution figures sit above LOSO.

Feature types: raw pixels (32x32 RGB), forensic features (artcheck.lab.forensic: radial
spectrum, high-frequency energy, noise and NPR residual statistics; no weights), and
frozen CLIP ViT-B/16 features (the projected embedding; the mean patch tokens of blocks
1,3,..,11, the default detector's recipe), and the pooled ImageNet trunks of MobileNetV2 and
EfficientNet-Lite0. Models: logistic regression, RBF SVM, decision
tree, random forest, k-NN, each after standardisation. For every source S: fit on the
other sources, score S; metrics pool all held-out scores. CLIP features come from the
feature cache (computed on first use). Inference time is the model's predict time plus
the feature extraction time per image.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import WILD_DEV, fmt, grouped_folds, write_json  # noqa: E402

from artcheck.lab.pool import FEATURE_SETS, _features, columns  # noqa: E402
from artcheck.data import read_dataset  # noqa: E402
from artcheck.lab.evaluate import binary_metrics  # noqa: E402
from artcheck.lab.forensic import forensic_features  # noqa: E402
from artcheck.images import open_rgb  # noqa: E402


def models():
    """The library's estimators (artcheck.models.classical owns their settings), each after standardisation."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from artcheck.models.classical import estimators

    return {desc.split(",")[0].split(":")[0]: (lambda f=factory: make_pipeline(StandardScaler(), f()))
            for desc, factory in estimators().values()}


def score(clf, X):
    if hasattr(clf, "predict_proba"):
        return clf.predict_proba(X)[:, 1]
    return 1 / (1 + np.exp(-clf.decision_function(X)))


def loso(make, X, y, src, folds=None):
    """Leave-one-source-out (``folds`` None) or the given fold ids (grouped CV)."""
    p, train_s, pred_s = np.zeros(len(y)), 0.0, 0.0
    fold = src if folds is None else folds
    for s in np.unique(fold):
        tr = fold != s
        t = time.perf_counter()
        clf = make().fit(X[tr], y[tr])
        train_s += time.perf_counter() - t
        t = time.perf_counter()
        p[~tr] = score(clf, X[~tr])
        pred_s += time.perf_counter() - t
    m = binary_metrics(y, p)
    per_source = {s: float(((p[src == s] >= 0.5) == (y[src == s] == 1)).mean()) for s in np.unique(src)}
    return {"balanced_accuracy": m["balanced_accuracy"], "roc_auc": m["roc_auc"], "n_folds": len(np.unique(fold)),
            "human_false_positive_rate": m["human_false_positive_rate"], "per_source_accuracy": per_source,
            "train_seconds": train_s, "predict_ms_per_image": 1000 * pred_s / len(y)}


def feature_table(paths):
    from artcheck.detect.backbones import get_backbone

    out, ms = {}, {}
    t = time.perf_counter()
    out["pixels 32x32"] = np.stack([np.asarray(open_rgb(p).resize((32, 32), 3), np.float32).ravel() / 255 for p in paths])
    ms["pixels 32x32"] = 1000 * (time.perf_counter() - t) / len(paths)
    t = time.perf_counter()
    out["forensic"] = np.stack([forensic_features(open_rgb(p)) for p in paths])
    ms["forensic"] = 1000 * (time.perf_counter() - t) / len(paths)
    backbone = get_backbone("clip-vit-b16", fetch=True)
    t = time.perf_counter()
    clip = _features(backbone, "clip-vit-b16", paths, "clean", None, False)
    per = 1000 * (time.perf_counter() - t) / len(paths)
    for name, ranges in (("CLIP embedding", FEATURE_SETS["embedding"]),
                         ("CLIP mean patch, blocks 1,3,..,11", FEATURE_SETS["mean patch of blocks 1,3,..,11"])):
        out[name], ms[name] = clip[:, columns(ranges)], per
    from artcheck.models import create_model

    for name, model_name in (("MobileNetV2 pooled (ImageNet)", "logreg-mobilenet"),
                             ("EfficientNet-Lite0 pooled (ImageNet)", "logreg-lite0")):
        model = create_model(model_name)          # its featurize() caches on disk by input hash
        t = time.perf_counter()
        arrays = [model.preprocess.to_uint8(open_rgb(p)) for p in paths]
        out[name] = np.concatenate([model.featurize(np.stack(arrays[i:i + 32])) for i in range(0, len(arrays), 32)])
        ms[name] = 1000 * (time.perf_counter() - t) / len(paths)
    return out, ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(WILD_DEV))
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    manifest = read_dataset(args.data)
    paths = [r.path for r in manifest]
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    feats, feat_ms = feature_table(paths)
    folds = grouped_folds(manifest)
    results = {}
    for fname, X in feats.items():
        for mname, make in models().items():
            r = loso(make, X, y, src)
            r["feature_ms_per_image"] = feat_ms[fname]
            g = loso(make, X, y, src, folds)
            r["grouped_cv"] = {k: g[k] for k in ("balanced_accuracy", "roc_auc", "n_folds")}
            results[f"{mname} | {fname}"] = r
            print(f"{mname:20s} {fname:36s} LOSO bAcc {r['balanced_accuracy']:.3f} AUC {r['roc_auc']:.3f}  "
                  f"grouped CV bAcc {g['balanced_accuracy']:.3f} AUC {g['roc_auc']:.3f}", flush=True)
    write_json(Path(args.out) / "classical.json", {"args": vars(args), "results": results})
    sources = sorted(set(src))
    head = ["model", "features", "bal. acc", "AUC", "human FPR"] + [f"acc {s}" for s in sources] + \
           ["grouped 5-fold CV bal. acc / AUC", "train s (5 folds)", "infer ms/img"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        lines.append("| " + " | ".join([*name.split(" | "), fmt(r["balanced_accuracy"]), fmt(r["roc_auc"]),
                                        fmt(r["human_false_positive_rate"])] +
                                       [fmt(r["per_source_accuracy"][s]) for s in sources] +
                                       [f"{fmt(r['grouped_cv']['balanced_accuracy'])} / {fmt(r['grouped_cv']['roc_auc'])}",
                                        f"{r['train_seconds']:.1f}",
                                        f"{r['predict_ms_per_image'] + r['feature_ms_per_image']:.1f}"]) + " |")
    (Path(args.out) / "classical.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
