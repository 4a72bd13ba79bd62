"""A whole trained model exported as one ONNX graph (``artcheck export``), run with the core install.

The folder holds ``detector.json`` (``"kind": "onnx-model"``), the graph and its sha256. The
graph takes the model's own normalised input (N, 3, H, W) and returns P(ai) (N,); the
preprocessing that makes that input is written beside it, so nothing is re-typed. In the
detector this plays the backbone's part and :class:`ProbabilityColumn` the head's.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from artcheck.detect.preprocess import PreprocessConfig

KIND = "onnx-model"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_graph(folder: Path, config: dict, key: str, fix: str) -> Path:
    """The graph file ``config[key]`` names in ``folder``, checked against the sha256 recorded
    under ``key + "_sha256"`` (if any); ``fix`` says how to get a good one."""
    graph = Path(folder) / config[key]
    if not graph.is_file():
        raise FileNotFoundError(f"{folder}: detector.json names the graph {config[key]!r}, which is missing; {fix}")
    expected = config.get(f"{key}_sha256")
    if expected and sha256_file(graph) != expected:
        raise ValueError(f"{graph}: sha256 differs from the one detector.json records ({expected[:12]}...); "
                         f"the file was changed after it was written: {fix}")
    return graph


class ExportedModel:
    """uint8 (N, H, W, 3) at ``preprocess.input_size`` -> P(ai) as a (N, 1) feature column."""

    def __init__(self, folder: Path, config: dict, threads: int | None = None):
        import onnxruntime as ort

        graph = verified_graph(folder, config, "graph", "export the run again with 'artcheck export RUN --out DIR'")
        self.preprocess = PreprocessConfig.from_dict(config["preprocess"])
        self.grayscale = bool(config.get("grayscale", False))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or int(os.environ.get("ARTCHECK_THREADS", 0)) or (os.cpu_count() or 1)
        self.session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def features(self, batch_uint8: np.ndarray) -> np.ndarray:
        if self.grayscale:      # as training saw it: luma (ITU-R 601-2, Pillow's "L") in all three channels
            luma = np.rint(batch_uint8.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]))
            batch_uint8 = np.repeat(np.clip(luma, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
        p = self.session.run(None, {self.input_name: self.preprocess.normalize(batch_uint8)})[0]
        return np.asarray(p, np.float64).reshape(len(batch_uint8), 1)


class ProbabilityColumn:
    """The head of an exported model: its graph already gives P(ai)."""

    def proba_ai(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, np.float64)[:, 0]
