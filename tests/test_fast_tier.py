"""The fast tier (``--model fast``), the cascade and the pieces of their build (``lab.fast``)."""

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from artcheck.detect.detector import Cascade, load_detector

ASSETS = Path(str(resources.files("artcheck") / "assets"))
FAST = ASSETS / "fast"


def _samples(n=None):
    rows = json.loads((FAST / "detector.json").read_text())["bundled_samples"]
    return rows[:n] if n else rows


def test_the_fast_tier_ships_its_graph_and_runs_without_fetching():
    cfg = json.loads((FAST / "detector.json").read_text())
    graph = FAST / cfg["backbone_graph"]
    assert graph.stat().st_size < 8 * 2**20, "the fast tier should stay a few MB"
    det = load_detector("fast", fetch=False)          # nothing to fetch: the graph is in the package
    assert det.model_info["name"] == "artcheck-fast" and det.arithmetic is None
    # its threads do not spin between operators: the decoding threads need those cores (docs/scale.md)
    opts = det.backbone.session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert cfg["metrics"]["held_out"]["pooled"]["roc_auc"] > 0.7
    assert set(cfg["against_default"]) == {"pooled balanced_accuracy", "pooled roc_auc", "macro balanced_accuracy",
                                           "macro roc_auc"}
    # its card's sample scores are what the shipped code computes here
    from artcheck.detect.arithmetic import P_AI_TOLERANCE
    from artcheck.lab.card import bundled_sample_scores

    now = {s["file"]: s["p_ai_exact"] for s in bundled_sample_scores(FAST)}
    drift = {s["file"]: (s["p_ai_exact"], now[s["file"]]) for s in _samples()
             if abs(now[s["file"]] - s["p_ai_exact"]) > P_AI_TOLERANCE}
    assert not drift, f"the fast tier's sample scores drifted from its card: {drift}"
    card = (FAST / "MODEL_CARD.md").read_text()
    assert "## The cascade" in card and "Issue 23's bounds" in card


def test_a_changed_graph_is_refused(tmp_path):
    import shutil

    folder = tmp_path / "fast"
    shutil.copytree(FAST, folder)
    with open(folder / "student.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="sha256 differs"):
        load_detector(str(folder))


def test_soft_targets_train_a_probe_that_follows_them():
    from artcheck.lab.fast import soft_probe

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(60), np.zeros(60)].astype(int)
    X = rng.normal(size=(120, 5)) + y[:, None] * 2.0
    src = np.where(np.arange(120) % 2, "a", "b")
    hard = soft_probe([X], y, y.astype(float), src, C=1.0)
    assert np.mean((hard.decision_function(X) > 0) == (y == 1)) > 0.95
    # targets that say "even odds" everywhere teach it nothing but even odds
    flat = soft_probe([X], y, np.full(120, 0.5), src, C=1.0)
    assert np.abs(1 / (1 + np.exp(-flat.decision_function(X))) - 0.5).max() < 0.05


def test_the_cascade_range_keeps_accuracy_and_sends_on_only_the_unsure():
    from artcheck.lab.fast import choose_cascade

    rng = np.random.default_rng(1)
    y = np.r_[np.ones(200), np.zeros(200)].astype(int)
    src = np.array([f"s{i % 8}" if t else f"h{i % 8}" for i, t in enumerate(y)])
    p_default = np.where(y == 1, 0.9, 0.1)                       # always right
    margin = rng.uniform(0, 0.5, len(y))
    p_fast = np.where(y == 1, 0.5 + margin, 0.5 - margin)
    wrong = margin < 0.1                                         # the fast tier is wrong only near 0.5
    p_fast[wrong] = 1 - p_fast[wrong]
    c = choose_cascade(y, src, p_fast, p_default, (0.5, 0.5))
    lo, hi = c["escalate"]
    assert lo <= 0.41 and hi >= 0.59 and c["escalated_share"] < 0.6
    assert c["balanced_accuracy"]["pooled"] >= c["default_balanced_accuracy"]["pooled"] - 0.01


@pytest.mark.network
def test_the_cascade_decides_with_the_fast_tier_where_it_is_sure():
    det = load_detector("cascade")
    assert isinstance(det, Cascade)
    files = sorted(str(p) for p in (ASSETS / "samples").iterdir() if p.suffix == ".png")[:6]
    fast = {v.path: v for v in load_detector("fast").check(files)}
    out = det.check(files)
    assert [v.path for v in out] == files and det.seen == len(files)
    for v in out:
        f = fast[v.path]
        sent_on = det.lo_c <= f.p_ai < det.hi_c and not any(e.weight >= 1 for e in f.evidence)
        assert (v.model["name"] == "artcheck-default") == sent_on
        if not sent_on:
            assert v.p_ai == f.p_ai and "fast tier, confident" in v.reason or v.evidence[0].weight >= 1
        else:
            assert v.evidence[0].kind == "cascade" and "escalated" in v.reason
    assert det.escalated == sum(v.model["name"] == "artcheck-default" for v in out)


def test_the_cascade_reads_each_file_once_and_decides_as_when_it_read_them_twice(monkeypatch):
    import artcheck.detect.detector as detector

    det = load_detector("cascade")
    assert det.shares_input
    files = sorted(str(p) for p in (ASSETS / "samples").iterdir())
    reads: list = []
    real = detector.load_image
    monkeypatch.setattr(detector, "load_image", lambda item, **kw: reads.append(item) or real(item, **kw))
    shared = [v.to_dict() for v in det.check(files)]
    assert sorted(reads) == files                              # once each
    sent_on = sum(v["model"]["name"] == "artcheck-default" for v in shared)
    assert sent_on > 0
    reads.clear()
    monkeypatch.setattr(Cascade, "shares_input", property(lambda self: False))
    again = [v.to_dict() for v in det.check(files)]
    assert len(reads) == len(files) + sent_on                  # the default reads what it is sent
    assert shared == again                                     # the same pixels, evidence and verdicts
    # provenance decides without the default, and still names the family, as the default would
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a castle\nSteps: 20, Sampler: Euler a, Model hash: 1fe6c7ec54, Model: juggernautXL_v9")
    buf = io.BytesIO()
    Image.open(ASSETS / "samples" / "human-anime-sprite.png").convert("RGB").save(buf, format="PNG", pnginfo=info)
    v = det.check(buf.getvalue())
    assert v.verdict == "ai" and v.model["name"] == "artcheck-fast"
    assert (v.family, v.family_source) == ("sdxl", "provenance: A1111 Model: juggernautXL_v9")
    assert "Family: the sdxl family, certain" in v.reason and v.evidence[-1].kind == "model"


def test_the_api_and_the_cli_offer_the_tiers(tmp_path):
    from fastapi.testclient import TestClient

    from artcheck.cli import main
    from artcheck.service.app import create_app

    sample = next(p for p in sorted((ASSETS / "samples").iterdir()) if p.suffix == ".png")
    client = TestClient(create_app(detector=load_detector("fast", fetch=False)))
    names = [(m["name"], m["select"]) for m in client.get("/v1/models").json()["models"]]
    assert ("artcheck-fast", None) in names and ("artcheck-cascade", "?model=cascade") in names
    r = client.post("/v1/check?model=fast", files={"files": (sample.name, sample.read_bytes())})
    assert r.status_code == 200 and r.json()["results"][0]["model"]["name"] == "artcheck-fast"
    bad = client.post("/v1/check?model=huge", files={"files": (sample.name, sample.read_bytes())})
    assert bad.status_code == 400 and "fast" in bad.json()["error"]["message"]
    out = tmp_path / "r.jsonl"
    assert main(["check", str(sample), "--model", "fast", "--out", str(out), "-q"]) == 0
    assert json.loads(out.read_text().splitlines()[-1])["model"]["name"] == "artcheck-fast"
    assert main(["check", str(sample), "--cascade", "--model", str(FAST), "-q"]) == 2
