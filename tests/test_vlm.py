"""``train --model vlm-lora`` (issue 18): LoRA on a tiny random vision-language model, offline."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

from artcheck.cli import main  # noqa: E402
from artcheck.lab import runs  # noqa: E402
from tiny_generative import build_tiny_blip  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_vlm_lora_trains_an_adapter_and_works_like_any_model(synth_dir, tmp_path, capsys):
    from safetensors.numpy import load_file

    base = build_tiny_blip(tmp_path / "tiny-blip")
    run = tmp_path / "vlm"
    assert main(["train", "--data", str(synth_dir), "--model", "vlm-lora", "--base", str(base), "--lora-rank", "4",
                 "--epochs", "2", "--lr", "0.01", "--batch-size", "16", "--out", str(run), "-q"]) == 0
    info = json.loads((run / runs.MODEL_FILE).read_text())
    assert info["kind"] == "vlm" and info["kwargs"]["base"] == str(base.resolve()) and info["kwargs"]["lora_rank"] == 4
    adapter = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and any(np.abs(v).max() > 0 for v in lora_b)          # LoRA B starts at zero: training moved it
    assert not (run / runs.WEIGHTS_FILE).exists()                         # the run holds the adapter, not the base
    assert sum(v.size for v in adapter.values()) < 10_000

    model = runs.load_model(run)
    images = sorted(synth_dir.rglob("*.png"))[:6]
    p = model.predict_proba([str(i) for i in images])
    assert p.shape == (6, 2) and np.all((p >= 0) & (p <= 1)) and np.allclose(p.sum(1), 1)
    assert p[:, 1].std() > 1e-4                  # the answer depends on the image
    capsys.readouterr()
    assert main(["predict", str(run), *map(str, images[:2])]) == 0
    assert main(["evaluate", str(run), "-q"]) == 0
    metrics = json.loads((run / "eval-test" / "metrics.json").read_text())
    auc = metrics["roc_auc"]
    assert auc is not None and 0 <= auc <= 1


def test_vlm_lora_without_the_base_model_says_how_to_get_it(synth_dir, tmp_path, capsys):
    assert main(["train", "--data", str(synth_dir), "--model", "vlm-lora", "--base", "HuggingFaceTB/SmolVLM-256M-Instruct",
                 "--out", str(tmp_path / "x"), "-q"]) == 2
    msg = capsys.readouterr().err
    assert "SmolVLM-256M-Instruct" in msg and "save_pretrained" in msg
