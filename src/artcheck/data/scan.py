"""One decoding pass over a manifest: validate every file, hash it, optionally cache pixels.

Bad files are collected with their reason (and logged by name), never fatal and never
silently dropped; the returned manifest holds only the readable images, with
near-duplicate ``group`` ids filled in where the manifest gave none.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from PIL import Image

from artcheck.data.hashing import near_duplicate_groups, phash
from artcheck.data.manifest import Manifest
from artcheck.images import ImageError, load_image
from artcheck.progress import track

log = logging.getLogger(__name__)
PIXEL_CACHE_BYTES = 4 * 1024**3   # cache decoded inputs in memory below this total


@dataclass
class ScanResult:
    manifest: Manifest                              # readable images only
    errors: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    pixels: dict[str, np.ndarray] = field(default_factory=dict)   # path -> uint8 HWC, if cached


def _decode_one(path: str, to_array: Callable[[Image.Image], np.ndarray] | None):
    try:
        img = load_image(path).image
    except ImageError as e:
        return path, None, None, e.reason
    return path, phash(img), (to_array(img) if to_array else None), None


def scan(manifest: Manifest, to_array: Callable[[Image.Image], np.ndarray] | None = None,
         array_bytes: int = 0, workers: int = 2, progress: bool | None = None) -> ScanResult:
    """Decode each image once. ``to_array`` (model preprocessing) fills the pixel cache when
    ``len(manifest) * array_bytes`` fits in :data:`PIXEL_CACHE_BYTES`."""
    keep_pixels = to_array is not None and len(manifest) * array_bytes <= PIXEL_CACHE_BYTES
    fn = to_array if keep_pixels else None
    hashes: dict[str, int] = {}
    result = ScanResult(manifest)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        jobs = pool.map(lambda r: _decode_one(r.path, fn), manifest.records)
        for path, h, arr, err in track(jobs, "Reading images", total=len(manifest), enabled=progress):
            if err is not None:
                log.warning("skipping %s: %s", path, err)
                result.errors.append((path, err))
                continue
            hashes[path] = h
            if arr is not None:
                result.pixels[path] = arr
    good = [r for r in manifest if r.path in hashes]
    groups = near_duplicate_groups([hashes[r.path] for r in good])
    records = [r if r.group else replace(r, group=f"phash-{groups[i]}") for i, r in enumerate(good)]
    result.manifest = Manifest(records, manifest.root, manifest.layout)
    return result
