"""Rebuild src/artcheck/assets/samples/: a handful of images with known origin and licence.

    python scripts/make_samples.py   (needs the network to the package index, and ../shared/data/wild-dev)

Human photographs come from the scikit-image wheel (not in any training set); AI and
painted images from wild-dev (in the default detector's training set, so their verdicts
are in-distribution); two AI images carry provenance added here to show those evidence
paths (A1111-style parameters; a C2PA manifest signed with a throwaway test key).
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
SKIMAGE = "scikit-image==0.26.0"
PHOTOS = {  # file in the wheel -> (sample name, licence as scikit-image states it)
    "skimage/data/astronaut.png": ("human-photo-astronaut.jpg", "public domain (NASA Great Images), via scikit-image 0.26.0"),
    "skimage/data/coffee.png": ("human-photo-coffee.jpg", "CC0, Rachel Michetti, via scikit-image 0.26.0"),
    "skimage/data/chelsea.png": ("human-photo-cat.jpg", "CC0, Stefan van der Walt, via scikit-image 0.26.0"),
    "skimage/data/rocket.jpg": ("human-photo-rocket.jpg", "public domain (SpaceX), via scikit-image 0.26.0"),
}
WILD_PICKS = [("ai", "comfyui-media-image", "ai-flux-or-sdxl.png"), ("ai", "comfyui-media-api", "ai-api-model.png"),
              ("human", "wesnoth-story", "human-painting-wesnoth.png")]
WILD_LICENCES = {"comfyui-media-image": "MIT (PyPI comfyui-workflow-templates-media-image 0.3.160)",
                 "comfyui-media-api": "MIT (PyPI comfyui-workflow-templates-media-api 0.3.84)",
                 "wesnoth-story": "GPL-2+ (Debian wesnoth-1.16-data)"}
A1111 = "a lighthouse on a cliff, oil painting\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 42, Size: 256x256"


def photos(rows: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, SKIMAGE], check=True)
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as zf:
            for member, (name, licence) in PHOTOS.items():
                img = Image.open(io.BytesIO(zf.read(member))).convert("RGB")
                img.thumbnail((384, 384), Image.Resampling.LANCZOS)
                img.save(OUT / name, quality=90)
                rows.append((name, "human", licence, f"PyPI {SKIMAGE}: {member}", "no"))


def wild(rows: list) -> list[Path]:
    manifest = list(csv.DictReader((WILD / "manifest.csv").open()))
    picked = []
    for label, source, name in WILD_PICKS:
        row = next(r for r in manifest if r["label"] == label and r["source"] == source)
        (OUT / name).write_bytes((WILD / row["path"]).read_bytes())
        rows.append((name, label, WILD_LICENCES[source], f"wild-dev {row['path']} <- {row['origin']}", "yes"))
        picked.append(WILD / row["path"])
    return picked


def provenance_examples(rows: list, ai_png: Path) -> None:
    info = PngInfo()
    info.add_text("parameters", A1111)
    Image.open(ai_png).save(OUT / "ai-with-generator-metadata.png", pnginfo=info)
    rows.append(("ai-with-generator-metadata.png", "ai", WILD_LICENCES["comfyui-media-image"], "ai-flux-or-sdxl.png plus A1111-style "
                 "parameters written by this script (to show the metadata evidence path)", "yes"))
    sys.path.insert(0, str(ROOT / "tests"))
    from c2pa_fixture import signed_jpeg

    (OUT / "ai-with-c2pa-manifest.jpg").write_bytes(signed_jpeg(Image.open(ai_png).convert("RGB")))
    rows.append(("ai-with-c2pa-manifest.jpg", "ai", WILD_LICENCES["comfyui-media-image"], "ai-flux-or-sdxl.png plus a C2PA manifest "
                 "declaring trainedAlgorithmicMedia, signed with a throwaway test key by this script", "yes"))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list = []
    photos(rows)
    picked = wild(rows)
    provenance_examples(rows, picked[0])
    with (OUT.parent / "SAMPLES.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "licence", "origin", "in_default_training_set"])
        w.writerows(rows)
    print(f"wrote {len(rows)} samples to {OUT}")


if __name__ == "__main__":
    main()
