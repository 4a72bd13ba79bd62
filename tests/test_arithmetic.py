"""One score per image on every CPU: the float64 reference, the float32 rewrite, the load-time probe."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

ASSETS = Path(str(resources.files("artcheck") / "assets"))


def _quantised_mlp(tmp_path):
    """A two-layer float graph, dynamically quantised by ONNX Runtime's own tool (the same chain
    as the shipped CLIP: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import quantize_dynamic

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(32, 64)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(size=(64, 8)).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="/mlp/fc1/MatMul"),
             helper.make_node("Sigmoid", ["h"], ["s"], name="/mlp/act/Sigmoid"),
             helper.make_node("MatMul", ["s", "w2"], ["y"], name="/mlp/fc2/MatMul")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "mlp.onnx"))
    quantize_dynamic(str(tmp_path / "mlp.onnx"), str(tmp_path / "mlp.int8.onnx"))
    return onnx.load(str(tmp_path / "mlp.int8.onnx"))


def test_dequantise_rewrites_every_quantised_layer_as_a_float_matmul(tmp_path):
    import onnxruntime as ort
    from onnx import numpy_helper

    from artcheck.detect.clip_graph import dequantise, dequantised_weights, quantised_linears

    model = _quantised_mlp(tmp_path)
    linears = quantised_linears(model)
    assert [q.module for q in linears] == ["mlp.fc1", "mlp.fc2"]
    weights = dequantised_weights(model)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    q = linears[0]
    expected = (inits[q.weight].astype(np.float64) - inits[q.zero_point]) * inits[q.scale]
    assert np.array_equal(weights["mlp.fc1.weight"], expected)

    int8 = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert dequantise(model) == 2
    ops = [n.op_type for n in model.graph.node]
    assert "MatMulInteger" not in ops and "DynamicQuantizeLinear" not in ops and ops.count("MatMul") == 2
    f32 = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(size=(5, 32)).astype(np.float32)
    ref = 1 / (1 + np.exp(-(x.astype(np.float64) @ weights["mlp.fc1.weight"]))) @ weights["mlp.fc2.weight"]
    y32 = f32.run(None, {"x": x})[0]
    assert np.abs(y32 - ref).max() < 1e-4 * np.abs(ref).max()          # float32 rounding only
    # batch-invariant (no per-tensor activation scale), unlike the INT8 graph it came from
    assert np.allclose(f32.run(None, {"x": x[:1]})[0], y32[:1], rtol=0, atol=1e-5)
    y8 = int8.run(None, {"x": x})[0]
    assert np.abs(y8 - ref).max() > 10 * np.abs(y32 - ref).max()       # what the activation quantisation costs


def test_the_probe_takes_the_fastest_path_within_tolerance_caches_it_and_can_be_forced(monkeypatch, tmp_path):
    from artcheck.detect import arithmetic

    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "w.onnx"
    weights.write_bytes(b"x")
    calls = []

    def fake_measure(make, candidates, path, score, tokens=None):
        calls.append(candidates)
        return {"int8-exact": 0.07, "float32": 6e-7}

    monkeypatch.setattr(arithmetic, "measure", fake_measure)
    choice = arithmetic.choose(lambda p: None, ("float32", "int8-exact"), weights, None, "head")
    assert choice.path == "float32" and not choice.cached and calls == [("int8-exact", "float32")]
    assert "int8-exact 7.0e-02" in choice.describe() and "tolerance 0.0001" in choice.describe()
    again = arithmetic.choose(lambda p: None, ("float32", "int8-exact"), weights, None, "head")
    assert again.path == "float32" and again.cached and len(calls) == 1
    other_head = arithmetic.choose(lambda p: None, ("float32", "int8-exact"), weights, None, "another head")
    assert not other_head.cached and len(calls) == 2

    monkeypatch.setattr(arithmetic, "measure", lambda *a: {"int8-exact": 5e-5, "float32": 6e-7})
    assert arithmetic.choose(lambda p: None, ("float32", "int8-exact"), weights, None, "h3").path == "int8-exact"

    monkeypatch.setenv("ARTCHECK_ARITHMETIC", "float32")
    forced = arithmetic.choose(lambda p: None, ("float32", "int8-exact"), weights, None, "h3")
    assert forced.path == "float32" and forced.forced
    monkeypatch.setenv("ARTCHECK_ARITHMETIC", "fp16")
    with pytest.raises(ValueError, match="ARTCHECK_ARITHMETIC='fp16': expected one of float32, int8-exact"):
        arithmetic.choose(lambda p: None, ("float32", "int8-exact"), weights, None, "h3")
    monkeypatch.delenv("ARTCHECK_ARITHMETIC")
    monkeypatch.setattr(arithmetic, "measure", lambda *a: {"int8-exact": 0.07, "float32": 0.01})
    with pytest.raises(ValueError, match="no arithmetic path stays within 0.0001"):
        arithmetic.choose(lambda p: None, ("float32", "int8-exact"), weights, None, "h4")


@pytest.fixture(scope="module")
def clip():
    """The shipped detector with both of its backbone's paths, and the float64 reference's features."""
    from artcheck.detect import arithmetic
    from artcheck.detect.backbones import OnnxBackbone
    from artcheck.detect.detector import load_detector

    det = load_detector()
    images = arithmetic.probe_images()
    ref = arithmetic.reference_features(det.backbone.path, images)
    paths = {a: OnnxBackbone(det.backbone.spec, det.backbone.path, arithmetic=a) for a in det.backbone.spec.arithmetic}
    return det, images, ref, paths


def _block_deviation(spec, feats: np.ndarray, ref: np.ndarray) -> list[float]:
    """Largest |difference| of the unit-normalised CLS and mean-patch features, per block."""
    start = 512
    out = []
    for _ in range(spec.blocks):
        out.append(float(np.abs(feats[:, start:start + 2 * spec.width] - ref[:, start:start + 2 * spec.width]).max()))
        start += 2 * spec.width
    return out


@pytest.mark.network
def test_each_arithmetic_path_against_the_float64_reference(clip, capsys):
    """Every path the runtime can take on this machine, forced one by one, block by block."""
    from artcheck.detect.arithmetic import P_AI_TOLERANCE

    det, images, ref, paths = clip
    score = lambda f: det.head.proba_ai(f[:, det.columns])  # noqa: E731
    p_ref = score(ref)
    report = {}
    for name, backbone in paths.items():
        feats = backbone.features(images).astype(np.float64)
        report[name] = {"p_ai": float(np.abs(score(feats) - p_ref).max()),
                        "blocks": _block_deviation(det.backbone.spec, feats, ref)}
    with capsys.disabled():
        print("\ndeviation from the float64 reference:", json.dumps(report))
    assert report["float32"]["p_ai"] <= P_AI_TOLERANCE
    assert max(report["float32"]["blocks"]) < 1e-4
    # the INT8 path's per-tensor activation quantisation: far outside the tolerance, so the probe refuses it
    assert report["int8-exact"]["p_ai"] > P_AI_TOLERANCE and det.arithmetic.path == "float32"
    assert set(det.arithmetic.deviation) == set(paths)


@pytest.mark.network
def test_float32_features_do_not_move_under_last_bit_noise(clip):
    """The chaos that made the INT8 graph CPU-dependent: 1e-7 noise on the input moved its tokens by
    tens of units. The float32 path's features move by far less than the tolerance needs."""
    det, images, _ref, paths = clip
    x = det.backbone.preprocess.normalize(images[:1])
    noisy = x + np.random.default_rng(0).normal(scale=1e-7, size=x.shape).astype(np.float32)
    f32 = paths["float32"]
    a = f32.session.run(None, {f32.input_name: x})
    b = f32.session.run(None, {f32.input_name: noisy})
    assert max(float(np.abs(u - v).max()) for u, v in zip(a, b)) < 0.05      # raw residual streams, scale ~80
    p = det.head.proba_ai(np.concatenate([f32.features(images[:1])]) [:, det.columns])
    assert 0 <= p[0] <= 1


@pytest.mark.network
def test_the_trainable_torch_module_is_the_same_model(clip):
    """Issue 24's trainable backbone: the torch module built from the same dequantised weights gives
    the runtime's features (per block cosine >= 0.999) and the shipped head's P(ai) within 0.01."""
    torch = pytest.importorskip("torch")
    from artcheck.lab.clip_torch import ClipVision

    det, images, ref, _paths = clip
    module = ClipVision.from_onnx(det.backbone.path)
    with torch.no_grad():
        feats = module.features(torch.from_numpy(det.backbone.preprocess.normalize(images[:2]))).numpy()
    ref = ref[:2]
    spec = det.backbone.spec
    blocks = [slice(0, 512)] + [slice(512 + spec.width * k, 512 + spec.width * (k + 1)) for k in range(2 * spec.blocks)]
    worst = min(float(((feats[:, b] * ref[:, b]).sum(1) / np.linalg.norm(feats[:, b], axis=1)
                       / np.linalg.norm(ref[:, b], axis=1)).min()) for b in blocks)
    assert worst >= 0.999
    p = det.head.proba_ai(feats[:, det.columns])
    assert np.abs(p - det.head.proba_ai(ref[:, det.columns])).max() < 0.01
