"""Seeded, parameterised perturbations shared by training augmentation and robustness tests.

Each takes an RGB PIL image and a strength and returns an RGB PIL image. Encoding
round trips go through Pillow in memory and are decoded by :mod:`artcheck.images`.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from artcheck.images import open_rgb


def jpeg(img: Image.Image, quality: float, rng: np.random.Generator | None = None) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(quality))
    return open_rgb(buf.getvalue())


def webp(img: Image.Image, quality: float, rng: np.random.Generator | None = None) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="WEBP", quality=int(quality))
    return open_rgb(buf.getvalue())


def resize(img: Image.Image, scale: float, rng: np.random.Generator | None = None) -> Image.Image:
    w, h = img.size
    return img.resize((max(8, round(w * scale)), max(8, round(h * scale))), Image.Resampling.BICUBIC)


def blur(img: Image.Image, sigma: float, rng: np.random.Generator | None = None) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius=float(sigma))) if sigma > 0 else img


def noise(img: Image.Image, sigma: float, rng: np.random.Generator | None = None) -> Image.Image:
    rng = rng or np.random.default_rng(0)
    arr = np.asarray(img, np.float32) + rng.normal(0, sigma, (img.height, img.width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def grayscale(img: Image.Image, amount: float = 1.0, rng: np.random.Generator | None = None) -> Image.Image:
    return Image.blend(img, img.convert("L").convert("RGB"), float(amount))


def saturation(img: Image.Image, factor: float, rng: np.random.Generator | None = None) -> Image.Image:
    return ImageEnhance.Color(img).enhance(float(factor))


def crop(img: Image.Image, keep: float, rng: np.random.Generator | None = None) -> Image.Image:
    """Keep a ``keep`` fraction of each side, at a seeded position."""
    rng = rng or np.random.default_rng(0)
    w, h = img.size
    cw, ch = max(8, round(w * keep)), max(8, round(h * keep))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch))


PERTURBATIONS: dict[str, Callable[..., Image.Image]] = {
    "jpeg": jpeg, "webp": webp, "resize": resize, "blur": blur, "noise": noise,
    "grayscale": grayscale, "saturation": saturation, "crop": crop,
}


def apply(img: Image.Image, name: str, strength: float, seed: int = 0) -> Image.Image:
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name](img, strength, np.random.default_rng(seed))


def random_processing(img: Image.Image, seed: int) -> Image.Image:
    """Training augmentation: the processing history a shared image picks up (resize, blur,
    JPEG or WebP at random strengths), so that format and resampling carry no label."""
    rng = np.random.default_rng(seed)
    if rng.random() < 0.7:
        img = resize(img, float(rng.uniform(0.5, 1.0)))
    if rng.random() < 0.3:
        img = blur(img, float(rng.uniform(0.2, 1.2)))
    if rng.random() < 0.8:
        img = (jpeg if rng.random() < 0.75 else webp)(img, float(rng.integers(50, 96)))
    return img
