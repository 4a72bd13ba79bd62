"""Seeded, parameterised perturbations shared by training augmentation and robustness tests.

Each takes an RGB PIL image and a strength and returns an RGB PIL image. Encoding
round trips go through Pillow in memory and are decoded by :mod:`artcheck.images`.

Strengths: quality for ``jpeg``/``webp``; scale for ``resize``; sigma for ``blur`` and
``noise``; amount for ``grayscale``; factor for ``saturation``; kept fraction of each side for
``crop``; opacity for ``text``; logo width as a fraction of the image width for ``logo``;
blend with the watermarked image for ``invisible_watermark``; the edited fraction of the
image area for the local edits ``region_blur``, ``clone`` and ``fill``.
"""

from __future__ import annotations

import io
import zlib
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

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


def _font(px: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, px))


def text(img: Image.Image, opacity: float, rng: np.random.Generator | None = None) -> Image.Image:
    """A visible stock-photo style text watermark tiled across the image at ``opacity``."""
    rng = rng or np.random.default_rng(0)
    w, h = img.size
    layer = Image.new("RGBA", (w * 2, h * 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = _font(max(w, h) // 12)
    label = str(rng.choice(["© SAMPLE", "PREVIEW", "© artcheck", "WATERMARK"]))
    step_x, step_y = int(font.getlength(label)) + max(w // 10, 4), max(h // 5, 6)
    alpha = int(255 * float(np.clip(opacity, 0, 1)))
    for row, y in enumerate(range(0, 2 * h, step_y)):
        for x in range(-(row % 2) * step_x // 2, 2 * w, step_x):
            draw.text((x, y), label, font=font, fill=(255, 255, 255, alpha), stroke_width=1,
                      stroke_fill=(0, 0, 0, alpha // 2))
    layer = layer.rotate(float(rng.uniform(20, 40)), resample=Image.Resampling.BICUBIC)
    layer = layer.crop((w // 2, h // 2, w // 2 + w, h // 2 + h))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


def logo(img: Image.Image, width: float, rng: np.random.Generator | None = None) -> Image.Image:
    """An opaque logo (a coloured disc with initials) ``width`` of the image wide, in a seeded corner."""
    rng = rng or np.random.default_rng(0)
    w, h = img.size
    size = max(6, round(w * float(width)))
    mark = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(mark)
    colour = tuple(int(c) for c in rng.integers(40, 220, 3))
    draw.ellipse((0, 0, size - 1, size - 1), fill=(*colour, 255), outline=(255, 255, 255, 255),
                 width=max(1, size // 16))
    draw.text((size / 2, size / 2), "AC", font=_font(size // 3), fill=(255, 255, 255, 255), anchor="mm")
    margin = max(1, w // 40)
    corner = int(rng.integers(0, 4))
    x = margin if corner in (0, 2) else w - size - margin
    y = margin if corner in (0, 1) else h - size - margin
    out = img.convert("RGBA")
    out.alpha_composite(mark, (max(0, x), max(0, y)))
    return out.convert("RGB")


def invisible_watermark(img: Image.Image, amount: float = 1.0, rng: np.random.Generator | None = None) -> Image.Image:
    """The Stable Diffusion DWT-DCT watermark (``StableDiffusionV1``), blended in at ``amount``."""
    from artcheck.provenance.watermark import embed

    return Image.blend(img, embed(img), float(np.clip(amount, 0, 1)))


def _region(img: Image.Image, area: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A seeded rectangle covering about ``area`` of the image, aspect ratio 0.5-2."""
    w, h = img.size
    aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    rw = int(np.clip(round(np.sqrt(area * w * h * aspect)), 2, w))
    rh = int(np.clip(round(area * w * h / rw), 2, h))
    x, y = int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1))
    return x, y, x + rw, y + rh


def region_blur(img: Image.Image, area: float, rng: np.random.Generator | None = None) -> Image.Image:
    """Local edit: blur one region (as a retoucher softens a face or hides a detail)."""
    rng = rng or np.random.default_rng(0)
    box = _region(img, area, rng)
    out = img.copy()
    radius = max(2.0, (box[2] - box[0]) / 8)
    out.paste(img.crop(box).filter(ImageFilter.GaussianBlur(radius)), box[:2])
    return out


def clone(img: Image.Image, area: float, rng: np.random.Generator | None = None) -> Image.Image:
    """Local edit: the clone stamp, one region copied over another place of the same image."""
    rng = rng or np.random.default_rng(0)
    src = _region(img, area, rng)
    w, h = img.size
    bw, bh = src[2] - src[0], src[3] - src[1]
    x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
    if abs(x - src[0]) + abs(y - src[1]) < max(bw, bh) // 2:   # make sure it moved
        x, y = (w - bw - src[0]), (h - bh - src[1])
    out = img.copy()
    out.paste(img.crop(src), (x, y))
    return out


def fill(img: Image.Image, area: float, rng: np.random.Generator | None = None) -> Image.Image:
    """Local edit: a region removed and filled from its surroundings (a crude content-aware fill)."""
    rng = rng or np.random.default_rng(0)
    box = _region(img, area, rng)
    small = img.resize((max(1, img.width // 16), max(1, img.height // 16)), Image.Resampling.BOX)
    smooth = small.resize(img.size, Image.Resampling.BICUBIC)
    grain = rng.normal(0, 3, (box[3] - box[1], box[2] - box[0], 3))
    patch = np.clip(np.asarray(smooth.crop(box), np.float32) + grain, 0, 255).astype(np.uint8)
    out = img.copy()
    out.paste(Image.fromarray(patch, "RGB"), box[:2])
    return out


PERTURBATIONS: dict[str, Callable[..., Image.Image]] = {
    "jpeg": jpeg, "webp": webp, "resize": resize, "blur": blur, "noise": noise,
    "grayscale": grayscale, "saturation": saturation, "crop": crop, "text": text, "logo": logo,
    "invisible_watermark": invisible_watermark, "region_blur": region_blur, "clone": clone, "fill": fill,
}
# What turns a human image into an "edited" one (the three-class builder uses these).
LOCAL_EDITS: tuple[str, ...] = ("region_blur", "clone", "fill")


def apply(img: Image.Image, name: str, strength: float, seed: int = 0) -> Image.Image:
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name](img, strength, np.random.default_rng(seed))


def image_seed(img: Image.Image, salt: int = 0) -> int:
    """A seed from the image's own pixels (a 16x16 thumbnail), not its position in a list:
    the same image gets the same random processing whichever folder or order it comes in."""
    return zlib.crc32(img.resize((16, 16)).tobytes(), salt)


def random_processing(img: Image.Image, seed: int) -> Image.Image:
    """Training augmentation: the processing history a shared image picks up (crop, resize,
    blur, JPEG or WebP at random strengths), so that format, framing and resampling carry no label."""
    rng = np.random.default_rng(seed)
    if rng.random() < 0.5:    # a crop keeping 60-100% of each side, anywhere in the frame
        fw, fh = rng.uniform(0.6, 1.0, size=2)
        w, h = max(8, round(img.width * fw)), max(8, round(img.height * fh))
        left, top = int(rng.integers(0, img.width - w + 1)), int(rng.integers(0, img.height - h + 1))
        img = img.crop((left, top, left + w, top + h))
    if rng.random() < 0.7:
        img = resize(img, float(rng.uniform(0.5, 1.0)))
    if rng.random() < 0.3:
        img = blur(img, float(rng.uniform(0.2, 1.2)))
    if rng.random() < 0.8:
        img = (jpeg if rng.random() < 0.75 else webp)(img, float(rng.integers(50, 96)))
    return img
