"""A tiny ONNX backbone built in the tests: fixed high-pass filters -> |response| -> mean.

It is a real ONNX model run by ONNX Runtime through the same code as CLIP, small enough
to build in milliseconds, and it sees the synthetic generator fingerprint.
"""

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from artcheck.detect.backbones import BACKBONES, BackboneSpec, register_backbone
from artcheck.detect.preprocess import PreprocessConfig
from artcheck.detect.weights import WeightSource

NAME = "tiny-highpass"


def _filters() -> np.ndarray:
    k = np.zeros((4, 3, 3, 3), np.float32)
    checker = np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]], np.float32) / 9
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32) / 4
    dx = np.array([[0, 0, 0], [-1, 1, 0], [0, 0, 0]], np.float32)
    dy = dx.T.copy()
    for i, f in enumerate((checker, lap, dx, dy)):
        k[i] = f / 3            # same filter on each colour channel
    return k


def build_onnx(path: Path) -> str:
    w = numpy_helper.from_array(_filters(), "w")
    nodes = [helper.make_node("Conv", ["pixel_values", "w"], ["c"]),
             helper.make_node("Abs", ["c"], ["a"]),
             helper.make_node("GlobalAveragePool", ["a"], ["g"]),
             helper.make_node("Flatten", ["g"], ["features"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                                                           ["n", 3, 32, 32])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def register(path: Path) -> BackboneSpec:
    sha = build_onnx(path)
    spec = BackboneSpec(NAME, "fixed high-pass filters (test)", PreprocessConfig((32, 32), mean=(0.5,) * 3,
                        std=(0.5,) * 3), (WeightSource("file", sha, "MIT", path.name, location=str(path)),),
                        runtime="onnx", feature_dim=4, pooling="identity")
    BACKBONES.pop(NAME, None)
    return register_backbone(spec)


SLOW_MARKER = b"artcheck-test-slow"


def load_tiny_detector(folder: str, sleep_s: float = 0.0):
    """The tiny detector in ``folder`` (for a spawned server worker, which has none of the
    parent's registrations). Uploads carrying SLOW_MARKER make ``check_many`` busy-loop for
    ``sleep_s`` seconds, standing in for a CPU-bound check that runs past its deadline."""
    import time

    from artcheck.detect.detector import load_detector

    register(Path(folder) / "tiny.onnx")
    det = load_detector(folder)
    real = det.check_many

    def check_many(items, **kw):
        items = list(items)
        if sleep_s and any((isinstance(i, bytes) and SLOW_MARKER in i)
                           or (isinstance(i, tuple) and SLOW_MARKER in i[1]) for i in items):
            end = time.monotonic() + sleep_s
            while time.monotonic() < end:   # CPU-bound, holds the interpreter like the regex bomb did
                sum(range(1000))
        return real(items, **kw)

    det.check_many = check_many
    return det


def build_exported_detector(folder: Path) -> Path:
    """A detector folder of the kind 'artcheck export' writes (``kind: onnx-model``), built without
    torch: the high-pass filters, a fixed linear layer and a sigmoid, so P(ai) varies per image.
    Any process can load it with ``--model FOLDER`` (no registration needed)."""
    import json

    from artcheck.detect.exported import KIND, sha256_file

    folder.mkdir(parents=True, exist_ok=True)
    inits = [numpy_helper.from_array(_filters(), "w"),
             numpy_helper.from_array(np.array([[40.0], [40.0], [-3.0], [-3.0]], np.float32), "lin"),
             numpy_helper.from_array(np.array([-2.0], np.float32), "bias"),
             numpy_helper.from_array(np.array([-1], np.int64), "flat")]
    nodes = [helper.make_node("Conv", ["pixels", "w"], ["c"]), helper.make_node("Abs", ["c"], ["a"]),
             helper.make_node("GlobalAveragePool", ["a"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "lin"], ["m"]), helper.make_node("Add", ["m", "bias"], ["z"]),
             helper.make_node("Sigmoid", ["z"], ["s"]), helper.make_node("Reshape", ["s", "flat"], ["p_ai"])]
    graph = helper.make_graph(nodes, "tiny-exported",
                              [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 3, 32, 32])],
                              [helper.make_tensor_value_info("p_ai", TensorProto.FLOAT, ["n"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    config = {"name": "tiny-exported", "version": "1", "kind": KIND, "graph": "model.onnx",
              "graph_sha256": sha256_file(folder / "model.onnx"),
              "preprocess": PreprocessConfig((32, 32), mean=(0.5,) * 3, std=(0.5,) * 3).to_dict(),
              "uncertain_band": [0.4, 0.6]}
    (folder / "detector.json").write_text(json.dumps(config))
    return folder
