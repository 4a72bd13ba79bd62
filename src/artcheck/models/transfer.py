"""Transfer learning (the Dall-E detector's method): an ImageNet CNN with a new two-class head.

Stage 1 trains the head on a frozen backbone; stage 2 unfreezes everything at a lower
learning rate (``TrainConfig.freeze_epochs``, ``unfrozen_lr``). Weights come from the
backbone registry (a file inside a package on the index, sha256-verified), never a hub.
"""

from __future__ import annotations

import torch
from torch import nn

from artcheck.backbones import get_spec
from artcheck.models.cnn import SeedCNN
from artcheck.models.registry import register_model
from artcheck.weights import resolve


class MobileNetV2Transfer(SeedCNN):
    """torchvision MobileNetV2 (ImageNet-1k) with its 1000-way classifier replaced by 2 classes."""

    num_outputs = 2
    expected_params = 2_226_434
    backbone_name = "mobilenet-v2"

    def __init__(self, pretrained: bool = True, dropout: float = 0.2):
        super().__init__()
        from torchvision.models import mobilenet_v2

        spec = get_spec(self.backbone_name)
        self.preprocess = spec.preprocess
        net = mobilenet_v2()
        if pretrained:
            path = resolve(self.backbone_name, spec.sources, fetch=True)
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.features = net.features                      # (N, 1280, 7, 7) at 224 px
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(1280, 2))

    def set_backbone_trainable(self, trainable: bool) -> None:
        for p in self.features.parameters():
            p.requires_grad = trainable
        # frozen BatchNorm layers keep ImageNet statistics: put them in eval mode when frozen
        self.features.train(trainable and self.training)
        self._backbone_frozen = not trainable

    def train(self, mode: bool = True) -> "MobileNetV2Transfer":
        super().train(mode)
        if getattr(self, "_backbone_frozen", False):
            self.features.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model("mobilenet-v2-transfer", family="transfer",
                summary="ImageNet MobileNetV2 + new 2-class head; freeze then fine-tune (offline weights)")
def mobilenet_v2_transfer(pretrained: bool = True, dropout: float = 0.2) -> MobileNetV2Transfer:
    return MobileNetV2Transfer(pretrained, dropout)
