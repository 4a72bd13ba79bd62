"""Cached patch tokens of the CLIP tower, for heads that look at individual tokens rather than
their mean (issue 24, point 3). Needs the ``[train]`` extra (torch).

One pass of ``lab.clip_torch.ClipVision`` per image and view stores, in one resumable folder:

- ``tokens.f16``: (N, len(blocks), 196, 768) float16, the patch tokens after each named block
  (the CLS token is in ``pooled``), memory-mapped so a fold reads only its rows;
- ``pooled.f32``: (N, 18944) the detector's layered features (``ClipVision.features``) from the
  same pass, so a frozen probe can be compared on exactly the same arithmetic;
- ``done.u8``: one byte per image, set once its rows are written: a killed run resumes where it
  stopped (``extract_tokens`` skips done rows);
- ``meta.json``: the image paths in order, the blocks, the view and the arithmetic.

The pass runs in bfloat16 autocast where the CPU has it (about 2x float32 on AVX-512 BF16):
a lab-side cache, its arithmetic recorded, never what the shipped detector computes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from artcheck.detect.backbones import get_spec

BLOCKS = (3, 7, 11)        # 0-based: after the 4th, 8th and 12th of the 12 blocks
N_PATCH, WIDTH, POOLED_DIM = 196, 768, 18944


class TokenCache:
    """The memory-mapped arrays of one view (see the module docstring)."""

    def __init__(self, folder: str | Path, paths: list[str] | None = None, blocks: tuple[int, ...] = BLOCKS,
                 view: str = "clean", arithmetic: str = "bfloat16-autocast"):
        self.folder = Path(folder)
        meta_file = self.folder / "meta.json"
        if meta_file.is_file():
            meta = json.loads(meta_file.read_text())
            if paths is not None and meta["paths"] != list(paths):
                raise ValueError(f"{self.folder} caches other images ({len(meta['paths'])} paths, the first "
                                 f"{meta['paths'][:1]}); pass another folder or delete it to rebuild")
        elif paths is None:
            raise FileNotFoundError(f"no token cache at {self.folder}: build it with benchmarks/learners.py --extract")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            meta = {"paths": list(paths), "blocks": list(blocks), "view": view, "arithmetic": arithmetic}
            meta_file.write_text(json.dumps(meta))
        self.meta, self.n, self.blocks = meta, len(meta["paths"]), tuple(meta["blocks"])
        mode = "r+" if paths is not None else "r"
        shape = (self.n, len(self.blocks), N_PATCH, WIDTH)
        self.tokens = self._map("tokens.f16", np.float16, shape, mode)
        self.pooled = self._map("pooled.f32", np.float32, (self.n, POOLED_DIM), mode)
        self.done = self._map("done.u8", np.uint8, (self.n,), mode)

    def _map(self, name: str, dtype, shape, mode: str) -> np.memmap:
        f = self.folder / name
        if not f.exists():
            np.lib.format.open_memmap(f, mode="w+", dtype=dtype, shape=shape).flush()
        return np.lib.format.open_memmap(f, mode=mode)

    @property
    def complete(self) -> bool:
        return bool(self.done.all())


def extract_tokens(cache: TokenCache, weights: str | Path, perturb: Callable | None = None, batch: int = 16,
                   progress: bool = True) -> TokenCache:
    """Fill ``cache`` (resuming): each image loaded through ``artcheck.images``, ``perturb``ed
    (PIL image -> PIL image), resized and normalised as the detector does, one forward pass."""
    import torch

    from artcheck.images import load_image
    from artcheck.lab.clip_torch import ClipVision
    from artcheck.progress import track

    spec = get_spec("clip-vit-b16")
    model = ClipVision.from_onnx(weights)
    todo = np.flatnonzero(cache.done == 0)
    paths = cache.meta["paths"]
    starts = range(0, len(todo), batch)
    for start in track(starts, f"tokens ({cache.meta['view']}, {len(todo)} images)", total=len(starts),
                       enabled=progress):
        rows = todo[start:start + batch]
        arrays = []
        for i in rows:
            img = load_image(paths[i]).image
            arrays.append(spec.preprocess.to_uint8(perturb(img) if perturb else img))
        x = torch.from_numpy(spec.preprocess.normalize(np.stack(arrays)))
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            emb, outs = model(x)
        cache.pooled[rows] = ClipVision.pool(emb.float(), [h.float() for h in outs]).numpy()
        cache.tokens[rows] = torch.stack([outs[b][:, 1:].float() for b in cache.blocks], 1).numpy()
        cache.tokens.flush(), cache.pooled.flush()
        cache.done[rows] = 1
        cache.done.flush()
    return cache
