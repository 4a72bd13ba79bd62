"""The one place that opens untrusted image bytes.

Everything that reads an image (training, evaluation, ``check``, the server) goes
through :func:`load_image`, which enforces the size limits, applies EXIF orientation,
flattens transparency, converts every mode to 8-bit RGB and takes the first frame of
animations. Any failure raises :class:`ImageError` naming the file and what to do.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps

# Limits, owned here and nowhere else.
MAX_PIXELS = 80_000_000          # ~ 9000 x 9000; larger declared sizes are refused unread
MAX_FILE_BYTES = 256 * 1024 * 1024
# Transparent pixels are composited onto this grey, as wild-dev's images were.
FLATTEN_BACKGROUND = (128, 128, 128)
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".jfif", ".avif", ".heic"}
)

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never half an image


class ImageError(ValueError):
    """An input that is not a usable image. The message names the file and the fix."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass
class LoadedImage:
    """A decoded image plus what provenance readers need from the original bytes."""

    image: Image.Image            # 8-bit RGB, orientation applied
    data: bytes = field(repr=False)
    source: str
    sha256: str
    format: str | None
    width: int                    # of the stored image, before orientation
    height: int
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "width": self.width, "height": self.height, "format": self.format}


def _read_bytes(source: str | Path | bytes, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "<bytes>"
    else:
        path = Path(source)
        label = name or str(path)
        try:
            size = path.stat().st_size
        except OSError as e:
            raise ImageError(label, f"cannot read the file ({e.strerror or e}); check the path and permissions") from e
        if path.is_dir():
            raise ImageError(label, "is a directory, not an image file")
        if size > MAX_FILE_BYTES:
            raise ImageError(label, f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ImageError(label, f"cannot read the file ({e.strerror or e}); check permissions") from e
    if not data:
        raise ImageError(label, "empty file (0 bytes); re-export or re-download it")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(label, f"{len(data)} bytes, over the {MAX_FILE_BYTES}-byte limit")
    return data, label


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency composited onto FLATTEN_BACKGROUND."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, FLATTEN_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def load_image(
    source: str | Path | bytes | Image.Image,
    *,
    name: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> LoadedImage:
    """Decode ``source`` (a path, raw bytes or a PIL image) into a :class:`LoadedImage`.

    Raises :class:`ImageError` for unreadable, empty, truncated, non-image or oversized input.
    """
    if isinstance(source, Image.Image):
        return _from_pil(source, name or "<PIL.Image>", max_pixels)
    data, label = _read_bytes(source, name)
    sha = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageError(label, f"declares {width}x{height} pixels, over the {max_pixels}-pixel limit; downscale it first")
            fmt = img.format
            if getattr(img, "is_animated", False):
                img.seek(0)
            img.load()
            info = dict(img.info)
            oriented = ImageOps.exif_transpose(img) or img
            rgb = _to_rgb(oriented)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(label, f"declared size is over the pixel limit, refused as a possible decompression bomb ({e})") from e
    except Image.UnidentifiedImageError as e:
        raise ImageError(
            label, f"not an image Pillow can read (got {len(data)} bytes starting {data[:8]!r}); "
            "expected PNG, JPEG, WebP, GIF, BMP or TIFF") from e
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageError(label, f"damaged or truncated image ({e}); re-export or re-download it") from e
    except Exception as e:  # noqa: BLE001 - untrusted bytes: any decoder failure means a bad file
        raise ImageError(label, f"could not be decoded ({type(e).__name__}: {e})") from e
    return LoadedImage(rgb, data, label, sha, fmt, width, height, info)


def _from_pil(img: Image.Image, label: str, max_pixels: int) -> LoadedImage:
    """An already-decoded image: no bytes to re-read; the hash covers mode, size and pixels."""
    width, height = img.size
    if width * height > max_pixels:
        raise ImageError(label, f"{width}x{height} pixels, over the {max_pixels}-pixel limit")
    digest = hashlib.sha256(f"{img.mode}:{width}x{height}:".encode() + img.tobytes()).hexdigest()
    rgb = _to_rgb(ImageOps.exif_transpose(img) or img)
    return LoadedImage(rgb, b"", label, digest, img.format, width, height, dict(img.info))


def open_rgb(source: str | Path | bytes | Image.Image, **kw: Any) -> Image.Image:
    """Shortcut: the decoded 8-bit RGB image only."""
    return load_image(source, **kw).image


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS
