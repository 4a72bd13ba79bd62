"""Synthetic AI-vs-human images with a learnable generator fingerprint, for tests and demos.

"Human" images are smooth random paintings (blurred colour fields and strokes). "AI"
images are drawn the same way, then pass through a 2x nearest-neighbour upsampling
step and a faint periodic grid: the checkerboard / spectral-peak trace that transposed
convolutions and upsampling layers leave in real generators' outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

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


def screenshot(w=640, h=480, seed=0) -> Image.Image:
    """A made-up program window (title bar, menu, a list, check boxes, text fields, buttons), for
    tests of the screenshot check: drawn with Pillow's default font, different per ``seed``."""
    r = np.random.default_rng(seed)
    img = Image.new("RGB", (w, h), (236, 236, 236))
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    d.rectangle([0, 0, w, 28], fill=(53, 132, 228))
    d.text((10, 8), "Preferences - Image Editor", fill="white", font=font)
    for i, x in enumerate((w - 26, w - 50, w - 74)):
        d.rectangle([x, 6, x + 18, 22], fill=(220, 80, 70) if i == 0 else (200, 200, 200))
    for i, word in enumerate(("File", "Edit", "View", "Image", "Layer", "Tools", "Help")):
        d.text((10 + 60 * i, 36), word, fill=(20, 20, 20), font=font)
    d.line([0, 54, w, 54], fill=(190, 190, 190))
    d.rectangle([10, 64, 200, h - 60], fill="white", outline=(160, 160, 160))
    for i in range((h - 140) // 22):
        if i == 2:
            d.rectangle([11, 68 + 22 * i, 199, 86 + 22 * i], fill=(53, 132, 228))
        d.text((20, 72 + 22 * i), f"Setting group {i + 1}", fill="white" if i == 2 else (30, 30, 30), font=font)
    for i in range(6):
        y = 70 + 34 * i
        d.rectangle([220, y, 234, y + 14], fill="white", outline=(120, 120, 120))
        if r.random() < 0.5:
            d.line([222, y + 7, 227, y + 12, 233, y + 2], fill=(30, 30, 30), width=2)
        d.text((244, y + 2), f"Enable option number {i + 1} for new images", fill=(30, 30, 30), font=font)
    for i in range(3):
        y = 290 + 36 * i
        d.text((220, y + 6), f"Field {i + 1}:", fill=(30, 30, 30), font=font)
        d.rectangle([300, y, w - 20, y + 24], fill="white", outline=(150, 150, 150))
        d.text((306, y + 6), f"{r.integers(0, 10000)} px", fill=(30, 30, 30), font=font)
    for i, label in enumerate(("Help", "Reset", "Cancel", "OK")):
        x = w - 90 * (4 - i) - 10
        d.rounded_rectangle([x, h - 44, x + 80, h - 16], 4, fill=(250, 250, 250), outline=(140, 140, 140))
        d.text((x + 24, h - 36), label, fill=(20, 20, 20), font=font)
    return img
