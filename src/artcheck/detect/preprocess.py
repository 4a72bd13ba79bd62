"""Preprocessing that belongs to a model (as timm's ``pretrained_cfg``).

A model declares one frozen :class:`PreprocessConfig`; data loaders, the detector and
ONNX export all read it, so nobody re-types a normalisation constant. NumPy only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
UNIT_MEAN = (0.0, 0.0, 0.0)   # Keras-style Rescaling(1/255): the seed CNNs' own choice
UNIT_STD = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class PreprocessConfig:
    input_size: tuple[int, int]            # (height, width)
    mean: tuple[float, float, float] = UNIT_MEAN
    std: tuple[float, float, float] = UNIT_STD
    interpolation: str = "bilinear"
    crop: str = "resize"                   # "resize" (squash) or "center" (resize short side, crop)

    def __post_init__(self) -> None:
        if self.interpolation not in _RESAMPLE:
            raise ValueError(f"interpolation must be one of {sorted(_RESAMPLE)}, got {self.interpolation!r}")
        if self.crop not in ("resize", "center"):
            raise ValueError(f"crop must be 'resize' or 'center', got {self.crop!r}")
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PreprocessConfig":
        return cls(**d)

    def resize(self, img: Image.Image) -> Image.Image:
        """RGB PIL image -> RGB PIL image of ``input_size``."""
        h, w = self.input_size
        resample = _RESAMPLE[self.interpolation]
        if self.crop == "center":
            # Crop first, in source pixels, then resize only that box: the output is never larger
            # than the input size (scaling the short side of a 20000x1 image up to 224 first would
            # allocate 4.5 GB). The box is the centre region the old resize-then-crop kept.
            scale = max(h / img.height, w / img.width)
            bw, bh = min(img.width, w / scale), min(img.height, h / scale)
            left, top = (img.width - bw) / 2, (img.height - bh) / 2
            if img.size == (w, h):
                return img
            return img.resize((w, h), resample, box=(left, top, left + bw, top + bh))
        return img.resize((w, h), resample) if img.size != (w, h) else img

    def to_uint8(self, img: Image.Image) -> np.ndarray:
        """RGB PIL image -> uint8 array (H, W, 3) at input size (what caches store)."""
        return np.asarray(self.resize(img), dtype=np.uint8)

    def normalize(self, batch_uint8: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) -> float32 (N, 3, H, W), scaled and normalised."""
        x = batch_uint8.astype(np.float32) / 255.0
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def __call__(self, img: Image.Image) -> np.ndarray:
        """RGB PIL image -> float32 (3, H, W)."""
        return self.normalize(self.to_uint8(img)[None])[0]


def predict_proba_images(predict_arrays, preprocess: PreprocessConfig, images, batch_size: int = 64) -> np.ndarray:
    """Paths, bytes or PIL images -> (n, 2) P(human), P(ai), via a model's ``predict_arrays``."""
    from artcheck.images import open_rgb

    out = []
    for i in range(0, len(images), batch_size):
        p = predict_arrays(np.stack([preprocess.to_uint8(open_rgb(x)) for x in images[i:i + batch_size]]))
        out.append(np.stack([1 - p, p], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


@dataclass(frozen=True)
class TrainingNormalisation:
    """The chain every training image went through (wild-dev's README): centre square crop,
    ``size`` px (Lanczos), a WebP round trip at ``webp_quality``, ``out`` px (Lanczos). A
    detector whose ``detector.json`` names it (``input_normalisation``) runs it on every image
    before its own resize, so that check time sees what training saw (issue 24, point 5)."""

    size: int = 384
    webp_quality: int = 90
    out: int = 256

    def __call__(self, img: Image.Image) -> Image.Image:
        import io

        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = (img if img.mode == "RGB" else img.convert("RGB")).crop((left, top, left + side, top + side))
        img = img.resize((self.size, self.size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="WEBP", quality=self.webp_quality)
        with Image.open(io.BytesIO(buf.getvalue())) as back:     # our own bytes, not a user's file
            return back.convert("RGB").resize((self.out, self.out), Image.Resampling.LANCZOS)


NORMALISATIONS = {"wild-dev": TrainingNormalisation()}


class NormalisedPreprocess:
    """A model's preprocessing with a ``TrainingNormalisation`` in front of its resize: what a
    detector that names one (``input_normalisation``) hands to everything that asks for its
    ``preprocess`` (checking, evaluation, explanations), so they all score what check scores."""

    def __init__(self, inner: PreprocessConfig, normalisation: TrainingNormalisation):
        self.inner, self.normalisation = inner, normalisation

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def to_uint8(self, img: Image.Image) -> np.ndarray:
        return self.inner.to_uint8(self.normalisation(img))

    def __call__(self, img: Image.Image) -> np.ndarray:
        return self.inner.normalize(self.to_uint8(img)[None])[0]
