"""Family attribution (issue 27): the head's open-set answer, provenance that names the model,
and the family in every output (check, CSV, API), for ai and uncertain verdicts only."""

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from artcheck.detect.attribution import UNKNOWN, FamilyHead, family_from_provenance, family_of_name
from artcheck.images import load_image
from artcheck.provenance import collect_evidence


def _head(classes=("flux", "sdxl"), d=4, threshold=0.6, rule="top_p"):
    coef = np.zeros((len(classes), d))
    for i in range(len(classes)):
        coef[i, i] = 4.0
    return FamilyHead(list(classes), coef, np.zeros(len(classes)), np.zeros(d), np.ones(d), 1.0, threshold, rule)


def test_open_set_answers_unknown_when_no_family_is_probable(tmp_path):
    head = _head()
    z = head.logits(np.array([[1.0, 0, 0, 0], [0.0, 0, 0, 0]]))
    assert head.answer(z[0])[0] == "flux"              # 4 logits apart: 0.98
    fam, top, score = head.answer(z[1])                # even odds: below the 0.6 threshold
    assert fam == UNKNOWN and top[0][1] == pytest.approx(0.5) and score == pytest.approx(0.5)
    head.save(tmp_path / "a.npz")
    again = FamilyHead.load(tmp_path / "a.npz")
    assert again.classes == head.classes and again.open_threshold == 0.6 and again.open_rule == "top_p"
    assert np.allclose(again.proba(np.eye(4)), head.proba(np.eye(4)), atol=1e-6)


def test_the_energy_rule_answers_unknown_when_every_family_logit_is_low(tmp_path):
    """Energy T log sum exp(z / T): two images with the same probabilities (equal logits) but
    different evidence; only the one with strong logits is named."""
    head = _head(threshold=2.0, rule="energy")
    strong, weak = head.logits(np.array([[1.0, 1.0, 0, 0], [0.0, 0, 0, 0]]))   # logits (4, 4) and (0, 0)
    fam, top, score = head.answer(strong)
    assert fam == "flux" and top[0][1] == pytest.approx(0.5) and score == pytest.approx(4 + np.log(2))
    fam, top, score = head.answer(weak)
    assert fam == UNKNOWN and top[0][1] == pytest.approx(0.5) and score == pytest.approx(np.log(2))
    head.save(tmp_path / "e.npz")
    assert FamilyHead.load(tmp_path / "e.npz").open_rule == "energy"
    with pytest.raises(ValueError, match="open_rule"):
        _head(rule="entropy").answer(strong)


def test_a_head_naming_a_family_artcheck_does_not_know_is_refused(tmp_path):
    _head(classes=("flux", "sd9")).save(tmp_path / "a.npz")
    with pytest.raises(ValueError, match="sd9"):
        FamilyHead.load(tmp_path / "a.npz")


@pytest.mark.parametrize("name,family", [
    ("juggernautXL_v9Rdphoto2Lightning.safetensors", "sdxl"), ("ponyDiffusionV6XL.safetensors", "sdxl"),
    ("flux1-dev-fp8.safetensors", "flux"), ("sd3.5_large.safetensors", "sd3"),
    ("v1-5-pruned-emaonly.safetensors", "sd1-2"), ("Qwen-Image", "open-dit"), ("ChatGPT", "dalle-3"),
    ("Adobe Firefly", "api-other"), ("dreamshaper_8.safetensors", None), ("Kusanagi", None)])
def test_model_names_from_provenance_map_to_families(name, family):
    assert family_of_name(name) == family


def _png(info: PngInfo) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 80, 40)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _named(data: bytes):
    loaded = load_image(data)
    collect_evidence(loaded)                            # the readers leave what they found in loaded.info
    return family_from_provenance(loaded.info)


def test_provenance_in_the_formats_the_tools_write_names_the_family():
    a1111 = PngInfo()                                   # Automatic1111 / Forge: the 'parameters' text chunk
    a1111.add_text("parameters", "a castle\nNegative prompt: blurry\nSteps: 25, Sampler: DPM++ 2M Karras, CFG scale: 6,"
                                 " Seed: 1, Size: 1024x1024, Model hash: 1fe6c7ec54, Model: juggernautXL_v9, Version: v1.9.4")
    assert _named(_png(a1111)) == ("sdxl", "A1111 Model: juggernautXL_v9")
    comfy = PngInfo()                                   # ComfyUI: the API graph in the 'prompt' text chunk
    comfy.add_text("prompt", json.dumps({"4": {"class_type": "CheckpointLoaderSimple",
                                               "inputs": {"ckpt_name": "flux1-schnell-fp8.safetensors"}},
                                         "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 4}}}))
    assert _named(_png(comfy)) == ("flux", "ComfyUI ckpt_name flux1-schnell-fp8.safetensors")
    nai = PngInfo()                                     # NovelAI: Software and a JSON Comment
    nai.add_text("Software", "NovelAI")
    nai.add_text("Comment", json.dumps({"steps": 28, "sampler": "k_euler_ancestral", "seed": 1}))
    assert _named(_png(nai))[0] == "novelai-anime"
    plain = PngInfo()
    plain.add_text("parameters", "Steps: 20, Sampler: Euler a, Model: dreamshaper_8")   # named, but no rule knows it
    assert _named(_png(plain)) is None
    renamed = PngInfo()                                 # a renamed checkpoint is still named by its A1111 hash
    renamed.add_text("parameters", "score_9\nSteps: 25, Sampler: Euler a, CFG scale: 5, Seed: 1, Size: 832x1200, "
                                   "Model hash: 67ab2fd8ec, Model: base, VAE hash: 235745af8d")
    assert _named(_png(renamed)) == ("sdxl", "A1111 Model hash: 67ab2fd8ec = ponyDiffusionV6XL_v6StartWithThisOne")
    unknown = PngInfo()
    unknown.add_text("parameters", "Steps: 20, Model hash: 0123456789, Model: mine")
    assert _named(_png(unknown)) is None
    assert _named(_png(PngInfo())) is None


def test_c2pa_claim_generator_names_the_family_only_when_it_declares_ai():
    pytest.importorskip("c2pa")
    from c2pa_fixture import CAMERA, signed_jpeg

    img = Image.new("RGB", (64, 64), (10, 120, 200))
    assert _named(signed_jpeg(img, generator="ChatGPT")) == ("dalle-3", "C2PA claim generator ChatGPT 1.0")
    assert _named(signed_jpeg(img, CAMERA, generator="Google Pixel Camera")) is None   # a camera, not Gemini


@pytest.fixture()
def family_detector_dir(tiny_detector_dir, tmp_path, synth_dir):
    """The tiny detector with a family head on its own features (two made-up families)."""
    from conftest import add_family_head

    folder = tmp_path / "det"
    shutil.copytree(tiny_detector_dir, folder)
    return folder, add_family_head(folder, synth_dir)


def test_family_is_in_every_output_for_ai_and_uncertain_only(family_detector_dir, tmp_path):
    from artcheck.detect.detector import load_detector
    from artcheck.detect.results import csv_row

    folder, paths = family_detector_dir
    for threshold, expect in ((0.0, "ai"), (1.01, "human")):
        v = load_detector(folder, threshold=threshold).check(paths[0])
        assert v.verdict == expect
        if expect == "ai":
            assert v.family in ("flux", "sdxl") and len(v.family_p) == 2 and v.family_source == "model"
            assert "Family: looks most like the" in v.reason
            assert any(e.kind == "family" and "not part of the verdict" in e.detail for e in v.evidence)
            row = csv_row(v)
            assert row["family"] == v.family and row["family_p"].startswith(v.family_p[0][0])
            assert v.to_dict()["family_p"] == v.family_p
        else:
            assert v.family is None and v.family_p is None and not any(e.kind == "family" for e in v.evidence)
    # provenance that names the model wins, marked certain
    info = PngInfo()
    info.add_text("parameters", "Steps: 20, Sampler: Euler a, Model: sd_xl_base_1.0")
    img = Image.open(paths[0]).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info)
    v = load_detector(folder).check(buf.getvalue())
    assert v.verdict == "ai" and v.family == "sdxl" and v.family_p is None
    assert v.family_source == "provenance: A1111 Model: sd_xl_base_1.0"


def test_check_prints_the_family(family_detector_dir):
    from typer.testing import CliRunner

    from artcheck.cli import app

    folder, paths = family_detector_dir
    out = CliRunner().invoke(app, ["check", paths[0], "--model", str(folder), "--quiet"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "family" in out.output and ("flux" in out.output or "sdxl" in out.output)
    assert "ai" in out.output
    js = CliRunner().invoke(app, ["check", paths[0], "--model", str(folder), "--format", "json"])
    assert json.loads(js.stdout)["results"][0]["family"] in ("flux", "sdxl")
    human = CliRunner().invoke(app, ["check", paths[-1], "--model", str(folder), "--format", "json"])
    assert json.loads(human.stdout)["results"][0]["verdict"] == "human"
    assert json.loads(human.stdout)["results"][0]["family"] is None


def test_the_fit_in_the_span_of_the_rows_is_the_full_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    from artcheck.lab.attribution import family_weights, fit_family_head

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 400))
    fam = np.array(["flux", "sdxl", "sd3"])[np.arange(90) % 3]
    X[:, 0] += np.arange(90) % 3
    src = np.array(["a", "b"])[np.arange(90) % 2]
    head = fit_family_head(X, fam, src, C=0.05)
    full = LogisticRegression(C=0.05, max_iter=5000, tol=1e-8).fit((X - head.mean) / head.scale, fam,
                                                                    sample_weight=family_weights(fam, src))
    assert np.abs(head.coef - full.coef_).max() < 1e-3 * np.abs(full.coef_).max() * 10


def test_measure_holds_out_whole_sources_and_reports_per_family():
    """A trait each family shares across its sources is found held out by source; features with no
    family trait score near chance."""
    from artcheck.lab.attribution import measure

    rng = np.random.default_rng(0)
    families = ["flux", "sdxl", "sd3"]
    fam = np.repeat(families, 60)
    src = np.array([f"{f}-{i % 3}" for f, i in zip(fam, range(180))])
    X = rng.normal(size=(180, 30))
    for j, f in enumerate(families):
        X[fam == f, j] += 3.0                      # the family's own trait, in every source
    m = measure(X, fam, src, src, progress=False, lofo=True)
    assert m["measured_families"] == sorted(families) and m["n"] == 180
    assert m["macro_top1"] > 0.9 and m["pooled_top3"] == 1.0
    assert sum(map(sum, m["confusion"])) == 180
    assert set(m["lofo_unknown_rate"]) == set(families) and set(m["open_rules"]) == {"energy", "top_p"}
    assert m["open_rule"] in m["open_rules"] and m["known_top1_with_rule"] >= 0.9 * m["known_top1_without_rule"]
    noise = measure(rng.normal(size=(180, 30)), fam, src, src, progress=False, lofo=False)
    assert noise["macro_top1"] < 0.6 and noise["lofo_unknown_macro"] is None
