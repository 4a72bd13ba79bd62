"""The half tier: the default's CLIP fed half its patch tokens (a Gather after the embeddings)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from artcheck.detect.clip_graph import kept_tokens

ASSETS = Path(str(resources.files("artcheck") / "assets"))


def test_token_subsets_keep_cls_and_a_spread_of_patches():
    cb, quarter = kept_tokens("checkerboard"), kept_tokens("quarter")
    assert len(cb) == 1 + 98 and len(quarter) == 1 + 49 and cb[0] == quarter[0] == 0
    grid = np.zeros(196, bool)
    grid[cb[1:] - 1] = True
    grid = grid.reshape(14, 14)
    assert grid.sum(0).tolist() == [7] * 14 and grid.sum(1).tolist() == [7] * 14    # every row and column, half
    assert not (grid[:, 1:] & grid[:, :-1]).any()                                    # no two neighbours
    assert set(quarter) <= set(cb)
    with pytest.raises(ValueError, match="expected one of checkerboard, quarter"):
        kept_tokens("half")


def test_a_graph_without_clip_embeddings_is_refused_by_name(tmp_path):
    from onnx import TensorProto, helper

    from artcheck.detect.clip_graph import keep_tokens

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="/relu")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(ValueError, match="embeddings output .* weights verify clip-vit-b16"):
        keep_tokens(helper.make_model(graph), "checkerboard")


def test_the_half_tier_files_are_shipped():
    cfg = json.loads((ASSETS / "half" / "detector.json").read_text())
    assert cfg["backbone"] == "clip-vit-b16" and cfg["tokens"] == "checkerboard" and cfg["name"] == "artcheck-half"
    assert cfg["metrics"]["held_out"]["pooled"]["roc_auc"] > 0.5 and len(cfg["uncertain_band"]) == 2
    assert "checkerboard" in (ASSETS / "half" / "MODEL_CARD.md").read_text()


@pytest.mark.network
def test_the_subset_graph_matches_the_float64_reference_block_by_block():
    """The runtime's subset graph against the reference fed the same tokens; and the subset is what
    runs (the blocks see 99 tokens, and the features differ from the full tower's)."""
    from artcheck.detect import arithmetic
    from artcheck.detect.backbones import get_backbone

    images = arithmetic.probe_images()
    half = get_backbone("clip-vit-b16", tokens="checkerboard")
    feats = half.features(images).astype(np.float64)
    ref = arithmetic.reference_features(half.path, images, tokens="checkerboard")
    assert float(np.abs(feats - ref).max()) < 1e-4
    x = half.preprocess.normalize(images[:1])
    assert half.session.run(None, {half.input_name: x})[1].shape == (1, 99, 768)
    full = arithmetic.reference_features(half.path, images)
    assert float(np.abs(full - ref).max()) > 0.01
    with pytest.raises(ValueError, match="needs the CLIP tower"):
        get_backbone("vit-s14-focus", tokens="checkerboard")


@pytest.mark.network
def test_check_half_from_the_cli_and_the_api(tmp_path, capsys):
    """--model half scores a sample as its card says, says so with --verbose, and the API serves it."""
    from fastapi.testclient import TestClient

    from artcheck.cli import main
    from artcheck.detect.detector import load_detector
    from artcheck.service.app import create_app

    sample = ASSETS / "samples" / "ai-anime-illustration.png"
    card = {s["file"]: s["p_ai_exact"] for s in json.loads((ASSETS / "half" / "detector.json").read_text())
            ["bundled_samples"]}
    out = tmp_path / "r.jsonl"
    assert main(["check", str(sample), "--model", "half", "--out", str(out), "--verbose"]) == 0
    row = json.loads(out.read_text().splitlines()[-1])
    assert row["model"]["name"] == "artcheck-half" and row["p_ai"] == pytest.approx(card[sample.name], abs=1e-3)
    assert "'checkerboard' subset of its patch tokens" in " ".join(capsys.readouterr().err.split())
    client = TestClient(create_app(detector=load_detector("fast", fetch=False)))
    entry = next(m for m in client.get("/v1/models").json()["models"] if m["select"] == "?model=half")
    assert entry["available"] and entry["card"]["tokens"] == "checkerboard"
    r = client.post("/v1/check?model=half", files={"files": (sample.name, sample.read_bytes())})
    got = r.json()["results"][0]
    assert got["model"]["name"] == "artcheck-half" and got["p_ai"] == pytest.approx(card[sample.name], abs=1e-3)


@pytest.mark.network
def test_the_half_tier_names_a_family_and_provenance_overrides_it():
    """The half tier has its own attribution head (on its half-token features); a model named by
    provenance overrides it and is marked as provenance."""
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from artcheck.detect.detector import load_detector

    info = PngInfo()
    info.add_text("parameters", "a castle\nSteps: 20, Sampler: Euler a, Model hash: 1fe6c7ec54, Model: juggernautXL_v9")
    buf = io.BytesIO()
    Image.open(ASSETS / "samples" / "human-anime-sprite.png").convert("RGB").save(buf, format="PNG", pnginfo=info)
    det = load_detector("half")
    assert det.family_head is not None and det.family_head.coef.shape[1] == len(det.columns)
    v = det.check(buf.getvalue())
    assert v.verdict == "ai" and (v.family, v.family_source) == ("sdxl", "provenance: A1111 Model: juggernautXL_v9")
    plain = det.check(str(ASSETS / "samples" / "ai-anime-illustration.png"))
    assert plain.verdict == "ai" and plain.family_source == "model" and plain.family_p
    assert plain.family == "novelai-anime"
