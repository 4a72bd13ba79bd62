import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from artcheck.lab import perturb
from artcheck.data.synthetic import make_image
from artcheck.lab.robustness import DEFAULT_SPEC, parse_spec

STRENGTH = {"jpeg": 50, "webp": 50, "resize": 0.5, "blur": 1.5, "noise": 8, "grayscale": 1.0, "saturation": 0.3,
            "crop": 0.6, "text": 0.5, "logo": 0.2, "invisible_watermark": 1.0, "region_blur": 0.1, "clone": 0.1,
            "fill": 0.1}


@pytest.mark.parametrize("name", list(perturb.PERTURBATIONS))
def test_each_perturbation_is_seeded_rgb_and_sized(name):
    img = make_image("human", 3, size=64)
    a = perturb.apply(img, name, STRENGTH[name], seed=7)
    b = perturb.apply(img, name, STRENGTH[name], seed=7)
    assert a.mode == "RGB" and np.array_equal(np.asarray(a), np.asarray(b))
    expected = {"resize": (32, 32), "crop": (38, 38)}.get(name, (64, 64))
    assert a.size == expected
    assert not np.array_equal(np.asarray(a.resize(img.size)), np.asarray(img))  # it did something


def test_noise_crop_and_local_edits_depend_on_seed():
    img = make_image("ai", 1, size=64)
    for name in ("noise", "crop", "logo", *perturb.LOCAL_EDITS):
        a, b = perturb.apply(img, name, STRENGTH[name], seed=1), perturb.apply(img, name, STRENGTH[name], seed=2)
        assert not np.array_equal(np.asarray(a), np.asarray(b)), name


def test_random_processing_is_deterministic():
    img = make_image("ai", 2, size=96)
    assert np.array_equal(np.asarray(perturb.random_processing(img, 5)), np.asarray(perturb.random_processing(img, 5)))


def test_unknown_perturbation_and_spec_errors():
    with pytest.raises(ValueError, match="known: jpeg"):
        perturb.apply(Image.new("RGB", (8, 8)), "sepia", 1)
    assert parse_spec(None) is DEFAULT_SPEC
    assert parse_spec("jpeg=90,50;blur=1") == {"jpeg": [90.0, 50.0], "blur": [1.0]}
    with pytest.raises(ValueError, match="unknown perturbation"):
        parse_spec("sepia=1")
    with pytest.raises(ValueError, match="at least one strength"):
        parse_spec("jpeg=")


def test_robustness_sweep_through_the_cli(synth_dir, tmp_path):
    from artcheck.cli import main

    run = tmp_path / "run"
    assert main(["train", "--data", str(synth_dir), "--model", "bird-lotfi", "--epochs", "3", "--out", str(run),
                 "-q"]) == 0
    assert main(["evaluate", str(run), "-q", "--robustness", "jpeg=90,30;noise=20"]) == 0
    result = json.loads((run / "eval-test" / "robustness.json").read_text())
    assert [p["strength"] for p in result["perturbations"]["jpeg"]] == [90.0, 30.0]
    assert set(result["clean"]) >= {"balanced_accuracy", "roc_auc", "human_false_positive_rate"}
    assert (run / "eval-test" / "robustness.png").stat().st_size > 5000
    assert main(["evaluate", str(run), "-q", "--robustness", "sepia=1"]) == 2


@pytest.mark.parametrize("name", perturb.LOCAL_EDITS)
def test_local_edits_touch_one_region_of_about_the_asked_area(name):
    img = make_image("human", 4, size=128)
    diff = np.abs(np.asarray(perturb.apply(img, name, 0.1, seed=3), np.int16) - np.asarray(img, np.int16)).sum(2)
    ys, xs = np.nonzero(diff)
    box_area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1) / diff.size
    assert 0.03 < (diff > 0).mean() <= 0.12 and box_area <= 0.12   # one region, not scattered


def test_invisible_watermark_is_read_back_by_the_detector_reader():
    from artcheck.provenance.watermark import MATCH_BIT_ACCURACY, bit_accuracy

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).filter(ImageFilter.GaussianBlur(2))
    assert bit_accuracy(img) < MATCH_BIT_ACCURACY <= bit_accuracy(perturb.apply(img, "invisible_watermark", 1.0))
