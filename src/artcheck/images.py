"""The one place that opens untrusted image bytes.

Everything that reads an image (training, evaluation, ``check``, the server) goes
through :func:`load_image`, which enforces the size limits, applies EXIF orientation,
flattens transparency, converts every mode to 8-bit RGB and takes the first frame of
animations. Any failure raises :class:`ImageError` naming the file and what to do.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageFile, ImageOps

# Limits, owned here and nowhere else.
MAX_PIXELS = 80_000_000          # ~ 9000 x 9000; larger declared sizes are refused unread
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_ASPECT_RATIO = 50            # long side / short side; a webtoon strip is ~25:1, a 20000x1 PNG is refused
# Containers counted from the headers before decoding (a few bytes each can cost the decoder seconds
# and gigabytes): PNG chunks, JPEG segments before the image data, TIFF strips or tiles.
MAX_PNG_CHUNKS = 20_000
MAX_JPEG_SEGMENTS = 2_000
MAX_TIFF_STRIPS = 100_000
# The only decoders Pillow may use. Pillow knows EPS (it runs Ghostscript), PSD, ICNS and dozens
# more; untrusted bytes never reach them, whatever their name says. (JPEG opens multi-picture MPO files too.)
DECODE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
# Transparent pixels are composited onto this grey, as wild-dev's images were.
FLATTEN_BACKGROUND = (128, 128, 128)
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".jfif", ".avif"}
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
        data = _read_regular_file(path, label)
    if not data:
        raise ImageError(label, "empty file (0 bytes); re-export or re-download it")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(label, f"{len(data)} bytes, over the {MAX_FILE_BYTES}-byte limit")
    return data, label


def read_image_bytes(path: str | Path) -> bytes:
    """A file's bytes under the same rules ``load_image`` applies to a path (regular files only,
    never blocking, not empty, within the size limit), for pipelines that read in one place and
    decode in another (the Ray engine); decode them with ``load_image(data, name=path)``."""
    return _read_bytes(Path(path), str(path))[0]


def _not_regular(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def _read_regular_file(path: Path, label: str) -> bytes:
    """The bytes of a regular file, never blocking: FIFOs, sockets, devices, directories,
    dangling links and link loops are refused, each by name, before anything is read."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ImageError(label, "is a symbolic link loop (the link points back to itself); fix or remove the link") from e
        if e.errno == errno.ENOENT and os.path.islink(path):
            raise ImageError(label, f"is a dangling symbolic link (its target {os.readlink(path)!r} does not exist); "
                             "fix or remove the link") from e
        raise ImageError(label, f"cannot read the file ({e.strerror or e}); check the path and permissions") from e
    what = _not_regular(st.st_mode)
    if what:
        raise ImageError(label, f"is {what}, not an image file; only regular files are read")
    if st.st_size > MAX_FILE_BYTES:
        raise ImageError(label, f"file is {st.st_size} bytes, over the {MAX_FILE_BYTES}-byte limit")
    try:
        # O_NONBLOCK: should the path be swapped for a FIFO after the check, open() still returns at once
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ImageError(label, f"cannot read the file ({e.strerror or e}); check permissions") from e
    with os.fdopen(fd, "rb") as f:
        what = _not_regular(os.fstat(fd).st_mode)
        if what:
            raise ImageError(label, f"is {what}, not an image file; only regular files are read")
        try:
            return f.read(MAX_FILE_BYTES + 1)
        except OSError as e:       # EIO from /proc/self/mem, a failing disk, a vanished network share
            raise ImageError(label, f"reading the file failed ({e.strerror or e}); it may be a special "
                             "file (/proc, /sys) or on a failing disk") from e


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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary PNG chunks Pillow refuses whole past its limits (PngImagePlugin.MAX_TEXT_CHUNK,
# decompressed, and MAX_TEXT_MEMORY over all text); the pixels do not depend on them.
PNG_METADATA_CHUNKS = (b"tEXt", b"zTXt", b"iTXt", b"iCCP")


def _decompressed_over(data: bytes, limit: int) -> bool:
    """Whether zlib ``data`` inflates to more than ``limit`` bytes (never inflating more than that)."""
    import zlib

    try:
        return len(zlib.decompressobj().decompress(data, limit + 1)) > limit
    except zlib.error:
        return False


def strip_oversized_png_metadata(data: bytes) -> tuple[bytes, list[str]]:
    """PNG bytes without the text and ICC chunks Pillow would refuse as too large, and a
    note for each chunk taken out. Linear in the file; inflates at most the limit per chunk."""
    from PIL import PngImagePlugin

    limit, total_limit = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
    if not data.startswith(PNG_SIGNATURE):
        return data, []
    out, notes, pos, text_total = [data[:8]], [], 8, 0
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        ctype = data[pos + 4:pos + 8]
        end = pos + 12 + length
        body = data[pos + 8:pos + 8 + length]
        drop = False
        if ctype in PNG_METADATA_CHUNKS:
            if ctype == b"tEXt":
                drop = length > limit or text_total + length > total_limit
            elif ctype == b"iCCP" or ctype == b"zTXt":
                sep = body.find(b"\0")
                drop = sep < 0 or _decompressed_over(body[sep + 2:], limit)
            else:   # iTXt: keyword \0 flag method lang \0 translated \0 text
                sep = body.find(b"\0")
                compressed = sep >= 0 and body[sep + 1:sep + 2] == b"\x01"
                rest = body[sep + 3:] if sep >= 0 else b""
                parts = rest.split(b"\0", 2)
                payload = parts[2] if len(parts) == 3 else b""
                drop = (_decompressed_over(payload, limit) if compressed else length > limit)
            if not drop and ctype != b"iCCP":
                text_total += length
        if drop:
            notes.append(f"an oversized {ctype.decode('latin-1')} chunk ({length:,} bytes) was skipped")
        else:
            out.append(data[pos:end])
        if ctype == b"IEND":
            break
        pos = end
    return b"".join(out), notes


def _png_chunks(data: bytes, limit: int) -> int:
    pos, n = 8, 0
    while pos + 12 <= len(data) and n <= limit:
        n += 1
        if data[pos + 4:pos + 8] == b"IEND":
            break
        pos += 12 + int.from_bytes(data[pos:pos + 4], "big")
    return n


def _jpeg_segments(data: bytes, limit: int) -> int:
    """Marker segments before the first scan (SOS), where a decoder parses each one."""
    pos, n = 2, 0
    while pos + 4 <= len(data) and n <= limit:
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:              # fill byte
            pos += 1
            continue
        n += 1
        if marker == 0xDA:
            break
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return n


def _tiff_strips(data: bytes, limit: int) -> tuple[int, int]:
    """(largest strip or tile count in one IFD, IFDs in the chain), both counted up to ``limit``."""
    order = "little" if data[:2] == b"II" else "big"
    u = lambda a, b: int.from_bytes(data[a:b], order)  # noqa: E731
    if u(2, 4) != 42:                  # BigTIFF (43) and others: Pillow's own checks apply
        return 0, 0
    offset, strips, ifds, seen = u(4, 8), 0, 0, set()
    while 8 <= offset < len(data) - 2 and offset not in seen and ifds <= limit:
        seen.add(offset)
        ifds += 1
        entries = u(offset, offset + 2)
        for k in range(min(entries, (len(data) - offset - 2) // 12)):
            e = offset + 2 + 12 * k
            if u(e, e + 2) in (273, 279, 324, 325):      # StripOffsets/ByteCounts, TileOffsets/ByteCounts
                strips = max(strips, u(e + 4, e + 8))
        nxt = offset + 2 + 12 * entries
        offset = u(nxt, nxt + 4) if nxt + 4 <= len(data) else 0
    return strips, ifds


def check_containers(data: bytes, label: str) -> None:
    """Refuse, from the headers alone, files whose structure would make a decoder spend seconds and
    gigabytes on a few bytes: a million PNG chunks, millions of empty JPEG segments, a TIFF with
    millions of strips or an endless IFD chain. Linear in the file and stops at the limit."""
    if data.startswith(PNG_SIGNATURE):
        limit = MAX_PNG_CHUNKS + len(data) // 4096      # large images split IDAT into many 8 KB chunks
        if _png_chunks(data, limit) > limit:
            raise ImageError(label, f"a PNG of more than {limit:,} chunks (tiny chunks by the million make the "
                             "decoder crawl); refused unread. Re-save the image with any editor")
    elif data[:2] == b"\xff\xd8":
        if _jpeg_segments(data, MAX_JPEG_SEGMENTS) > MAX_JPEG_SEGMENTS:
            raise ImageError(label, f"a JPEG with more than {MAX_JPEG_SEGMENTS:,} marker segments before its image "
                             "data; refused unread. Re-save the image with any editor")
    elif data[:4] in (b"II*\0", b"MM\0*"):
        strips, ifds = _tiff_strips(data, MAX_TIFF_STRIPS)
        if strips > MAX_TIFF_STRIPS or ifds > MAX_TIFF_STRIPS:
            raise ImageError(label, f"a TIFF with {max(strips, ifds):,} strips, tiles or pages (over "
                             f"{MAX_TIFF_STRIPS:,}); refused unread. Re-save it as PNG or a plain TIFF")


def _is_metadata_limit(e: Exception) -> bool:
    msg = str(e).lower()
    return ("decompressed data too large" in msg or "too much memory used in text chunks" in msg
            or "max_text_chunk" in msg or "max_text_memory" in msg)


def load_image(
    source: str | Path | bytes | Image.Image,
    *,
    name: str | None = None,
    max_pixels: int = MAX_PIXELS,
    reserve: Callable[[int], None] | None = None,
) -> LoadedImage:
    """Decode ``source`` (a path, raw bytes or a PIL image) into a :class:`LoadedImage`.

    ``reserve(n_pixels)``, when given, is called once the header is read and before any
    pixel is decoded (it may block: :class:`PixelBudget` bounds the pixels in flight).

    Raises :class:`ImageError` for unreadable, empty, truncated, non-image or oversized input.
    """
    if isinstance(source, Image.Image):
        return _from_pil(source, name or "<PIL.Image>", max_pixels)
    data, label = _read_bytes(source, name)
    sha = hashlib.sha256(data).hexdigest()
    try:
        return _decode(data, label, sha, max_pixels, data, reserve)
    except ImageError as e:
        if not (e.__cause__ is not None and _is_metadata_limit(e.__cause__)):
            raise
    # A valid image with an oversized text or ICC chunk: decode it without them, and say so
    stripped, notes = strip_oversized_png_metadata(data)
    if not notes:
        raise ImageError(label, "a metadata chunk is over Pillow's size limits and could not be skipped; "
                         "re-export the image without its metadata")
    loaded = _decode(stripped, label, sha, max_pixels, data, reserve)
    loaded.info["artcheck_skipped_chunks"] = notes
    return loaded


def _decode(decodable: bytes, label: str, sha: str, max_pixels: int, data: bytes,
            reserve: Callable[[int], None] | None = None) -> LoadedImage:
    """Decode ``decodable`` (``data`` itself, or ``data`` with oversized chunks taken out)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            check_containers(decodable, label)
            img = Image.open(io.BytesIO(decodable), formats=DECODE_FORMATS)
            width, height = img.size
            if width * height > max_pixels:
                raise ImageError(label, f"declares {width}x{height} pixels, over the {max_pixels}-pixel limit; downscale it first")
            if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
                raise ImageError(label, f"is {width}x{height} pixels, an aspect ratio over {MAX_ASPECT_RATIO}:1 that the "
                                 "detector cannot judge; crop it to the part you want checked")
            fmt = img.format
            if reserve is not None:
                reserve(width * height)
            if getattr(img, "is_animated", False):
                img.seek(0)
            img.load()
            info = dict(img.info)
            oriented = _oriented(img)
            rgb = _to_rgb(oriented)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(label, f"declared size is over the pixel limit, refused as a possible decompression bomb ({e})") from e
    except Image.UnidentifiedImageError as e:
        raise ImageError(
            label, f"not an image artcheck reads (got {len(data)} bytes starting {data[:8]!r}); "
            "expected PNG, JPEG, WebP, GIF, BMP, TIFF or AVIF") from e
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageError(label, f"damaged or truncated image ({e}); re-export or re-download it") from e
    except Exception as e:  # noqa: BLE001 - untrusted bytes: any decoder failure means a bad file
        raise ImageError(label, f"could not be decoded ({type(e).__name__}: {e})") from e
    return LoadedImage(rgb, data, label, sha, fmt, width, height, info)


EXIF_ORIENTATION = 0x0112


def _oriented(img: Image.Image) -> Image.Image:
    """EXIF orientation applied; the image itself (no full-resolution copy) when there is none."""
    try:
        orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - malformed EXIF: leave the pixels as stored
        return img
    return img if orientation in (1, None) else (ImageOps.exif_transpose(img) or img)


def _from_pil(img: Image.Image, label: str, max_pixels: int) -> LoadedImage:
    """An already-decoded image: no bytes to re-read; the hash covers mode, size and pixels."""
    width, height = img.size
    if width * height > max_pixels:
        raise ImageError(label, f"{width}x{height} pixels, over the {max_pixels}-pixel limit")
    digest = hashlib.sha256(f"{img.mode}:{width}x{height}:".encode() + img.tobytes()).hexdigest()
    rgb = _to_rgb(_oriented(img))
    return LoadedImage(rgb, b"", label, digest, img.format, width, height, dict(img.info))


class PixelBudget:
    """Bounds the pixels being decoded and worked on at once across threads: each thread
    reserves its image's pixel count before decoding (blocking while the budget is spent)
    and releases it when done. An image larger than the whole budget waits for the others
    and then runs alone, so memory is bounded by the budget or by one image, whichever is larger."""

    def __init__(self, pixels: int):
        self.total, self.used = pixels, 0
        self.cond = threading.Condition()
        self.local = threading.local()

    def reserve(self, n: int) -> None:
        if getattr(self.local, "held", 0):   # a retry of the same image in this thread: already reserved
            return
        with self.cond:
            self.cond.wait_for(lambda: self.used == 0 or self.used + n <= self.total)
            self.used += n
        self.local.held = getattr(self.local, "held", 0) + n

    def release(self) -> None:
        """Release what this thread reserved (a no-op when it reserved nothing)."""
        n, self.local.held = getattr(self.local, "held", 0), 0
        if n:
            with self.cond:
                self.used -= n
                self.cond.notify_all()


def open_rgb(source: str | Path | bytes | Image.Image, **kw: Any) -> Image.Image:
    """Shortcut: the decoded 8-bit RGB image only."""
    return load_image(source, **kw).image


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS
