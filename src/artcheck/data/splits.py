"""Seeded, stratified, group-aware splits; leave-one-out splits; subsets."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from artcheck.data.manifest import Manifest, Record

SUBSETS = {"small": 1000, "medium": 5000, "full": None}
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)   # train, val, test
SPLITS = ("train", "val", "test")


def _group_of(r: Record) -> str:
    return r.group or r.path


def _assign(records: list[Record], fractions: tuple[float, ...], names: tuple[str, ...],
            rng: np.random.Generator) -> dict[str, str]:
    """Assign whole groups to ``names`` per label so each label meets ``fractions``. path -> split."""
    out: dict[str, str] = {}
    for label in sorted({r.label for r in records}):
        groups: dict[str, list[Record]] = defaultdict(list)
        for r in records:
            if r.label == label:
                groups[_group_of(r)].append(r)
        keys = sorted(groups)
        rng.shuffle(keys)
        total = sum(len(groups[k]) for k in keys)
        bounds = np.cumsum(fractions) / sum(fractions) * total
        done = 0
        for k in keys:
            # a group goes to the first split whose quota its midpoint falls under
            idx = int(np.searchsorted(bounds, done + len(groups[k]) / 2.0, side="right"))
            for r in groups[k]:
                out[r.path] = names[min(idx, len(names) - 1)]
            done += len(groups[k])
    # a near-duplicate group holding both labels must still land in one split
    by_group: dict[str, str] = {}
    for r in records:
        by_group.setdefault(_group_of(r), out[r.path])
        out[r.path] = by_group[_group_of(r)]
    return out


def split_manifest(manifest: Manifest, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
                   seed: int = 0) -> Manifest:
    """Stratified seeded train/val/test split; records sharing ``group`` stay together.

    Splits already present in the manifest (CIFAKE's, GenImage's) are kept; a missing
    ``val`` is carved out of ``train``.
    """
    rng = np.random.default_rng(seed)
    have = {r.split for r in manifest}
    if have <= {""}:
        assigned = _assign(manifest.records, fractions, SPLITS, rng)
    else:
        assigned = {r.path: r.split for r in manifest}
        if "val" not in have:
            train = [r for r in manifest if r.split in ("train", "")]
            assigned.update(_assign(train, fractions[:2], ("train", "val"), rng))
    return Manifest([replace(r, split=assigned[r.path]) for r in manifest], manifest.root, manifest.layout)


def leave_one_out(manifest: Manifest, by: str, holdout: str, seed: int = 0,
                  val_fraction: float = 0.15) -> Manifest:
    """Everything whose ``by`` equals ``holdout`` is the test set; the rest is train/val.

    Records with an empty ``by`` value (human images have no generator) are split
    stratified over train/val/test so that the test set holds both classes.
    """
    keys = {r.key(by) for r in manifest}
    if holdout not in keys:
        raise ValueError(f"no records with {by}={holdout!r}; known values: {sorted(k for k in keys if k)}")
    rng = np.random.default_rng(seed)
    held = [r for r in manifest if r.key(by) == holdout]
    blank = [r for r in manifest if r.key(by) == ""]
    rest = [r for r in manifest if r.key(by) not in ("", holdout)]
    held_groups = {_group_of(r) for r in held}
    rest = [r for r in rest if _group_of(r) not in held_groups]  # near-duplicates of test never train
    assigned = {r.path: "test" for r in held}
    assigned.update(_assign(rest, (1 - val_fraction, val_fraction), ("train", "val"), rng))
    if blank:
        assigned.update(_assign(blank, (1 - 2 * val_fraction, val_fraction, val_fraction), SPLITS, rng))
    kept = [replace(r, split=assigned[r.path]) for r in manifest if r.path in assigned]
    return Manifest(kept, manifest.root, manifest.layout)


def parse_subset(value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value in SUBSETS:
        return SUBSETS[value]
    if str(value).isdigit() and int(value) > 0:
        return int(value)
    raise ValueError(f"subset must be one of {list(SUBSETS)} or a positive count per class, got {value!r}")


def subset(manifest: Manifest, per_class: str | int | None, seed: int = 0) -> Manifest:
    """At most ``per_class`` images of each label (seeded sample); ``None``/``full`` keeps all."""
    n = parse_subset(per_class)
    if n is None:
        return manifest
    rng = np.random.default_rng(seed)
    keep: set[int] = set()
    for label in sorted({r.label for r in manifest}):
        idx = [i for i, r in enumerate(manifest) if r.label == label]
        if len(idx) > n:
            idx = list(rng.choice(idx, size=n, replace=False))
        keep.update(int(i) for i in idx)
    return Manifest([r for i, r in enumerate(manifest) if i in keep], manifest.root, manifest.layout)
