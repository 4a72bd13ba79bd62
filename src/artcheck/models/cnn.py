"""The seed CNNs from the projects artcheck grew out of.

Each fits on one screen, with shapes in comments where they change. Every model
carries its preprocessing (``model.preprocess``) and says how many outputs it has:
2 (softmax over ``("human", "ai")``) or 1 (a sigmoid logit for ``ai``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from artcheck.detect.preprocess import PreprocessConfig, predict_proba_images
from artcheck.labels import AI, CLASSES
from artcheck.models.registry import register_model


class SeedCNN(nn.Module):
    """Base: preprocessing, output convention and the ``predict_proba`` contract."""

    preprocess: PreprocessConfig
    num_outputs: int = 1             # 1 -> BCEWithLogits on the ai logit; 2 -> cross-entropy
    default_optimizer: str = "adam"
    expected_params: int = 0         # documented parameter count, checked by the contract test
    classes: tuple[str, ...] = CLASSES

    def set_classes(self, classes: tuple[str, ...]) -> None:
        """More than two classes (``human, edited, ai``): a new last layer with one output per class."""
        classes = tuple(classes)
        if classes == CLASSES:
            return
        last = self.head[-1]
        self.head[-1] = nn.Linear(last.in_features, len(classes))
        self.num_outputs, self.classes = len(classes), classes

    def proba_ai(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_outputs) -> P(ai) (N,)."""
        if self.num_outputs >= 2:
            return torch.softmax(logits, dim=1)[:, self.classes.index(AI)]
        return torch.sigmoid(logits[:, 0])

    def class_proba(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits -> (N, len(classes)) probabilities in ``self.classes`` order."""
        if self.num_outputs >= 2:
            return torch.softmax(logits, dim=1)
        p = torch.sigmoid(logits[:, 0])
        return torch.stack([1 - p, p], dim=1)

    @torch.no_grad()
    def predict_class_arrays(self, batch_uint8: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) -> (N, len(classes)) probabilities."""
        self.eval()
        return self.class_proba(self(torch.from_numpy(self.preprocess.normalize(batch_uint8)))).numpy()

    @torch.no_grad()
    def predict_proba(self, images: Sequence, batch_size: int = 64) -> np.ndarray:
        """Paths, bytes or PIL images -> array (n, 2) of P(human), P(ai)."""
        return predict_proba_images(self.predict_arrays, self.preprocess, images, batch_size)

    @torch.no_grad()
    def predict_arrays(self, batch_uint8: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) at ``preprocess.input_size`` -> P(ai) (N,)."""
        self.eval()
        return self.proba_ai(self(torch.from_numpy(self.preprocess.normalize(batch_uint8)))).numpy()


class BirdLotfi(SeedCNN):
    """Bird & Lotfi's CIFAKE CNN (arXiv 2303.14126) as the AI-ArtBench project built it."""

    num_outputs = 2

    def __init__(self, input_size: int = 32):
        super().__init__()
        if input_size not in (32, 128):
            raise ValueError(f"bird-lotfi comes in 32 and 128 pixel variants, got input_size={input_size}")
        self.preprocess = PreprocessConfig((input_size, input_size))
        side = ((input_size - 2) // 2 - 2) // 2          # 32 -> 6, 128 -> 30
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3), nn.ReLU(), nn.MaxPool2d(2),   # (64, s-2, s-2) -> /2
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # (64, side, side)
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * side * side, 64), nn.ReLU(),
            nn.Linear(64, 2),                                  # softmax lives in the loss / proba_ai
        )
        self.expected_params = {32: 186_370, 128: 3_725_314}[input_size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MaiCNN(SeedCNN):
    """3 x (conv 3x3 -> max-pool 2 -> ReLU), then 40,000 -> 120 -> 30 -> 1 at 200x200."""

    default_optimizer = "rmsprop"
    expected_params = 4_827_365

    def __init__(self):
        super().__init__()
        self.preprocess = PreprocessConfig((200, 200), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),   # (16, 100, 100)
            nn.Conv2d(16, 32, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),  # (32, 50, 50)
            nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),  # (64, 25, 25) = 40,000
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(40_000, 120), nn.ReLU(), nn.Linear(120, 30), nn.ReLU(), nn.Linear(30, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _head(in_features: int, batchnorm: bool, dropout: float) -> nn.Sequential:
    """Linear 256 -> 64 -> 1 with ReLU, and BatchNorm1d + dropout when asked."""
    layers: list[nn.Module] = [nn.Flatten()]
    for n_in, n_out in ((in_features, 256), (256, 64)):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        if batchnorm:
            layers += [nn.BatchNorm1d(n_out), nn.Dropout(dropout)]
    return nn.Sequential(*layers, nn.Linear(64, 1))


class BnCNN(SeedCNN):
    """3 x (conv 3x3 -> ReLU -> BatchNorm2d -> max-pool 2), then a BatchNorm1d/dropout head."""

    expected_params = 4_235_521

    def __init__(self, input_size: int = 128, dropout: float = 0.3):
        super().__init__()
        self.preprocess = PreprocessConfig((input_size, input_size), mean=(0.5,) * 3, std=(0.5,) * 3)
        blocks: list[nn.Module] = []
        for c_in, c_out in ((3, 16), (16, 32), (32, 64)):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(c_out), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks)                  # (64, s/8, s/8): 128 -> (64, 16, 16)
        self.head = _head(64 * (input_size // 8) ** 2, batchnorm=True, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class PlainCNN(SeedCNN):
    """Alternating 3x3 (stride 2, padding 1) and 5x5 convolutions, ReLU only: the weak baseline."""

    expected_params = 2_896_385

    def __init__(self, input_size: int = 128):
        super().__init__()
        self.preprocess = PreprocessConfig((input_size, input_size), mean=(0.5,) * 3, std=(0.5,) * 3)
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),   # (16, 64, 64)
            nn.Conv2d(16, 32, 5), nn.ReLU(),                       # (32, 60, 60)
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),  # (32, 30, 30)
            nn.Conv2d(32, 64, 5), nn.ReLU(),                       # (64, 26, 26)
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),  # (64, 13, 13)
        )
        side = ((((input_size + 1) // 2 - 4) + 1) // 2 - 4 + 1) // 2
        self.head = _head(64 * side * side, batchnorm=False, dropout=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model("bird-lotfi", summary="Bird & Lotfi CIFAKE CNN, 32x32 (input_size=128 for the large variant)")
def bird_lotfi(input_size: int = 32) -> BirdLotfi:
    return BirdLotfi(input_size)


@register_model("bird-lotfi-128", summary="Bird & Lotfi CIFAKE CNN, 128x128 input")
def bird_lotfi_128() -> BirdLotfi:
    return BirdLotfi(128)


@register_model("mai-cnn", summary="3-conv CNN, 40,000->120->30->1 head, 200x200, RMSprop")
def mai_cnn() -> MaiCNN:
    return MaiCNN()


@register_model("bn-cnn", summary="3-conv CNN with BatchNorm and dropout, 128x128")
def bn_cnn(input_size: int = 128, dropout: float = 0.3) -> BnCNN:
    return BnCNN(input_size, dropout)


@register_model("plain-cnn", summary="3x3/5x5 ReLU-only CNN: the weak baseline, 128x128")
def plain_cnn(input_size: int = 128) -> PlainCNN:
    return PlainCNN(input_size)
