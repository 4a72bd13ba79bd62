"""The training pool: which images a build may use, how they are held out, and their cached
features (clean, processed copies, the JPEG q60 + 0.75x robustness view).

Everything a detector build or a benchmark needs to put the same images on the same sides of
a split lives here; the methods (``heads``), the held-out protocol (``folds``), calibration
(``calibration``) and the model card (``card``) are beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from artcheck.data import Manifest, read_dataset
from artcheck.detect.backbones import embedding_columns, get_spec
from artcheck.detect.features import FeatureCache, extract
from artcheck.families import family_of
from artcheck.lab import perturb

# Sources kept for independent evaluation (../shared/data/wild-dev/README.md). Never trained on.
# That README reserves every comfyui-workflow-templates wheel but media-image, media-api and
# media-assets-01, so media-video is refused too, though its list in brackets omits it.
RESERVED_SOURCE_PATTERNS = ("plasma-workspace-wallpapers", "mate-backgrounds", "ukui-wallpapers", "lomiri-wallpapers",
                            "xfdesktop4-data", "gnome-backgrounds", "naev", "invokeai",
                            "comfyui-media-assets-02", "comfyui-media-other", "comfyui-media-video",
                            "comfyui-workflow-templates")
# clip-layers layout: embedding, then per block [CLS, mean patch]
EMB, WIDTH = embedding_columns(get_spec("clip-vit-b16")).stop, get_spec("clip-vit-b16").width


def _block(i: int, part: str) -> list[int]:
    start = EMB + i * 2 * WIDTH + (0 if part == "cls" else WIDTH)
    return [start, start + WIDTH]


# name -> column ranges [[start, stop], ...] into the clip-layers feature vector
FEATURE_SETS: dict[str, list[list[int]]] = {
    "embedding": [[0, EMB]],
    "last block (CLS + mean patch)": [_block(11, "cls"), _block(11, "mean")],
    "CLS of blocks 1,3,..,11": [_block(i, "cls") for i in range(1, 12, 2)],
    "mean patch of blocks 1,3,..,11": [_block(i, "mean") for i in range(1, 12, 2)],
    "embedding + CLS and mean patch of blocks 3,7,11": [[0, EMB]] + [_block(i, p) for i in (3, 7, 11)
                                                                        for p in ("cls", "mean")],
    "mean patch of all blocks": [_block(i, "mean") for i in range(12)],
    "CLS + mean patch of blocks 1,3,..,11": [_block(i, p) for i in range(1, 12, 2) for p in ("cls", "mean")],
    "CLS + mean patch of all blocks": [_block(i, p) for i in range(12) for p in ("cls", "mean")],
    "mean patch of blocks 6..11": [_block(i, "mean") for i in range(6, 12)],
}


def columns(ranges: list[list[int]]) -> np.ndarray:
    return np.concatenate([np.arange(a, b) for a, b in ranges])
# Where each training source comes from, for the model card.
SOURCE_NOTES = {
    "comfyui-media-image": "template thumbnails (Flux, SDXL, SD3.5, ...), PyPI comfyui-workflow-templates-media-image 0.3.160, MIT",
    "comfyui-media-api": "API-model outputs, PyPI comfyui-workflow-templates-media-api 0.3.84, MIT",
    "comfyui-media-assets-01": "PyPI comfyui-workflow-templates-media-assets-01 0.1.48, MIT",
    "endless-sky": "landscape and city photographs, Debian endless-sky-data 0.9.8, public domain / CC-BY-SA",
    "wesnoth-story": "hand-painted story art, Debian wesnoth-1.16-data, GPL-2+",
    "widelands-photos": "landscape photographs, Debian widelands-data, GPL-2+ (scripts/extra_sources.py)",
    "flare-portraits": "hand-painted character portraits, Debian flare-game, CC-BY-SA-3.0+ (scripts/extra_sources.py)",
    "wesnoth-portraits": "hand-painted unit portraits, Debian wesnoth-1.16-data, GPL-2+; held out together with "
                         "wesnoth-story (scripts/extra_sources.py)",
    "stellarium-art": "constellation drawings and paintings, Debian stellarium-data sky cultures, GPL-2+ "
                      "(scripts/extra_sources.py)",
    "openclipart-drawings": "clip art drawn by people, Open Clip Art Library, Debian openclipart-png 0.18, public domain "
                            "(scripts/extra_sources.py)",
    "renpy-question": "character sprites and backgrounds of the 2005 demo game The Question, Debian renpy-thequestion "
                      "8.0.3, Expat (scripts/extra_sources.py)",
    "gcompris-drawings": "children's-book cartoons drawn by the Art4Apps project, Debian gcompris-qt-data 3.1, "
                         "CC-BY-SA-3.0 (scripts/extra_sources.py)",
    "gcompris-photos": "Wikimedia Commons photographs (animals, monuments, musicians; the seeded pick of 120 holds one "
                       "photographed van Gogh painting), Debian "
                       "gcompris-qt-data 3.1; per image CC0, public domain, CC-BY or CC-BY-SA as the package's READMEs "
                       "give (manifest licence column; scripts/extra_sources.py)",
    "opencv-photos": "sample photographs (people, animals, fruit, rooms) and one painting, Debian opencv-doc, "
                     "Apache-2.0 AND BSD-3-Clause (scripts/extra_sources.py)",
}
# Sources cut from one package by the same artists: held out together, so that leave-one-out
# never trains on one and tests on its sibling.
HOLDOUT_FAMILIES = {"wesnoth-story": "wesnoth", "wesnoth-portraits": "wesnoth"}


def holdout_units(src: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """The unit each image is held out with: its source, sibling sources together
    (HOLDOUT_FAMILIES), and any sources joined by a near-duplicate ``group`` merged into one
    unit, so a near-duplicate never sits on both sides of a split."""
    base = [HOLDOUT_FAMILIES.get(s, s) for s in src]
    if groups is None:
        return np.array(base)
    parent = {u: u for u in base}

    def root(u: str) -> str:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    first: dict[str, str] = {}
    for u, g in zip(base, groups):
        if not g:
            continue
        if g in first:
            a, b = root(first[g]), root(u)
            if a != b:
                parent[max(a, b)] = min(a, b)
        else:
            first[g] = u
    return np.array([root(u) for u in base])


def generator_family(generator: str) -> str:
    """The generator's family for leave-one-family-out, from the reviewed table (``artcheck.families``)."""
    return family_of(generator)


ROBUST_VARIANT = "jpeg60-resize0.75"

def is_reserved(source: str) -> bool:
    """Whether a source is reserved for independent evaluation (never trained, tuned or calibrated on)."""
    return any(p in source for p in RESERVED_SOURCE_PATTERNS)


def check_not_reserved(manifest: Manifest) -> None:
    bad = sorted({r.source for r in manifest if is_reserved(r.source)})
    if bad:
        raise ValueError(f"sources {bad} are reserved for independent evaluation and must not be trained on; "
                         "remove them from the training data")


# Generators kept out of every build, so that the demo and the card can show how the model
# does on a generator it never saw (the Z-Image samples in assets/samples). Matched in lower case.
HELD_OUT_GENERATORS = ("z-image", "z_image", "zimage")


def bundled_sample_hashes() -> set[str]:
    """sha256 of every bundled demo sample: training images with the same bytes are left out."""
    import hashlib
    from importlib import resources

    folder = Path(str(resources.files("artcheck") / "assets" / "samples"))
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def held_out_generator(generator: str) -> bool:
    return any(k in (generator or "").lower() for k in HELD_OUT_GENERATORS)


def training_manifest(data: list[str], hold_out: bool = True) -> Manifest:
    """Every image of the training folders; refuses reserved sources. ``hold_out`` leaves out
    the bundled demo samples (by content) and the HELD_OUT_GENERATORS."""
    import hashlib

    records = [r for d in data for r in read_dataset(d)]
    check_not_reserved(Manifest(records))
    if hold_out:
        samples = bundled_sample_hashes()
        records = [r for r in records if not held_out_generator(r.generator)
                   and hashlib.sha256(Path(r.path).read_bytes()).hexdigest() not in samples]
    return Manifest(records)


def _robust(img, i):
    return perturb.jpeg(perturb.resize(img, 0.75), 60)


def cache_id(backbone) -> str:
    """Backbone name, feature layout, arithmetic and token subset: a change of any never reuses stale features."""
    spec, arith, tokens = backbone.spec, getattr(backbone, "arithmetic", None), getattr(backbone, "tokens", None)
    return f"{spec.name}-{spec.pooling}-{spec.feature_dim}" + (f"-{arith}" if arith else "") + (f"-{tokens}" if tokens else "")


def _features(backbone, name, paths, variant, fn, progress):
    X, idx, errors = extract(backbone, paths, FeatureCache(cache_id(backbone), variant), perturb=fn,
                             progress=progress)
    if errors:
        raise ValueError("unreadable training images: " + "; ".join(f"{p}: {r}" for p, r in errors[:5]))
    return X


def check_time_features(det, paths: list[str], progress: bool | None = None, perturb_fn=None,
                        variant: str = "") -> np.ndarray:
    """All feature columns of ``paths`` as ``Detector.check`` computes them: ``perturb_fn`` (a user's
    edit, such as the robustness view) first, then the detector's input normalisation, if it has
    one. Cached under ``check-<normalisation>[-<variant>]``."""
    from artcheck.detect.preprocess import NORMALISATIONS

    norm = det.config.get("input_normalisation")

    def as_checked(img, i):
        img = perturb_fn(img, i) if perturb_fn else img
        return NORMALISATIONS[norm](img) if norm else img

    key = (f"check-{norm}" if norm else "clean") + (f"-{variant}" if variant else "")
    return _features(det.backbone, None, paths, key, as_checked if (norm or perturb_fn) else None, progress)


AUG_VARIANT = "proc{k}-crop"   # random_processing with crops; the cache key changes with the recipe


def processed_copy(k: int):
    """The ``k``-th processed copy of an image as a view ``(img, i) -> img``: ``random_processing``
    seeded by the image's pixels and ``k``, so a cached copy is always the same copy."""
    return lambda img, i: perturb.random_processing(img, perturb.image_seed(img, k))


def feature_views(backbone, paths: list[str], n_aug: int, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Cached features of every image: clean, ``n_aug`` randomly processed copies (seeded by each
    image's pixels, so a cached copy is the same copy) and the JPEG60 + 0.75x robustness view."""
    views = {"clean": _features(backbone, backbone.spec.name, paths, "clean", None, progress)}
    for k in range(n_aug):
        views[f"aug{k + 1}"] = _features(backbone, backbone.spec.name, paths, AUG_VARIANT.format(k=k + 1),
                                         processed_copy(k + 1), progress)
    views[ROBUST_VARIANT] = _features(backbone, backbone.spec.name, paths, ROBUST_VARIANT, _robust, progress)
    return views


def training_table(manifest: Manifest) -> list[dict]:
    """Per source: label(s), count, kinds and licence as the manifests give them."""
    import csv

    licences: dict[str, dict[str, None]] = {}      # source -> licences in order of appearance
    for root in {str(Path(r.path).parent.parent) for r in manifest}:
        m = Path(root) / "manifest.csv"
        if m.is_file():
            with m.open(newline="") as f:
                for row in csv.DictReader(f):
                    if row.get("licence") and row.get("source"):
                        licences.setdefault(row["source"], {})[row["licence"]] = None
    rows: dict[str, dict] = {}
    for r in manifest:
        d = rows.setdefault(r.source, {"source": r.source, "ai": 0, "human": 0, "kinds": {}})
        d["ai" if r.target == 1 else "human"] += 1
        d["kinds"][r.style or "unknown"] = d["kinds"].get(r.style or "unknown", 0) + 1
    for s, d in rows.items():
        found = list(licences.get(s, ()))
        # as the manifest gives it; several (a per-image licence column): the source's note if it has one
        d["licence"] = ((SOURCE_NOTES.get(s) if len(found) > 1 else None) or (found[0] if found else None)
                        or SOURCE_NOTES.get(s, "see the source's README"))
    return sorted(rows.values(), key=lambda d: d["source"])
