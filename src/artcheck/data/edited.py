"""Derive an ``edited`` class from human images with local edits (the ai-image-classifier setup).

For each chosen human image, one to three seeded local edits (region blur, clone stamp,
region fill) are applied and the result is written as PNG. The edited copy shares its
original's ``group``, so a split never puts an image in train and its edit in test: a
three-class model has to see the edit, not recognise the picture.
"""

from __future__ import annotations

import csv
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from artcheck.data.manifest import Manifest
from artcheck.data.scan import scan
from artcheck.images import load_image
from artcheck.lab import perturb
from artcheck.labels import EDITED, HUMAN
from artcheck.progress import track

EDITS_FILE = "edits.csv"


def build_edited(manifest: Manifest, out_dir: str | Path, fraction: float = 1.0, seed: int = 0,
                 area: tuple[float, float] = (0.03, 0.15), max_edits: int = 3,
                 progress: bool | None = None) -> Manifest:
    """Write ``out_dir/edited/*.png``, ``out_dir/manifest.csv`` (every original plus the edited copies)
    and ``out_dir/edits.csv`` (which edits made each copy). Returns the new manifest."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    out = Path(out_dir)
    if (out / "manifest.csv").exists():
        raise FileExistsError(f"{out} already holds a manifest.csv; choose another --out")
    (out / "edited").mkdir(parents=True, exist_ok=True)
    scanned = scan(manifest, workers=2, progress=progress)       # near-duplicate groups for the originals
    records = scanned.manifest.records
    humans = [r for r in records if r.label == HUMAN]
    if not humans:
        raise ValueError("the dataset holds no human images to edit")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(humans), size=max(1, round(fraction * len(humans))), replace=False))
    new, log_rows = [], []
    for k in track(chosen, "Editing", enabled=progress):
        r = humans[int(k)]
        img = load_image(r.path).image
        steps = []
        for _ in range(int(rng.integers(1, max_edits + 1))):
            name = str(rng.choice(perturb.LOCAL_EDITS))
            strength = float(rng.uniform(*area))
            img = perturb.apply(img, name, strength, seed=int(rng.integers(0, 2**31)))
            steps.append(f"{name}={strength:.3f}")
        stem = Path(r.path).stem
        path = out / "edited" / f"{len(new):05d}-{stem}.png"
        img.save(path, format="PNG")
        new.append(replace(r, path=os.path.abspath(path), label=EDITED, split=""))
        log_rows.append((str(path), r.path, ";".join(steps)))
    result = Manifest([*records, *new], out, "manifest")
    result.to_csv(out / "manifest.csv")
    with (out / EDITS_FILE).open("w", newline="") as f:
        csv.writer(f).writerows([("path", "original", "edits"), *log_rows])
    return result
