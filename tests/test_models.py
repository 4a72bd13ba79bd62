import numpy as np
import pytest
import torch
from PIL import Image

from artcheck.models import create_model, list_models
from artcheck.detect.preprocess import PreprocessConfig

SEED_CNNS = ["bird-lotfi", "bird-lotfi-128", "mai-cnn", "bn-cnn", "plain-cnn"]


def test_all_seed_cnns_are_registered():
    assert set(SEED_CNNS) <= set(list_models())


@pytest.mark.parametrize("name", [n for n in list_models() if n not in list_models("classical") + list_models("vlm")])
# classical models: test_classical; vlm-lora (a base model and peft): test_vlm
def test_model_contract(name):
    from artcheck.models import model_entry

    torch.manual_seed(0)
    kwargs = {"pretrained": False} if model_entry(name).family == "transfer" else {}   # no download here
    model = create_model(name, **kwargs).eval()
    assert isinstance(model.preprocess, PreprocessConfig)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == model.expected_params, f"{name}: {n_params} parameters, documented {model.expected_params}"
    h, w = model.preprocess.input_size
    logits = model(torch.randn(3, 3, h, w))
    assert logits.shape == (3, model.num_outputs) and torch.isfinite(logits).all()
    images = [Image.new("RGB", (50, 70), (i * 60, 20, 200)) for i in range(3)]
    proba = model.predict_proba(images)
    assert proba.shape == (3, 2) and np.allclose(proba.sum(1), 1) and np.isfinite(proba).all()


def test_bird_lotfi_is_faithful():
    m = create_model("bird-lotfi")
    convs = [l for l in m.modules() if isinstance(l, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [(64, (3, 3), (0, 0))] * 2
    assert m.preprocess.input_size == (32, 32) and create_model("bird-lotfi-128").preprocess.input_size == (128, 128)
    with pytest.raises(ValueError, match="32 and 128"):
        create_model("bird-lotfi", input_size=64)


def test_mai_cnn_head_is_40000_wide():
    m = create_model("mai-cnn")
    first = next(l for l in m.head if isinstance(l, torch.nn.Linear))
    assert first.in_features == 40_000 and m.default_optimizer == "rmsprop"


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="known models: .*bird-lotfi"):
        create_model("resnet-9000")
