"""Transfer learning (the Dall-E detector's method): an ImageNet CNN with a new two-class head.

Stage 1 trains the head on a frozen backbone; stage 2 unfreezes everything at a lower
learning rate (``TrainConfig.freeze_epochs``, ``unfrozen_lr``). Weights come from the
backbone registry (a file inside a package on the index, sha256-verified), never a hub;
ResNet-18 has no copy on the index, so it takes a local file or, online, torchvision's URL.

Every model here is ``head(features(x))``: ``features`` is the pretrained trunk (its last
feature maps, which Grad-CAM reads) and ``head`` pools, drops out and classifies.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from artcheck.detect.backbones import get_spec
from artcheck.detect.weights import WeightsError, resolve
from artcheck.models.cnn import SeedCNN
from artcheck.models.registry import register_model


class TransferModel(SeedCNN):
    """A pretrained trunk (``features``) and a new head; the trunk can be frozen."""

    num_outputs = 2
    backbone_name = ""

    def _load(self, net: nn.Module, pretrained: bool, weights: str | None = None) -> None:
        """Weights from ``weights`` (a local file) or the backbone registry's verified sources."""
        if weights:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"weights file {path} does not exist; pass the path of a "
                                        f"{self.backbone_name} ImageNet state dict (.pth)")
        elif pretrained:
            try:
                path = resolve(self.backbone_name, get_spec(self.backbone_name).sources, fetch=True)
            except WeightsError as e:
                raise WeightsError(f"{e}\nOr train from a local copy of the file: in the --config YAML, "
                                   f"model_kwargs: {{weights: PATH}}; or from scratch: {{pretrained: false}}") from e
        else:
            return
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"{path} does not fit the {self.backbone_name} architecture: {str(e)[:300]}") from e

    def set_backbone_trainable(self, trainable: bool) -> None:
        for p in self.features.parameters():
            p.requires_grad = trainable
        # frozen BatchNorm layers keep ImageNet statistics: put them in eval mode when frozen
        self.features.train(trainable and self.training)
        self._backbone_frozen = not trainable

    def train(self, mode: bool = True) -> "TransferModel":
        super().train(mode)
        if getattr(self, "_backbone_frozen", False):
            self.features.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _pooled_head(width: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, 2))


class MobileNetV2Transfer(TransferModel):
    """torchvision MobileNetV2 (ImageNet-1k) with its 1000-way classifier replaced by 2 classes."""

    expected_params = 2_226_434
    backbone_name = "mobilenet-v2"

    def __init__(self, pretrained: bool = True, dropout: float = 0.2):
        super().__init__()
        from torchvision.models import mobilenet_v2

        self.preprocess = get_spec(self.backbone_name).preprocess
        net = mobilenet_v2()
        self._load(net, pretrained)
        self.features = net.features                      # (N, 1280, 7, 7) at 224 px
        self.head = _pooled_head(1280, dropout)


class _LiteTrunk(nn.Module):
    """EfficientNet-Lite up to its last 1x1 convolution (``extract_features``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


class EfficientNetLiteTransfer(TransferModel):
    """EfficientNet-Lite0 (ImageNet-1k; architecture from ``efficientnet-lite-pytorch``), new 2-class head."""

    expected_params = 3_373_570
    backbone_name = "efficientnet-lite0"

    def __init__(self, pretrained: bool = True, dropout: float = 0.2):
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError("efficientnet-lite0-transfer needs the architecture package: "
                                      "pip install efficientnet-lite-pytorch (part of artcheck[train])") from e
        self.preprocess = get_spec(self.backbone_name).preprocess
        net = EfficientNet.from_name("efficientnet-lite0")
        self._load(net, pretrained)
        net._fc, net._dropout = nn.Identity(), nn.Identity()    # the ImageNet classifier is not used
        self.features = _LiteTrunk(net)                       # (N, 1280, 7, 7) at 224 px
        self.head = _pooled_head(1280, dropout)


class ResNet18Transfer(TransferModel):
    """torchvision ResNet-18 (ImageNet-1k) with a new 2-class head (the Dall-E detector's model)."""

    expected_params = 11_177_538
    backbone_name = "resnet18"

    def __init__(self, pretrained: bool = True, weights: str | None = None, dropout: float = 0.0):
        super().__init__()
        from torchvision.models import resnet18

        self.preprocess = get_spec(self.backbone_name).preprocess
        net = resnet18()
        self._load(net, pretrained, weights)
        self.features = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                                      net.layer1, net.layer2, net.layer3, net.layer4)   # (N, 512, 7, 7)
        self.head = _pooled_head(512, dropout)


@register_model("mobilenet-v2-transfer", family="transfer",
                summary="ImageNet MobileNetV2 + new 2-class head; freeze then fine-tune (offline weights)")
def mobilenet_v2_transfer(pretrained: bool = True, dropout: float = 0.2) -> MobileNetV2Transfer:
    return MobileNetV2Transfer(pretrained, dropout)


@register_model("efficientnet-lite0-transfer", family="transfer",
                summary="ImageNet EfficientNet-Lite0 + new 2-class head; freeze then fine-tune (offline weights)")
def efficientnet_lite0_transfer(pretrained: bool = True, dropout: float = 0.2) -> EfficientNetLiteTransfer:
    return EfficientNetLiteTransfer(pretrained, dropout)


@register_model("resnet18-transfer", family="transfer",
                summary="ImageNet ResNet-18 + new 2-class head; weights from a local file or torchvision online")
def resnet18_transfer(pretrained: bool = True, weights: str | None = None, dropout: float = 0.0) -> ResNet18Transfer:
    return ResNet18Transfer(pretrained, weights, dropout)
