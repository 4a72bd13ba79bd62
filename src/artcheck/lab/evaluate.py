"""``evaluate(model, manifest) -> Report``: metrics, breakdowns and the files that show them."""

from __future__ import annotations

import csv
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from artcheck.data.manifest import Manifest, Record
from artcheck.images import ImageError, load_image
from artcheck.labels import AI, CLASSES
from artcheck.progress import track

log = logging.getLogger(__name__)
DEFAULT_THRESHOLD = 0.5
BREAKDOWNS = ("source", "generator", "style")


@dataclass
class Predictions:
    records: list[Record]
    p_ai: np.ndarray
    errors: list[tuple[str, str]] = field(default_factory=list)
    proba: np.ndarray | None = None          # (n, len(classes)) for models with more than two classes
    classes: tuple[str, ...] = CLASSES

    @property
    def y(self) -> np.ndarray:
        return np.array([r.target for r in self.records], dtype=int)


def _decoded_batches(records: list[Record], to_array: Callable, batch_size: int, workers: int
                     ) -> Iterator[tuple[list[Record], list[np.ndarray], list[tuple[str, str]]]]:
    def decode(r: Record):
        try:
            return r, to_array(load_image(r.path).image), None
        except ImageError as e:
            return r, None, e.reason

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for i in range(0, len(records), batch_size):
            ok, arrays, errors = [], [], []
            for r, arr, err in pool.map(decode, records[i:i + batch_size]):
                if err is None:
                    ok.append(r)
                    arrays.append(arr)
                else:
                    log.warning("skipping %s: %s", r.path, err)
                    errors.append((r.path, err))
            yield ok, arrays, errors


def predict_manifest(model: Any, manifest: Manifest, batch_size: int = 64, workers: int = 2,
                     grayscale: bool = False, progress: bool | None = None) -> Predictions:
    """P(ai) for every readable image; unreadable ones are listed in ``errors``."""
    def to_array(img):
        return model.preprocess.to_uint8(img.convert("L").convert("RGB") if grayscale else img)

    classes = tuple(getattr(model, "classes", CLASSES))
    multi = len(classes) > 2
    records, probs, errors = [], [], []
    n_batches = (len(manifest) + batch_size - 1) // batch_size
    batches = _decoded_batches(manifest.records, to_array, batch_size, workers)
    for ok, arrays, errs in track(batches, "Predicting", total=n_batches, enabled=progress):
        errors += errs
        if ok:
            records += ok
            batch = np.stack(arrays)
            probs.append(model.predict_class_arrays(batch) if multi else model.predict_arrays(batch))
    if not multi:
        return Predictions(records, np.concatenate(probs) if probs else np.zeros(0), errors)
    proba = np.concatenate(probs) if probs else np.zeros((0, len(classes)))
    return Predictions(records, proba[:, classes.index(AI)], errors, proba, classes)


def multiclass_metrics(preds: Predictions) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class P/R/F1 and the K x K confusion matrix (rows true)."""
    from sklearn import metrics as skm

    classes = preds.classes
    y = np.array([r.class_index(classes) for r in preds.records], dtype=int)
    pred = preds.proba.argmax(1)
    labels = list(range(len(classes)))
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    return {"classes": list(classes), "accuracy": float(skm.accuracy_score(y, pred)) if len(y) else None,
            "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)) if len(set(y)) > 1 else None,
            "per_class": {c: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                              "support": int(support[i])} for i, c in enumerate(classes)},
            "confusion_matrix": skm.confusion_matrix(y, pred, labels=labels).tolist()}


def binary_metrics(y: np.ndarray, p_ai: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class P/R/F1, ROC AUC, AP and the confusion matrix."""
    from sklearn import metrics as skm

    pred = (p_ai >= threshold).astype(int)
    out: dict[str, Any] = {"n": int(len(y)), "threshold": threshold,
                           "accuracy": float(skm.accuracy_score(y, pred)) if len(y) else None}
    both = len(set(y.tolist())) == 2
    out["balanced_accuracy"] = float(skm.balanced_accuracy_score(y, pred)) if both else None
    out["roc_auc"] = float(skm.roc_auc_score(y, p_ai)) if both else None
    out["average_precision"] = float(skm.average_precision_score(y, p_ai)) if both else None
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, pred, labels=[0, 1], zero_division=0)
    out["per_class"] = {c: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                            "support": int(support[i])} for i, c in enumerate(CLASSES)}
    out["confusion_matrix"] = skm.confusion_matrix(y, pred, labels=[0, 1]).tolist()
    out["human_false_positive_rate"] = (float(np.mean(pred[y == 0])) if (y == 0).any() else None)
    return out


@dataclass
class Report:
    overall: dict[str, Any]
    breakdowns: dict[str, dict[str, dict[str, Any]]]
    predictions: Predictions
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.meta, **self.overall, "breakdowns": self.breakdowns,
                "skipped": [{"path": p, "reason": r} for p, r in self.predictions.errors]}


def report_from_predictions(preds: Predictions, threshold: float = DEFAULT_THRESHOLD,
                            meta: dict[str, Any] | None = None) -> Report:
    y, p = preds.y, preds.p_ai
    breakdowns: dict[str, dict[str, dict[str, Any]]] = {}
    by_label = ("label",) if len({r.label for r in preds.records}) > 2 else ()   # edited images present
    for by in (*by_label, *BREAKDOWNS):
        values = sorted({getattr(r, by) for r in preds.records} - {""})
        if values:
            breakdowns[by] = {}
            for v in values:
                idx = np.array([getattr(r, by) == v for r in preds.records])
                m = binary_metrics(y[idx], p[idx], threshold)
                breakdowns[by][v] = {k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "roc_auc",
                                                       "human_false_positive_rate")}
    overall = binary_metrics(y, p, threshold)
    if preds.proba is not None:
        overall["multiclass"] = multiclass_metrics(preds)
    return Report(overall, breakdowns, preds, meta or {})


def evaluate(model: Any, manifest: Manifest, threshold: float = DEFAULT_THRESHOLD, grayscale: bool = False,
             batch_size: int = 64, workers: int = 2, progress: bool | None = None) -> Report:
    preds = predict_manifest(model, manifest, batch_size, workers, grayscale, progress)
    return report_from_predictions(preds, threshold)


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def to_markdown(report: Report) -> str:
    o = report.overall
    lines = ["# Evaluation", ""]
    lines += [f"- {k}: {_fmt(report.meta[k])}" for k in report.meta]
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(o[k])} |" for k in ("n", "threshold", "accuracy", "balanced_accuracy", "roc_auc",
                                                   "average_precision", "human_false_positive_rate")]
    lines += ["", "| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {c} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | {m['support']} |"
              for c, m in o["per_class"].items()]
    cm = o["confusion_matrix"]
    lines += ["", "Confusion matrix (rows true, columns predicted: human, ai):", "",
              f"    human  {cm[0][0]:6d} {cm[0][1]:6d}", f"    ai     {cm[1][0]:6d} {cm[1][1]:6d}"]
    if "multiclass" in o:
        mc = o["multiclass"]
        lines += ["", f"## {len(mc['classes'])} classes", "",
                  f"accuracy {_fmt(mc['accuracy'])}, balanced accuracy {_fmt(mc['balanced_accuracy'])} "
                  "(the binary figures above count edited as human)", "",
                  "| true \\ predicted | " + " | ".join(mc["classes"]) + " | recall |",
                  "|---" * (len(mc["classes"]) + 2) + "|"]
        lines += [f"| {c} | " + " | ".join(str(v) for v in row) + f" | {_fmt(mc['per_class'][c]['recall'])} |"
                  for c, row in zip(mc["classes"], mc["confusion_matrix"])]
    for by, groups in report.breakdowns.items():
        lines += ["", f"## By {by}", "", f"| {by} | n | accuracy | balanced acc | AUC | human FPR |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {v} | {m['n']} | {_fmt(m['accuracy'])} | {_fmt(m['balanced_accuracy'])} | "
                  f"{_fmt(m['roc_auc'])} | {_fmt(m['human_false_positive_rate'])} |" for v, m in groups.items()]
    if report.predictions.errors:
        lines += ["", f"## Skipped files ({len(report.predictions.errors)})", ""]
        lines += [f"- `{p}`: {r}" for p, r in report.predictions.errors]
    return "\n".join(lines) + "\n"


def write_report(report: Report, out_dir: str | Path) -> Path:
    """metrics.json, metrics.md, confusion_matrix.png and predictions.csv under ``out_dir``."""
    from artcheck.lab.plots import plot_confusion

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (out / "metrics.md").write_text(to_markdown(report))
    plot_confusion(report.overall["confusion_matrix"], out / "confusion_matrix.png")
    if "multiclass" in report.overall:
        mc = report.overall["multiclass"]
        plot_confusion(mc["confusion_matrix"], out / "confusion_matrix_classes.png", labels=mc["classes"],
                       title=f"{len(mc['classes'])}-class confusion matrix")
    preds = report.predictions
    extra = [c for c in preds.classes if c != AI] if preds.proba is not None else []
    with (out / "predictions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "p_ai", "source", "generator", "style", "split", *[f"p_{c}" for c in extra]])
        for k, (r, p) in enumerate(zip(preds.records, preds.p_ai)):
            more = [f"{preds.proba[k, preds.classes.index(c)]:.6f}" for c in extra]
            w.writerow([r.path, r.label, f"{p:.6f}", r.source, r.generator, r.style, r.split, *more])
    return out


def select_split(manifest: Manifest, run_split: Manifest | None, split: str) -> Manifest:
    """Records of ``split`` as the run assigned them. Images the run never saw count as ``test``."""
    if split == "all":
        return manifest
    assigned = {os.path.abspath(r.path): r.split for r in run_split} if run_split is not None else {}
    keep = []
    for r in manifest:
        s = assigned.get(os.path.abspath(r.path)) or r.split or "test"
        if s == split:
            keep.append(r)
    if not keep:
        raise ValueError(f"no images in split {split!r}; choose train, val, test or all")
    return Manifest(keep, manifest.root, manifest.layout)
