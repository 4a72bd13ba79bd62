"""Synthetic AI-vs-human images with a learnable generator fingerprint, for tests and demos.

"Human" images are smooth random paintings (blurred colour fields and strokes). "AI"
images are drawn the same way, then pass through a 2x nearest-neighbour upsampling
step and a faint periodic grid: the checkerboard / spectral-peak trace that transposed
convolutions and upsampling layers leave in real generators' outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from artcheck.data.manifest import Manifest, Record
from artcheck.labels import AI, HUMAN

GENERATORS = ("synth-gan", "synth-diffusion")


def _painting(rng: np.random.Generator, size: int) -> Image.Image:
    base = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(base, "RGB").resize((size, size), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = (int(v) for v in rng.integers(0, size, 2))
        x1, y1 = (int(v) for v in rng.integers(0, size, 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(1, max(2, size // 10))))
    return img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.5, 1.5))))


def _fingerprint(img: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    w, h = img.size
    small = img.resize((w // 2, h // 2), Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.NEAREST)
    arr = np.asarray(small, dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    grid = np.where((yy + xx) % 2 == 0, 1.0, -1.0)[..., None]
    arr = arr + strength * grid + rng.normal(0, 1.0, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def make_image(label: str, seed: int, size: int = 64, strength: float = 12.0) -> Image.Image:
    """One synthetic image; deterministic given ``seed``."""
    rng = np.random.default_rng(seed)
    img = _painting(rng, size)
    return _fingerprint(img, rng, strength) if label == AI else img


def make_dataset(root: str | Path, n_per_class: int = 50, size: int = 64, seed: int = 0,
                 strength: float = 12.0, layout: str = "imagefolder") -> Manifest:
    """Write a synthetic dataset under ``root`` (ImageFolder layout plus ``manifest.csv``)."""
    root = Path(root)
    records = []
    for k, label in enumerate((HUMAN, AI)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img = make_image(label, seed * 1_000_003 + k * 100_000 + i, size, strength)
            path = folder / f"{label}-{i:05d}.png"
            img.save(path)
            generator = GENERATORS[i % len(GENERATORS)] if label == AI else ""
            source = f"synth-{label}-{i % 2}"
            records.append(Record(str(path.resolve()), label, source=source, generator=generator, style="synthetic"))
    manifest = Manifest(records, root, layout)
    if layout == "manifest":
        manifest.to_csv(root / "manifest.csv")
    return manifest
