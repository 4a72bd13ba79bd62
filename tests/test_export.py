"""``artcheck export``: a trained run checked and served with the core install gives its ``predict`` scores."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from artcheck.cli import main  # noqa: E402
from artcheck.images import load_image  # noqa: E402
from artcheck.lab import runs  # noqa: E402

# Runs `artcheck check` in an interpreter where torch, scikit-learn and matplotlib cannot be imported:
# what a core-only install has.
CORE_ONLY = ("import sys\n"
             "for m in ('torch', 'sklearn', 'matplotlib', 'skops'): sys.modules[m] = None\n"
             "from artcheck.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")


@pytest.fixture(scope="module")
def bn_run(synth_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "bn"
    assert main(["train", "--data", str(synth_dir), "--model", "bn-cnn", "--epochs", "1", "--out", str(run), "-q"]) == 0
    return run


def _images(synth_dir, n=12):
    return sorted(str(p) for p in synth_dir.rglob("*.png"))[:n]


def _predict(run, paths):
    model = runs.load_model(run)
    arrs = np.stack([model.preprocess.to_uint8(load_image(p).image) for p in paths])
    return model.predict_arrays(arrs)


def _check_core_only(model_dir, paths):
    res = subprocess.run([sys.executable, "-c", CORE_ONLY, "check", "--model", str(model_dir), "-f", "json", "-q",
                          "--no-provenance", *paths], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return {r["path"]: r for r in json.loads(res.stdout)["results"]}


def test_exported_cnn_checks_like_predict_with_the_core_install(bn_run, synth_dir, tmp_path):
    out = tmp_path / "bn-export"
    assert main(["export", str(bn_run), "--out", str(out)]) == 0
    cfg = json.loads((out / "detector.json").read_text())
    assert cfg["kind"] == "onnx-model" and (out / cfg["graph"]).is_file()
    assert cfg["preprocess"]["input_size"] == list(runs.load_model(bn_run).preprocess.input_size)
    paths = _images(synth_dir)
    expected = _predict(bn_run, paths)
    rows = _check_core_only(out, paths)
    got = np.array([rows[p]["p_ai"] for p in paths])
    assert np.abs(got - expected).max() < 2e-4           # check rounds P(ai) to 4 decimals
    assert expected.std() > 0.01                          # the comparison is not between constants
    for p, e in zip(paths, expected):
        assert rows[p]["verdict"] == ("ai" if e >= 0.5 else "human")
        assert rows[p]["model"]["name"].startswith("bn-cnn")


def test_exported_model_is_served(bn_run, synth_dir, tmp_path):
    from fastapi.testclient import TestClient

    from artcheck.service.app import create_app
    from artcheck.service.settings import ServiceSettings

    out = tmp_path / "served"
    main(["export", str(bn_run), "--out", str(out)])
    path = _images(synth_dir, 1)[0]
    with TestClient(create_app(settings=ServiceSettings(max_concurrency=1), model=str(out))) as client:
        r = client.post("/v1/check", files=[("files", ("x.png", open(path, "rb").read(), "image/png"))])
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["p_ai"] == pytest.approx(float(_predict(bn_run, [path])[0]), abs=2e-4)


def test_export_refuses_a_changed_graph_and_a_nonempty_folder(bn_run, tmp_path, capsys):
    out = tmp_path / "e"
    assert main(["export", str(bn_run), "--out", str(out)]) == 0
    assert main(["export", str(bn_run), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["export", str(bn_run), "--out", str(out), "--force"]) == 0
    with open(out / "model.onnx", "ab") as f:
        f.write(b"\0")
    from artcheck.detect.detector import load_detector
    with pytest.raises(ValueError, match="sha256"):
        load_detector(str(out))


def test_export_of_a_non_linear_classical_model_says_why(synth_dir, tmp_path, capsys):
    run = tmp_path / "tree"
    assert main(["train", "--data", str(synth_dir), "--model", "tree-pixels", "--out", str(run), "-q"]) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "x")]) == 2
    msg = capsys.readouterr().err
    assert "scikit-learn at check time" in msg and "artcheck predict" in msg
