"""The fast tier's trunk: ImageNet MobileNetV2 read at eight depths, pooled to one vector.

A student for ``--model fast`` (issue 23, point 4). The convolutional trunk is torchvision's
MobileNetV2 with its verified ImageNet weights, frozen; what it learns is the linear head on
top (``lab.fast``), fitted to the default detector's scores and the labels. Generated images
differ from made ones in low-level statistics as much as in content, so the head reads every
stage, not only the last: at each tap the per-channel mean and standard deviation over the
feature map (texture statistics, as in style transfer's Gram features, but only the diagonal).

    taps:   stage output   channels   map at 224 px
            features[1]        16       112 x 112
            features[3]        24        56 x 56
            features[6]        32        28 x 28
            features[10]       64        14 x 14
            features[13]       96        14 x 14
            features[16]      160         7 x 7
            features[17]      320         7 x 7
            features[18]     1280         7 x 7
    vector: [mean_1, std_1, mean_3, std_3, ..., mean_18, std_18]   (2 x 1992 = 3984 values)

Build time only (torch): ``export_onnx`` writes the graph the detector runs with ONNX Runtime,
its weights stored as float16 (exactly widened to float32 when the session loads them; the
file is a few MB). Training features are computed from that same file, so the head learns on
exactly what checking computes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

TAPS = (1, 3, 6, 10, 13, 16, 17, 18)
CHANNELS = (16, 24, 32, 64, 96, 160, 320, 1280)
FEATURE_DIM = 2 * sum(CHANNELS)
INPUT_SIZE = 224


class StudentTrunk(nn.Module):
    """(N, 3, H, W) ImageNet-normalised -> (N, 3984) per-tap channel means and deviations."""

    def __init__(self, pretrained: bool = True):
        super().__init__()
        from artcheck.models import create_model

        self.features = create_model("mobilenet-v2-transfer", pretrained=pretrained).features.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in TAPS:
                parts += channel_stats(x)
        return torch.cat(parts, dim=1)


def channel_stats(x: torch.Tensor) -> list[torch.Tensor]:
    """A tap's statistics: per channel the mean and the standard deviation over the feature map."""
    flat = x.flatten(2)
    mean = flat.mean(dim=2)
    return [mean, (flat - mean[..., None]).pow(2).mean(dim=2).add(1e-6).sqrt()]


def _float16_weights(model) -> int:
    """Store every large float32 initializer as float16 behind a Cast to float32 (the session
    folds the Casts once at load); returns how many tensors changed."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    changed = 0
    for init in list(model.graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < 256:          # BN-folded biases and the like: not worth a node
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), name + "_fp16"))
        model.graph.node.insert(0, helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT))
        changed += 1
    return changed


def export_onnx(path: str | Path, pretrained: bool = True) -> Path:
    """Write the trunk as ONNX (input ``image`` (N, 3, 224, 224), output ``features`` (N, 3984))."""
    import onnx

    trunk = StudentTrunk(pretrained).eval()
    path = Path(path)
    tmp = path.with_suffix(".fp32.onnx")
    with torch.no_grad():
        torch.onnx.export(trunk, torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE), str(tmp), input_names=["image"],
                          output_names=["features"], dynamic_axes={"image": {0: "n"}, "features": {0: "n"}},
                          opset_version=17, dynamo=False)
    model = onnx.load(str(tmp))
    _float16_weights(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    tmp.unlink()
    return path
