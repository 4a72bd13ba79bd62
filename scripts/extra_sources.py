"""Extra training sources, fetched by package name and normalised like wild-dev.

    python scripts/extra_sources.py [--out data/extra]

Writes one folder per source, each with a manifest.csv (path,label,source,generator,origin):

- widelands-photos (human): the landscape photographs used as loading screens in Debian
  widelands-data (GPL-2+, the Widelands Development Team): campaign backgrounds fri01-04
  and loadscreens/gameloading/**. Maps, screenshots and logos in the same package are not used.
- flare-portraits (human): the 36 hand-painted character portraits of Debian flare-game
  (mods/fantasycore/images/portraits, CC-BY-SA-3.0+, Clint Bellanger and others). Added
  because the AI side is mostly portraits: painted faces by people keep "a face" from
  meaning "AI".
- wesnoth-portraits (human): the hand-painted unit portraits of Debian wesnoth-1.16-data
  (data/core/images/portraits/{humans,elves,dwarves,orcs,merfolk}, GPL-2+, the Battle for
  Wesnoth artists). The same package and artists as wild-dev's wesnoth-story, so
  `build-detector` holds the two out together (its HOLDOUT_FAMILIES).
- stellarium-art (human): constellation illustrations (drawings, paintings, photographs of
  manuscripts) of Debian stellarium-data's sky cultures (GPL-2+, Stellarium contributors;
  each sky culture's README names its artist), every file at least 300 px on its short
  side, at most 120 taken in a seeded order. Many are drawn light-on-black.
- opencv-photos (human): the natural photographs among the sample images of Debian
  opencv-doc (examples/data; Apache-2.0 AND BSD-3-Clause per the package; the photos
  themselves are of mixed, older origin): people, animals, fruit, buildings, rooms and
  one painting (starry_night.jpg). Calibration boards, stereo pairs, synthetic shapes,
  logos and text are not used.

- openclipart-drawings (human): clip art drawn by people for the Open Clip Art Library (Debian
  openclipart-png 0.18, released 2008-2010, public domain dedication): vector drawings and
  cartoons of people, animals, food, plants, buildings, vehicles, recreation, education and
  decorations rendered to PNG; files at least 200 px on the short side and not over 80
  megapixels, at most 120 in a seeded order. Added because drawings, line art and cartoons
  were the human kinds the pool lacked most.
- renpy-question (human): the character sprites (anime style, drawn for the 2005 demo game
  "The Question") and the four backgrounds of Debian renpy-thequestion 8.0.3 (Expat licence,
  as Debian's copyright file gives for every file of the game).

None of these is a reserved source (../shared/data/wild-dev/README.md). Earlier builds also
used first frames from PyPI comfyui-workflow-templates-media-video; wild-dev's README reserves
"the comfyui-workflow-templates wheels other than the three above", which by its words takes
in that wheel too, so it is no longer fetched or trained on (build-detector refuses it).
Every image goes
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
from pathlib import Path
from typing import Iterator

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from artcheck.images import load_image  # noqa: E402

WIDELANDS_PACKAGE = "widelands-data"
FLARE_PACKAGE, FLARE_PORTRAITS = "flare-game", re.compile(r"fantasycore/images/portraits/(fe)?male\d+\.png$")
WESNOTH_PACKAGE = "wesnoth-1.16-data"
WESNOTH_PORTRAITS = re.compile(r"data/core/images/portraits/(humans|elves|dwarves|orcs|merfolk)/[^/]+\.(png|webp)$")
STELLARIUM_PACKAGE = "stellarium-data"
STELLARIUM_ART = re.compile(r"stellarium/skycultures/[^/]+/(descr_pics/)?[^/]+\.(png|jpg)$")
STELLARIUM_MAX, MIN_SIDE = 120, 300
OPENCV_PACKAGE = "opencv-doc"
OPENCV_PHOTOS = ("HappyFish.jpg", "aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg",
                 "building.jpg", "butterfly.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg",
                 "leuvenA.jpg", "messi5.jpg", "orange.jpg", "smarties.png", "squirrel_cls.jpg", "starry_night.jpg",
                 "stuff.jpg")
WIDELANDS_PHOTOS = re.compile(r"(campaigns/fri0[1-4]\.wmf/pics/background\.jpg|loadscreens/gameloading/.+\.(png|jpg))$")


def normalise(img: Image.Image) -> Image.Image:
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((384, 384), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="WEBP", quality=90)
    return load_image(buf.getvalue()).image.resize((256, 256), Image.Resampling.LANCZOS)


def debian_files(tmp: Path, package: str, pattern: re.Pattern) -> Iterator[tuple[Path, str]]:
    """Files of a Debian package (fetched by name with apt) whose path matches ``pattern``."""
    subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, check=True, capture_output=True)
    subprocess.run(["dpkg-deb", "-x", str(next(tmp.glob(f"{package}_*.deb"))), str(tmp / "x")], check=True)
    for path in sorted((tmp / "x").rglob("*")):
        rel = str(path.relative_to(tmp / "x"))
        if path.is_file() and pattern.search(rel):
            yield path, rel


def widelands_photos(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    for path, rel in debian_files(tmp, WIDELANDS_PACKAGE, WIDELANDS_PHOTOS):
        yield path.read_bytes(), rel, ""


def flare_portraits(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    for path, rel in debian_files(tmp, FLARE_PACKAGE, FLARE_PORTRAITS):
        yield path.read_bytes(), rel, ""


def wesnoth_portraits(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    for path, rel in debian_files(tmp, WESNOTH_PACKAGE, WESNOTH_PORTRAITS):
        yield path.read_bytes(), rel, ""


def stellarium_art(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    keep = []
    for path, rel in debian_files(tmp, STELLARIUM_PACKAGE, STELLARIUM_ART):
        w, h = load_image(path.read_bytes(), name=rel).image.size
        if min(w, h) >= MIN_SIDE and max(w, h) / min(w, h) < 2.2:
            keep.append((path, rel))
    keep.sort(key=lambda t: hashlib.sha256(t[1].encode()).hexdigest())   # a seeded, reproducible order
    for path, rel in sorted(keep[:STELLARIUM_MAX], key=lambda t: t[1]):
        yield path.read_bytes(), rel, ""


OPENCLIPART_PACKAGE = "openclipart-png"
OPENCLIPART_ART = re.compile(r"openclipart/png/(people|animals|recreation|food|plants|buildings|transportation|"
                             r"education|decorations)/.+\.png$")
OPENCLIPART_MAX, OPENCLIPART_MIN_SIDE = 120, 200
RENPY_PACKAGE = "renpy-thequestion"
RENPY_ART = re.compile(r"the_question/game/images/[^/]+\.(png|jpg)$")


def _seeded(items: list[tuple[Path, str]], n: int) -> list[tuple[Path, str]]:
    items = sorted(items, key=lambda t: hashlib.sha256(t[1].encode()).hexdigest())   # a seeded, reproducible order
    return sorted(items[:n], key=lambda t: t[1])


def openclipart_drawings(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    from artcheck.images import ImageError

    keep = []
    for path, rel in debian_files(tmp, OPENCLIPART_PACKAGE, OPENCLIPART_ART):
        try:
            with Image.open(path) as im:     # header only: some files declare hundreds of megapixels
                w, h = im.size
        except Exception:  # noqa: BLE001 - an unreadable file is simply not taken
            continue
        if min(w, h) >= OPENCLIPART_MIN_SIDE and max(w, h) / min(w, h) < 2.2 and w * h <= 80_000_000:
            keep.append((path, rel))
    for path, rel in _seeded(keep, OPENCLIPART_MAX * 2):
        try:
            load_image(path.read_bytes(), name=rel)
        except ImageError:
            continue
        yield path.read_bytes(), rel, ""
        OPENCLIPART_COUNT[0] += 1
        if OPENCLIPART_COUNT[0] >= OPENCLIPART_MAX:
            break


OPENCLIPART_COUNT = [0]


def renpy_question(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    for path, rel in debian_files(tmp, RENPY_PACKAGE, RENPY_ART):
        yield path.read_bytes(), rel, ""


def opencv_photos(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    names = re.compile(r"examples/data/(" + "|".join(map(re.escape, OPENCV_PHOTOS)) + ")$")
    for path, rel in debian_files(tmp, OPENCV_PACKAGE, names):
        yield path.read_bytes(), rel, ""


SOURCES = {"widelands-photos": ("human", widelands_photos),
           "flare-portraits": ("human", flare_portraits), "wesnoth-portraits": ("human", wesnoth_portraits),
           "stellarium-art": ("human", stellarium_art),
           "opencv-photos": ("human", opencv_photos),
           "openclipart-drawings": ("human", openclipart_drawings), "renpy-question": ("human", renpy_question)}
# The kind of image each source holds (the manifest's style column, as github-art's kind)
KINDS = {"widelands-photos": "photo", "flare-portraits": "painting", "wesnoth-portraits": "painting",
         "stellarium-art": "drawing", "opencv-photos": "photo", "openclipart-drawings": "drawing",
         "renpy-question": "anime"}


def write_source(name: str, out: Path, sources: dict | None = None) -> int:
    """Fetch one source, normalise every image, write ``out/name`` with its manifest.csv."""
    label, fetch = (sources or SOURCES)[name]
    folder = out / name
    (folder / label).mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data, origin, generator in fetch(Path(tmp)):
            img = normalise(load_image(data, name=origin).image)
            rel = f"{label}/{name}-{hashlib.sha256(origin.encode()).hexdigest()[:12]}.png"
            img.save(folder / rel)
            rows.append({"path": rel, "label": label, "source": name, "generator": generator,
                         "style": KINDS.get(name, ""), "origin": origin})
    with (folder / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "source", "generator", "style", "origin"])
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
