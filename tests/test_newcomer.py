"""The first ten minutes of a new user (issue 26): resumed scans that keep their failures, help
text without markup, progress from the first image, usage errors before the model loads."""

from __future__ import annotations

import io
import json

from PIL import Image

from artcheck.cli import main


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_a_resumed_scan_keeps_its_failures_and_retry_errors_checks_them_again(tmp_path, capsys, tiny_detector_dir):
    folder = tmp_path / "scan"
    folder.mkdir()
    for i in range(4):
        (folder / f"ok{i}.png").write_bytes(_png())
    for i in range(3):
        (folder / f"broken{i}.png").write_bytes(b"not a png")
    out = tmp_path / "r.jsonl"
    args = ["check", str(folder), "--model", str(tiny_detector_dir), "--out", str(out)]
    assert main(args) == 1
    assert main(args + ["--resume"]) == 1, "a resumed scan must still report the failed rows"
    assert "3 earlier rows in it failed" in " ".join(capsys.readouterr().err.split())
    for i in range(3):                                  # the files are fixed ...
        (folder / f"broken{i}.png").write_bytes(_png())
    # ... but they are other files now (size and mtime changed): checked anew, the old rows stay failed
    assert main(args + ["--resume", "--retry-errors"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 7 and not any(r["error"] for r in rows)
    assert main(args + ["--retry-errors"]) == 2          # needs --resume


def test_retry_errors_replaces_failed_rows_of_unchanged_files(tmp_path, tiny_detector_dir, monkeypatch):
    import artcheck.detect.detector as detector_module

    folder = tmp_path / "scan"
    folder.mkdir()
    for i in range(3):
        (folder / f"img{i}.png").write_bytes(_png())
    real = detector_module.collect_evidence
    monkeypatch.setattr(detector_module, "collect_evidence", lambda loaded: (_ for _ in ()).throw(OSError("flaky")))
    out = tmp_path / "r.csv"
    args = ["check", str(folder), "--model", str(tiny_detector_dir), "--out", str(out), "-q"]
    assert main(args) == 1
    monkeypatch.setattr(detector_module, "collect_evidence", real)     # the transient failure is gone
    assert main(args + ["--resume"]) == 1                              # skipped, still failed
    assert main(args + ["--resume", "--retry-errors"]) == 0
    import csv

    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3 and not any(r["error"] for r in rows)


def test_the_first_verdict_comes_before_a_whole_batch_is_done(tiny_detector_dir, tmp_path):
    from artcheck.detect.detector import load_detector

    det = load_detector(tiny_detector_dir)
    sizes = []
    real = det._score_batch
    det._score_batch = lambda arrays: sizes.append(len(arrays)) or real(arrays)
    list(det.check_many([_png()] * 40, batch_size=16))
    assert sizes[:5] == [1, 2, 4, 8, 16] and sum(sizes) == 40


def test_help_and_hints_keep_their_brackets(capsys):
    assert main(["check", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage: artcheck check [OPTIONS] PATHS..." in text
    assert "pip install 'artcheck[scale]'" in " ".join(text.split())
    assert "<bool>" not in text and "{paths}" not in text


def test_out_of_scope_inputs_get_uncertain_with_the_reason(tiny_detector_dir):
    import numpy as np

    from artcheck.detect.detector import load_detector
    from artcheck.detect.quality import out_of_scope

    det = load_detector(tiny_detector_dir)
    assert not det.input_check            # a detector asks for the check in its detector.json (built ones do)
    det.input_check = True
    rng = np.random.default_rng(0)
    inputs = {"tiny": Image.new("RGB", (16, 16), (200, 30, 30)), "flat": Image.new("RGB", (300, 300), (90, 90, 90)),
              "noise": Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))}
    for name, img in inputs.items():
        v = det.check(img)
        assert v.verdict == "uncertain" and "out of scope" in v.reason, (name, v.reason)
        assert v.evidence[-2].kind == "input" and v.p_ai is not None
    assert "16x16 pixels" in det.check(inputs["tiny"]).reason
    # a picture with structure is judged as usual
    yy, xx = np.mgrid[0:300, 0:300]
    smooth = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
    assert out_of_scope(300, 300, np.asarray(Image.fromarray(smooth).resize((224, 224)))) is None


def test_a_detector_with_a_screenshot_check_calls_screenshots_uncertain(tiny_detector_dir, synth_dir, tmp_path):
    """A detector folder that ships screenshot.npz (as the default does) answers `uncertain` for a
    program's window and judges pictures as before; weights of the wrong length are refused."""
    import shutil

    import numpy as np
    import pytest

    from artcheck.data import read_dataset
    from artcheck.data.synthetic import screenshot
    from artcheck.detect.detector import load_detector
    from artcheck.detect.quality import ScreenshotCheck
    from artcheck.images import load_image
    from artcheck.lab.screenshots import _fit

    folder = tmp_path / "det"
    shutil.copytree(tiny_detector_dir, folder)
    det = load_detector(folder)
    pictures = [load_image(r.path).image for r in list(read_dataset(synth_dir))[:30]]
    shots = [screenshot(seed=s) for s in range(8)]
    feats = det.backbone.features(np.stack([det.preprocess.to_uint8(i) for i in shots + pictures]))
    w, b = _fit(feats, np.r_[np.ones(len(shots)), np.zeros(len(pictures))])
    z = feats @ w + b
    ScreenshotCheck(w, b, threshold=float(z[len(shots):].max() + 1e-3)).save(folder / "screenshot.npz")
    cfg = json.loads((folder / "detector.json").read_text())
    (folder / "detector.json").write_text(json.dumps({**cfg, "screenshot_check": "screenshot.npz", "input_check": True}))
    det = load_detector(folder)
    v = det.check(pictures[0])
    assert "screenshot" not in v.reason and v.verdict in ("ai", "human", "uncertain")
    caught = [det.check(screenshot(seed=s)) for s in range(8)]
    flagged = [v for v in caught if "screenshot" in v.reason]
    assert flagged, "the fitted direction should flag the windows it was fitted on"
    assert all(v.verdict == "uncertain" and "out of scope" in v.reason and v.evidence[-2].kind == "input"
               for v in flagged)
    ScreenshotCheck(np.zeros(3, np.float32), 0.0, 1.0).save(folder / "screenshot.npz")
    with pytest.raises(ValueError, match="build-screenshot-check"):
        load_detector(folder)


def test_the_screenshot_threshold_sits_above_every_held_out_pool_score():
    import numpy as np

    from artcheck.lab.screenshots import MARGIN, _fit, measure

    rng = np.random.default_rng(0)
    pool = rng.normal(0, 1, (150, 12))
    shots = rng.normal(0, 1, (45, 12)) + np.r_[6.0, np.zeros(11)]      # screenshots differ along one direction
    suites = np.repeat(["a", "b", "c"], 15)
    folds = np.arange(150) % 5
    m = measure(shots, suites, pool, folds)
    assert m["threshold"] == m["pool_held_out_max"] + MARGIN
    assert set(m["per_suite_held_out"]) == {"a", "b", "c"} and 0.8 < m["macro_caught"] <= 1.0
    w, b = _fit(np.vstack([shots, pool]), np.r_[np.ones(45), np.zeros(150)])
    assert w[0] > 2 * np.abs(w[1:]).max()           # the direction found is the one that differs
