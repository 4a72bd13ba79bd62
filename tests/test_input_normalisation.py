"""A detector that names its training normalisation runs it on every input (issue 24, point 5)."""

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image


def _with(tiny_detector_dir, tmp_path, value):
    folder = tmp_path / "det"
    shutil.copytree(tiny_detector_dir, folder)
    cfg = json.loads((folder / "detector.json").read_text())
    cfg["input_normalisation"] = value
    (folder / "detector.json").write_text(json.dumps(cfg))
    return folder


def test_check_sees_what_training_saw(tiny_detector_dir, tmp_path):
    from artcheck.detect.detector import load_detector
    from artcheck.detect.preprocess import NORMALISATIONS

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (300, 500, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    normalised = NORMALISATIONS["wild-dev"](img)
    assert normalised.size == (256, 256)
    det = load_detector(_with(tiny_detector_dir, tmp_path, "wild-dev"))
    plain = load_detector(tiny_detector_dir)
    # the file as a user holds it, checked by the normalising detector, scores as its normalised copy does
    assert det.check(buf.getvalue()).p_ai == pytest.approx(plain.score([normalised])[0], abs=1e-4)
    assert np.array_equal(det.preprocess.to_uint8(img), plain.preprocess.to_uint8(normalised))
    assert det.preprocess.input_size == plain.preprocess.input_size     # everything else is the model's own


def test_an_unknown_normalisation_is_refused_by_name(tiny_detector_dir, tmp_path):
    from artcheck.detect.detector import load_detector

    with pytest.raises(ValueError, match="input_normalisation 'jpeg-ish'.*wild-dev"):
        load_detector(_with(tiny_detector_dir, tmp_path, "jpeg-ish"))
