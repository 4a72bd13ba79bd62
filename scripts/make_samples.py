"""Rebuild src/artcheck/assets/samples/: images with known origin, kind and licence, none of
them in the default detector's training set.

    python scripts/extra_sources.py && python scripts/make_samples.py
    (needs the package index, ../shared/data/wild-dev and data/extra)

Only sources whose licence allows shipping them (public domain, CC0, MIT). Human photographs
come from the scikit-image and matplotlib wheels (in no training set); the human 3D render is
ray traced here with POV-Ray (`apt-get install povray`) from scripts/scenes/still_life.pov. The other picks come
from training sources (wild-dev's MIT wheels, the public-domain clip art, the MIT demo game,
OpenCV's samples) and are copied byte for byte: ``artcheck build-detector`` leaves out every
training image whose bytes equal a bundled sample's, so they are held out of the build. The
Z-Image samples come from a generator the build leaves out altogether
(build_detector.HELD_OUT_GENERATORS). Two AI images carry provenance added here to show those
evidence paths (A1111-style parameters; a C2PA manifest signed with a throwaway test key).
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "artcheck" / "assets" / "samples"
WILD = ROOT / ".." / "shared" / "data" / "wild-dev"
EXTRA = ROOT / "data" / "extra"
SKIMAGE = "scikit-image==0.26.0"
PHOTOS = {  # file in the wheel -> (sample name, licence as scikit-image states it)
    "skimage/data/astronaut.png": ("human-photo-astronaut.jpg", "public domain (NASA Great Images), via scikit-image 0.26.0"),
    "skimage/data/coffee.png": ("human-photo-coffee.jpg", "CC0, Rachel Michetti, via scikit-image 0.26.0"),
    "skimage/data/chelsea.png": ("human-photo-cat.jpg", "CC0, Stefan van der Walt, via scikit-image 0.26.0"),
    "skimage/data/rocket.jpg": ("human-photo-rocket.jpg", "public domain (SpaceX), via scikit-image 0.26.0"),
}
MATPLOTLIB = "matplotlib==3.10.8"
MPL_PHOTO = ("matplotlib/mpl-data/sample_data/grace_hopper.jpg", "human-photo-grace-hopper.jpg",
             "public domain (US Navy photograph of Grace Hopper), via matplotlib")
# (sample name, label, kind, folder, path in its manifest, licence, what made it)
POOL_PICKS = [
    ("ai-photo-qwen.png", "ai", "photo", WILD, "ai/comfyui-media-image-a8b30873428e.png",
     "MIT (PyPI comfyui-workflow-templates-media-image 0.3.160)", "Qwen-Image 2512 (ComfyUI template)"),
    ("ai-painting-dalle2.png", "ai", "painting", WILD, "ai/comfyui-media-api-28f75ee153d3.png",
     "MIT (PyPI comfyui-workflow-templates-media-api 0.3.84)", "DALL-E 2 (OpenAI API, ComfyUI template)"),
    ("ai-anime-illustration.png", "ai", "anime", WILD, "ai/comfyui-media-image-e75cd4c47c6c.png",
     "MIT (PyPI comfyui-workflow-templates-media-image 0.3.160)", "unnamed model (ComfyUI colour-illustration template)"),
    ("ai-cartoon-drawing.png", "ai", "drawing", WILD, "ai/comfyui-media-image-a2e883cd0c6b.png",
     "MIT (PyPI comfyui-workflow-templates-media-image 0.3.160)", "Krea 2 turbo (ComfyUI template)"),
    ("ai-3d-render-qwen.png", "ai", "3d", WILD, "ai/comfyui-media-image-c0a808e30eda.png",
     "MIT (PyPI comfyui-workflow-templates-media-image 0.3.160)", "Qwen-Image-Edit (ComfyUI template)"),
    ("ai-photo-zimage-unseen.png", "ai", "photo", WILD, "ai/comfyui-media-assets-01-7a986db7eeed.png",
     "MIT (PyPI comfyui-workflow-templates-media-assets-01 0.1.48)", "Z-Image Turbo: a generator left out of training"),
    ("ai-painting-zimage-unseen.png", "ai", "painting", WILD, "ai/comfyui-media-image-3397ca865600.png",
     "MIT (PyPI comfyui-workflow-templates-media-image 0.3.160)", "Z-Image: a generator left out of training"),
    ("human-painting-starry-night.png", "human", "painting", EXTRA / "opencv-photos", "starry_night.jpg",
     "public domain (Vincent van Gogh, 1889), via Debian opencv-doc (Apache-2.0 AND BSD-3-Clause)", "oil on canvas"),
    ("human-anime-sprite.png", "human", "anime", EXTRA / "renpy-question", "sylvie green smile.png",
     "Expat/MIT (Debian renpy-thequestion 8.0.3, game art of 'The Question')", "drawn for a 2005 visual novel"),
    ("human-drawing-clipart-a.png", "human", "drawing", EXTRA / "openclipart-drawings", 0,
     "public domain (Open Clip Art Library, Debian openclipart-png 0.18)", "vector clip art, 2008 or earlier"),
    ("human-drawing-clipart-b.png", "human", "drawing", EXTRA / "openclipart-drawings", 7,
     "public domain (Open Clip Art Library, Debian openclipart-png 0.18)", "vector clip art, 2008 or earlier"),
]
A1111 = "a lighthouse on a cliff, oil painting\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 42, Size: 256x256"


def photos(rows: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, SKIMAGE], check=True)
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as zf:
            for member, (name, licence) in PHOTOS.items():
                img = Image.open(io.BytesIO(zf.read(member))).convert("RGB")
                img.thumbnail((384, 384), Image.Resampling.LANCZOS)
                img.save(OUT / name, quality=90)
                rows.append((name, "human", "photo", licence, f"PyPI {SKIMAGE}: {member}", "no"))


def matplotlib_photo(rows: list) -> None:
    member, name, licence = MPL_PHOTO
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--only-binary=:all:", "-d", tmp,
                        MATPLOTLIB], check=True)
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as zf:
            img = Image.open(io.BytesIO(zf.read(member))).convert("RGB")
    img.thumbnail((384, 384), Image.Resampling.LANCZOS)
    img.save(OUT / name, quality=90)
    rows.append((name, "human", "photo", licence, f"PyPI {MATPLOTLIB}: {member}", "no"))


SCENE = ROOT / "scripts" / "scenes" / "still_life.pov"


def povray_render(rows: list) -> None:
    """A human-made 3D render: POV-Ray 3.7 (Debian package povray) on a scene written for this
    project. Ray tracing, not a generator: the kind of CG the pool's 3D renders are."""
    import shutil

    if not shutil.which("povray"):
        raise SystemExit("the 3D render sample needs POV-Ray: apt-get install povray")
    name = "human-3d-render-povray.png"
    subprocess.run(["povray", f"+I{SCENE}", f"+O{OUT / name}", "+W384", "+H384", "+A0.1", "+R2", "-D", "-V"],
                   check=True, capture_output=True)
    rows.append((name, "human", "3d-render", "MIT (scene written for artcheck, rendered with POV-Ray 3.7)",
                 "scripts/scenes/still_life.pov rendered by Debian povray at 384x384", "no"))


def pool_picks(rows: list) -> dict[str, Path]:
    """Copy each pick byte for byte from its training folder (so the build can recognise and skip it)."""
    picked = {}
    for name, label, kind, folder, key, licence, what in POOL_PICKS:
        manifest = list(csv.DictReader((folder / "manifest.csv").open()))
        if isinstance(key, int):
            row = manifest[key]
        else:
            row = next(r for r in manifest if r["path"] == key or r["origin"].endswith("/" + key))
        src = folder / row["path"]
        (OUT / name).write_bytes(src.read_bytes())
        rows.append((name, label, kind, licence, f"{what}; {folder.name} {row['path']} <- {row['origin']}",
                     "no (held out of the build)"))
        picked[name] = src
    return picked


def provenance_examples(rows: list, ai_png: Path) -> None:
    info = PngInfo()
    info.add_text("parameters", A1111)
    Image.open(ai_png).save(OUT / "ai-with-generator-metadata.png", pnginfo=info)
    rows.append(("ai-with-generator-metadata.png", "ai", "photo", POOL_PICKS[0][5], f"{POOL_PICKS[0][0]} plus A1111-style "
                 "parameters written by this script (to show the metadata evidence path)", "no (held out of the build)"))
    sys.path.insert(0, str(ROOT / "tests"))
    from c2pa_fixture import signed_jpeg

    (OUT / "ai-with-c2pa-manifest.jpg").write_bytes(signed_jpeg(Image.open(ai_png).convert("RGB")))
    rows.append(("ai-with-c2pa-manifest.jpg", "ai", "photo", POOL_PICKS[0][5], f"{POOL_PICKS[0][0]} plus a C2PA manifest "
                 "declaring trainedAlgorithmicMedia, signed with a throwaway test key by this script",
                 "no (held out of the build)"))


def main() -> None:
    for old in OUT.glob("*"):
        old.unlink()
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list = []
    photos(rows)
    matplotlib_photo(rows)
    povray_render(rows)
    picked = pool_picks(rows)
    provenance_examples(rows, picked[POOL_PICKS[0][0]])
    with (OUT.parent / "SAMPLES.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "kind", "licence", "origin", "in_default_training_set"])
        w.writerows(rows)
    print(f"wrote {len(rows)} samples to {OUT}")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    main()
