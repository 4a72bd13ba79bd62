"""Perceptual hashes (pHash) and near-duplicate grouping, in NumPy.

Written here rather than taken from ``imagehash`` because it is 30 lines and the
grouping needs the integer hashes anyway; banding keeps grouping near-linear.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from PIL import Image

HASH_SIZE = 8            # 8x8 low-frequency DCT block -> 64-bit hash
NEAR_DUPLICATE_BITS = 6  # hashes at Hamming distance <= this are the same picture


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def phash(img: Image.Image) -> int:
    """64-bit perceptual hash of a PIL image (robust to resizing and re-compression)."""
    gray = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT32 @ gray @ _DCT32.T)[:HASH_SIZE, :HASH_SIZE].ravel()
    bits = low > np.median(low[1:])
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def near_duplicate_groups(hashes: list[int], max_distance: int = NEAR_DUPLICATE_BITS) -> list[int]:
    """Group ids (index of each group's first member) joining hashes within ``max_distance`` bits.

    Pigeonhole banding: two hashes within d bits agree exactly on at least one of d+1 bands,
    so only hashes sharing a band are compared.
    """
    parent = list(range(len(hashes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    n_bands = max_distance + 1
    edges = [int(e) for e in np.linspace(0, 64, n_bands + 1)]
    for b in range(n_bands):
        lo, hi = edges[b], edges[b + 1]
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, h in enumerate(hashes):
            buckets[(h >> lo) & ((1 << (hi - lo)) - 1)].append(i)
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    i, j = members[x], members[y]
                    if hamming(hashes[i], hashes[j]) <= max_distance:
                        ri, rj = find(i), find(j)
                        if ri != rj:
                            parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(len(hashes))]
