"""crossval, the edited class with three-class training, training-time perturbation, the HTML report."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from artcheck.cli import main  # noqa: E402
from artcheck.data import read_dataset  # noqa: E402


@pytest.mark.parametrize("by,mode", [("generator", "matrix"), ("source", "matrix"), ("source", "all-but-one")])
def test_crossval_cells_never_share_images_and_hold_both_classes(synth_dir, by, mode):
    from artcheck.lab.crossval import plan_cells

    rows, cells = plan_cells(read_dataset(synth_dir), by, mode)
    assert cells and all(not isinstance(v, str) for v in cells.values())
    for (row, col), (train, test) in cells.items():
        assert not {r.path for r in train} & {r.path for r in test}
        assert {r.target for r in train} == {0, 1}
        assert any(r.key(by) == col for r in test)
        if mode == "matrix" and row != col:
            assert all(r.key(by) != col for r in train) and all(r.key(by) != row for r in test)


def test_crossval_needs_two_groups(synth_dir):
    from artcheck.lab.crossval import plan_cells

    with pytest.raises(ValueError, match="at least two values of style with 10 or more"):
        plan_cells(read_dataset(synth_dir), "style")


def test_crossval_cli_writes_matrix_and_heatmap(synth_dir, tmp_path):
    out = tmp_path / "cv"
    assert main(["crossval", "--data", str(synth_dir), "--by", "generator", "--model", "bird-lotfi", "--epochs", "3",
                 "--out", str(out), "-q"]) == 0
    result = json.loads((out / "crossval.json").read_text())
    groups = sorted({r.generator for r in read_dataset(synth_dir)} - {""})
    assert result["rows"] == groups and result["columns"] == groups
    assert all(0 <= result["cells"][r][c]["roc_auc"] <= 1 for r in groups for c in groups)
    assert set(result["means"]["roc_auc"]) == {"diagonal", "off_diagonal"}
    assert (out / "crossval.png").stat().st_size > 10_000
    assert main(["crossval", "--data", str(synth_dir), "--by", "colour", "--out", str(out)]) == 2


def test_edited_class_three_class_training_and_confusion(synth_dir, tmp_path):
    from artcheck.data import Manifest

    edited = tmp_path / "edited"
    assert main(["make-edited", "--data", str(synth_dir), "--out", str(edited), "-q"]) == 0
    m = read_dataset(edited / "manifest.csv")
    assert m.counts() == {"ai": 120, "edited": 120, "human": 120}
    originals = {r.path: r.group for r in m if r.label == "human"}
    log = (edited / "edits.csv").read_text().splitlines()[1:]
    assert len(log) == 120 and all(any(e in line for e in ("region_blur", "clone", "fill")) for line in log)
    assert all(r.group == originals[line.split(",")[1]] for r, line in zip((r for r in m if r.label == "edited"), log))
    assert main(["make-edited", "--data", str(synth_dir), "--out", str(edited)]) == 2      # never overwrites

    run = tmp_path / "run3"
    assert main(["train", "--data", str(edited / "manifest.csv"), "--model", "bird-lotfi", "--classes",
                 "human,edited,ai", "--epochs", "3", "--out", str(run), "-q"]) == 0
    split = Manifest.from_csv(run / "split.csv")
    where = {}
    for r in split:                                     # an image and its edit share a split
        assert where.setdefault(r.group, r.split) == r.split
    assert main(["evaluate", str(run), "-q"]) == 0
    metrics = json.loads((run / "eval-test" / "metrics.json").read_text())
    mc = metrics["multiclass"]
    assert mc["classes"] == ["human", "edited", "ai"]
    cm = np.array(mc["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == metrics["n"] and cm[0].sum() == mc["per_class"]["human"]["support"]
    assert "edited" in metrics["breakdowns"]["label"]
    assert (run / "eval-test" / "confusion_matrix_classes.png").is_file()
    assert "3 classes" in (run / "eval-test" / "metrics.md").read_text()
    header = (run / "eval-test" / "predictions.csv").read_text().splitlines()[0]
    assert header.endswith("p_human,p_edited")
    assert main(["train", "--data", str(synth_dir), "--classes", "human,dog"]) == 2


def test_training_time_perturbation_touches_about_the_asked_fraction():
    from artcheck.data.synthetic import make_image
    from artcheck.detect.preprocess import PreprocessConfig
    from artcheck.lab.train import pixel_fn

    pre = PreprocessConfig((64, 64))
    fn, clean = pixel_fn(pre, perturbation="text=0.8", fraction=0.5), pixel_fn(pre)
    imgs = [make_image("human", i, size=64) for i in range(60)]
    changed = [not np.array_equal(fn(i), clean(i)) for i in imgs]
    assert 0.3 < np.mean(changed) < 0.7
    assert changed == [not np.array_equal(fn(i), clean(i)) for i in imgs]       # same choice every time
    with pytest.raises(ValueError, match="NAME=STRENGTH"):
        from artcheck.lab.config import TrainConfig
        TrainConfig(data="x", perturb="sepia")


def test_report_renders_in_headless_chromium(synth_dir, tmp_path, browser):
    run = tmp_path / "run"
    assert main(["train", "--data", str(synth_dir), "--model", "bird-lotfi", "--epochs", "3", "--out", str(run),
                 "-q"]) == 0
    assert main(["evaluate", str(run), "-q", "--robustness", "jpeg=50;text=0.5"]) == 0
    assert main(["crossval", "--data", str(synth_dir), "--by", "generator", "--epochs", "2",
                 "--out", str(run / "crossval"), "-q"]) == 0
    report = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(report)]) == 0
    text = report.read_text()
    assert "src=\"file:" not in text and "http" not in text.split("<body>")[1][:200]   # self-contained
    browser.get(report.as_uri())
    from selenium.webdriver.common.by import By

    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    for expected in ("Metrics", "Confusion matrix", "ROC and calibration", "Training curves", "Robustness",
                     "Cross-validation by generator", "Examples", "Config"):
        assert expected in headings, headings
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) >= 6 + 3
    assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)
               for i in images)
    examples = browser.find_elements(By.CSS_SELECTOR, "figure.card")
    assert len(examples) >= 4
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_report_evaluates_first_when_needed_and_names_a_wrong_dir(synth_dir, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--data", str(synth_dir), "--model", "bird-lotfi", "--epochs", "2", "--out", str(run),
                 "-q"]) == 0
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert (run / "eval-test" / "metrics.json").is_file() and (tmp_path / "r.html").stat().st_size > 50_000
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r2.html")]) == 2


def test_bare_robustness_flag_means_the_default_sweep():
    from artcheck.cli import _bare_flags

    assert _bare_flags(["evaluate", "runs/x", "--robustness"]) == ["evaluate", "runs/x", "--robustness", "default"]
    assert _bare_flags(["evaluate", "runs/x", "--robustness", "--out", "o"])[:4] == [
        "evaluate", "runs/x", "--robustness", "default"]
    assert _bare_flags(["evaluate", "runs/x", "--robustness", "jpeg=90"]) == ["evaluate", "runs/x", "--robustness",
                                                                          "jpeg=90"]
