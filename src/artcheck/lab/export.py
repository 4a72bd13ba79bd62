"""``artcheck export RUN --out DIR``: a trained run as a detector folder the core install runs.

- torch models (seed CNNs, transfer models): one ONNX graph, normalised input -> P(ai), with the
  model's preprocessing and the run's grayscale setting in ``detector.json`` (``kind: onnx-model``);
- linear classical models on an ONNX backbone's features (``logreg-clip``, ``probe-clip``): the
  standardiser and logistic regression become a NumPy :class:`~artcheck.detect.probe.LinearProbe`
  (``head.json``) on the backbone's feature columns, as the shipped detector is built.

``artcheck check --model DIR`` and ``artcheck serve --model DIR`` then give the run's
``artcheck predict`` scores (a test checks they agree). Other classical models (SVM, trees,
forests, k-NN, or pixel/forensic features) need scikit-learn at check time and are refused
with a message saying so.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from artcheck.detect import exported
from artcheck.detect.detector import DETECTOR_FILE
from artcheck.lab import runs

GRAPH_FILE = "model.onnx"
HEAD_FILE = "head.json"
OPSET = 17
LINEAR_ESTIMATORS = ("logreg", "probe")


def _base_config(run_dir: Path, info: dict, cfg: dict) -> dict:
    return {"name": f"{info['name']} ({run_dir.name})", "version": cfg.get("created", "0"),
            "exported_from": str(run_dir), "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": info["name"], "classes": info.get("classes", ["human", "ai"]),
            # one cut-off at 0.5: a trained run has no held-out calibration or uncertain band
            "uncertain_band": [0.5, 0.5],
            "note": "exported from a training run: P(ai) is the model's own output, not calibrated on held-out sources"}


class _ProbaAI:
    """Wraps a torch model so the graph ends in P(ai) (N,): what the detector reads."""

    def __new__(cls, model):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner.proba_ai(self.inner(x))

        return Wrapped(model).eval()


def _export_torch(model, out: Path) -> None:
    import torch

    h, w = model.preprocess.input_size
    dummy = torch.zeros(1, 3, h, w)
    with warnings.catch_warnings():   # torch >= 2.9 announces its torch.export-based exporter (needs onnxscript)
        warnings.simplefilter("ignore")
        torch.onnx.export(_ProbaAI(model), dummy, str(out / GRAPH_FILE), input_names=["pixels"],
                          output_names=["p_ai"], dynamic_axes={"pixels": {0: "n"}, "p_ai": {0: "n"}},
                          opset_version=OPSET, dynamo=False)


def _export_linear(model, run_dir: Path, out: Path) -> dict:
    from artcheck.detect.backbones import embedding_columns, get_spec
    from artcheck.detect.probe import LinearProbe

    spec = get_spec(model.backbone_name) if model.backbone_name else None
    if (model.estimator_name not in LINEAR_ESTIMATORS or spec is None or spec.runtime != "onnx"
            or spec.pooling == "none"):
        raise ValueError(
            f"{run_dir}: {model.registry_name} cannot be exported for the core install: only torch models and "
            f"linear classical models ({', '.join(e + '-clip' for e in LINEAR_ESTIMATORS)}) on an ONNX backbone's "
            "features can; this one needs scikit-learn at check time. Use 'artcheck predict RUN IMAGES' instead")
    scaler, clf = model.pipeline[0], model.pipeline[-1]
    head = LinearProbe(backbone=spec.name, C=float(np.ravel(getattr(clf, "C_", [getattr(clf, "C", 1.0)]))[0]),
                       coef=np.asarray(clf.coef_[0], np.float64), intercept=float(clf.intercept_[0]),
                       mean=np.asarray(scaler.mean_, np.float64), scale=np.asarray(scaler.scale_, np.float64),
                       meta={"exported_from": str(run_dir)})
    if list(clf.classes_) != [0, 1]:
        raise ValueError(f"{run_dir}: expected a two-class model with classes [0, 1]; got {list(clf.classes_)}")
    head.save(out / HEAD_FILE)
    cols = embedding_columns(spec)
    start, stop, _ = cols.indices(spec.feature_dim)
    return {"backbone": spec.name, "head": HEAD_FILE, "feature_columns": [[start, stop]]}


def export(run_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write ``out_dir/detector.json`` (and the graph or head) for a run directory; returns ``out_dir``."""
    run_dir, out = Path(run_dir), Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass --force to overwrite it, or another --out")
    info_path = run_dir / runs.MODEL_FILE
    if not info_path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {runs.MODEL_FILE}; expected a run directory written by 'artcheck train'")
    info = json.loads(info_path.read_text())
    if len(info.get("classes", ())) > 2:
        raise ValueError(f"{run_dir}: a {len(info['classes'])}-class model ({', '.join(info['classes'])}); a detector "
                         "answers ai or human, so export works for two-class runs only")
    written = json.loads((run_dir / runs.CONFIG_FILE).read_text()) if (run_dir / runs.CONFIG_FILE).is_file() else {}
    cfg = written.get("config", {})
    model = runs.load_model(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = _base_config(run_dir, info, written)
    if info.get("kind") == "classical":
        config.update(_export_linear(model, run_dir, out))
    else:
        _export_torch(model, out)
        config.update({"kind": exported.KIND, "graph": GRAPH_FILE, "graph_sha256": exported.sha256_file(out / GRAPH_FILE),
                       "preprocess": model.preprocess.to_dict(), "grayscale": bool(cfg.get("grayscale", False))})
    (out / DETECTOR_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return out
