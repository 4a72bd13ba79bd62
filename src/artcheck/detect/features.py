"""Batched backbone features with an on-disk cache keyed by image content and backbone.

A second experiment on the same images costs no forward passes: features live under
``<cache>/features/<backbone>/<variant>/<sha256[:2]>/<sha256>.npy``. ``variant`` names
any perturbation applied before the backbone ("clean" when none).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from artcheck.detect.weights import cache_dir
from artcheck.images import ImageError, load_image
from artcheck.progress import track


class FeatureCache:
    def __init__(self, backbone: str, variant: str = "clean", root: str | Path | None = None):
        base = Path(root) if root else cache_dir().parent / "features"
        self.dir = base / backbone / variant
        self.hits = self.misses = 0

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        p = self._path(key)
        if p.is_file():
            self.hits += 1
            return np.load(p)
        self.misses += 1
        return None

    def put(self, key: str, value: np.ndarray) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, value)
        tmp.replace(p)


def file_key(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def extract(backbone, paths: Sequence[str], cache: FeatureCache | None = None,
            perturb: Callable[[Image.Image, int], Image.Image] | None = None, batch_size: int = 16,
            workers: int = 2, progress: bool | None = None) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Features (n_ok, D) of the readable ``paths``, their indices, and (path, reason) for the rest.

    ``perturb(img, index)`` is applied after decoding (seeded by the image's index).
    """
    feats: dict[int, np.ndarray] = {}
    errors: list[tuple[str, str]] = []
    keys: dict[int, str] = {}
    todo = []
    for i, p in enumerate(paths):
        try:
            keys[i] = file_key(p)
        except OSError as e:
            errors.append((str(p), f"cannot read the file ({e})"))
            continue
        hit = cache.get(keys[i]) if cache else None
        if hit is not None:
            feats[i] = hit
        else:
            todo.append(i)

    def prepare(i: int):
        try:
            img = load_image(paths[i]).image
        except ImageError as e:
            return i, None, e.reason
        if perturb is not None:
            img = perturb(img, i)
        return i, backbone.preprocess.to_uint8(img), None

    batches = [todo[k:k + batch_size] for k in range(0, len(todo), batch_size)]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for batch in track(batches, "Extracting features", enabled=progress):
            ready = []
            for i, arr, err in pool.map(prepare, batch):
                if err is None:
                    ready.append((i, arr))
                else:
                    errors.append((str(paths[i]), err))
            if not ready:
                continue
            out = backbone.features(np.stack([a for _, a in ready]))
            for (i, _), f in zip(ready, out):
                feats[i] = f
                if cache:
                    cache.put(keys[i], f)
    order = sorted(feats)
    dim = next(iter(feats.values())).shape[0] if feats else 0
    return (np.stack([feats[i] for i in order]) if feats else np.zeros((0, dim), np.float32)), order, errors
