import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from artcheck.images import FLATTEN_BACKGROUND, ImageError, load_image


def _png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=kw.pop("format", "PNG"), **kw)
    return buf.getvalue()


def _huge_png_header(width: int, height: int) -> bytes:
    """A PNG that declares a huge size but holds no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty file"),
    (b"this is text, not a picture", "not an image"),
    (_huge_png_header(100_000, 100_000), "pixel limit"),
    (_huge_png_header(12_000, 12_000), "pixel limit"),
])
def test_bad_bytes_raise_error_naming_the_file(tmp_path, data, fragment):
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_truncated_image(tmp_path):
    data = _png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png: damaged or truncated"):
        load_image(path)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_pixel_limit_parameter(tmp_path):
    with pytest.raises(ImageError, match="pixel limit"):
        load_image(_png_bytes(Image.new("RGB", (64, 64))), max_pixels=1000)


@pytest.mark.parametrize("mode", ["P", "L", "LA", "RGBA", "CMYK", "I;16", "1"])
def test_every_mode_becomes_rgb(mode):
    img = Image.new("RGB", (20, 10), (200, 30, 40)).convert(mode) if mode != "I;16" else \
        Image.fromarray(np.full((10, 20), 40000, np.uint16))
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode == "I;16" else "PNG"
    out = load_image(_png_bytes(img, format=fmt))
    assert out.image.mode == "RGB" and out.image.size == (20, 10)


def test_sixteen_bit_is_scaled_not_clipped():
    img = Image.fromarray(np.full((4, 4), 32768, np.uint16))
    px = load_image(_png_bytes(img, format="PNG")).image.getpixel((0, 0))
    assert 120 <= px[0] <= 135


def test_transparency_is_flattened_onto_grey():
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert load_image(_png_bytes(img)).image.getpixel((3, 3)) == FLATTEN_BACKGROUND


def test_animated_gif_takes_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    r, g, b = load_image(buf.getvalue()).image.getpixel((0, 0))
    assert r > 200 and b < 50


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    out = load_image(_png_bytes(img, format="JPEG", exif=exif.tobytes()))
    assert out.image.size == (20, 40) and (out.width, out.height) == (40, 20)


def test_sha256_and_summary(tmp_path):
    data = _png_bytes(Image.new("RGB", (5, 7)))
    out = load_image(data, name="x.png")
    assert out.summary()["format"] == "PNG" and len(out.sha256) == 64 and out.source == "x.png"
