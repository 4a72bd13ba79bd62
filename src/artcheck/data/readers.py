"""Build a :class:`Manifest` from the dataset layouts people actually have.

``read_dataset(path)`` detects the layout; each ``read_<layout>`` can also be called
directly. Labels always come from explicit folder-name rules, never folder order.
Files without an image extension are counted and reported, not silently dropped.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable

from artcheck.data.manifest import Manifest, Record
from artcheck.images import is_image_path
from artcheck.labels import AI, HUMAN

log = logging.getLogger(__name__)

AI_DIRS = {"ai", "fake", "1_fake"}
HUMAN_DIRS = {"human", "real", "0_real"}
CIFAKE_SPLITS = {"train": "train", "test": "test"}
GENIMAGE_SPLITS = {"train": "train", "val": "test"}   # GenImage's val is its held-out set
ARTBENCH_RE = re.compile(r"^AI_(LD|SD)_(.+)$")
ARTBENCH_GENERATORS = {"LD": "latent-diffusion", "SD": "stable-diffusion"}


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_under(folder: Path, skipped: list[str]) -> list[Path]:
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        if is_image_path(p):
            out.append(p)
        else:
            skipped.append(str(p))
    return out


def _report_skipped(root: Path, skipped: list[str]) -> None:
    if skipped:
        log.warning("%s: ignored %d file(s) without an image extension, e.g. %s",
                    root, len(skipped), ", ".join(skipped[:3]))


def _label_of_dir(name: str) -> str | None:
    low = name.lower()
    return AI if low in AI_DIRS else HUMAN if low in HUMAN_DIRS else None


def read_manifest_csv(path: Path) -> Manifest:
    csv_path = path / "manifest.csv" if path.is_dir() else path
    return Manifest.from_csv(csv_path)


def read_imagefolder(root: Path) -> Manifest:
    """``root/{ai,fake,FAKE,1_fake}/**`` vs ``root/{human,real,REAL,0_real}/**``."""
    records, skipped = [], []
    for d in _subdirs(root):
        label = _label_of_dir(d.name)
        if label is None:
            skipped.append(str(d) + "/")
            continue
        records += [Record(str(p), label, source=root.name) for p in _images_under(d, skipped)]
    _report_skipped(root, skipped)
    return Manifest(records, root, "imagefolder")


def read_cifake(root: Path) -> Manifest:
    """CIFAKE: ``root/{train,test}/{REAL,FAKE}/*``; the folder's split is kept."""
    records, skipped = [], []
    for split_dir in _subdirs(root):
        split = CIFAKE_SPLITS.get(split_dir.name.lower())
        for d in _subdirs(split_dir) if split else []:
            label = _label_of_dir(d.name)
            if label:
                records += [Record(str(p), label, source="cifake", split=split) for p in _images_under(d, skipped)]
    _report_skipped(root, skipped)
    return Manifest(records, root, "cifake")


def read_artbench(root: Path) -> Manifest:
    """AI-ArtBench: ``AI_LD_<style>``/``AI_SD_<style>`` (AI) vs ``<style>`` (human) folders,
    optionally under ``train``/``test``."""
    records, skipped = [], []
    tops = [(d, d.name.lower()) for d in _subdirs(root) if d.name.lower() in ("train", "test")] or [(root, "")]
    for top, split in tops:
        for d in _subdirs(top):
            m = ARTBENCH_RE.match(d.name)
            label, generator, style = (AI, ARTBENCH_GENERATORS[m.group(1)], m.group(2)) if m else (HUMAN, "", d.name)
            records += [Record(str(p), label, source="ai-artbench", generator=generator, style=style, split=split)
                        for p in _images_under(d, skipped)]
    _report_skipped(root, skipped)
    return Manifest(records, root, "artbench")


def read_genimage(root: Path) -> Manifest:
    """GenImage: ``root/<generator>/{train,val}/{ai,nature}/*``."""
    records, skipped = [], []
    for gen_dir in _subdirs(root):
        for split_dir in _subdirs(gen_dir):
            split = GENIMAGE_SPLITS.get(split_dir.name.lower())
            for d in _subdirs(split_dir) if split else []:
                low = d.name.lower()
                label = AI if low == "ai" else HUMAN if low == "nature" else None
                if label:
                    gen = gen_dir.name if label == AI else ""
                    records += [Record(str(p), label, source=gen_dir.name, generator=gen, split=split)
                                for p in _images_under(d, skipped)]
    _report_skipped(root, skipped)
    return Manifest(records, root, "genimage")


def _is_genimage(root: Path) -> bool:
    return any((g / s / c).is_dir() for g in _subdirs(root) for s in ("train", "val") for c in ("ai", "nature"))


def _is_cifake(root: Path) -> bool:
    return any((root / s / c).is_dir() for s in ("train", "test") for c in ("REAL", "FAKE", "real", "fake"))


def _is_artbench(root: Path) -> bool:
    tops = [root] + [root / s for s in ("train", "test") if (root / s).is_dir()]
    return any(ARTBENCH_RE.match(d.name) for t in tops for d in _subdirs(t))


def _is_imagefolder(root: Path) -> bool:
    labels = {_label_of_dir(d.name) for d in _subdirs(root)}
    return AI in labels and HUMAN in labels


# name -> (detector, reader, description). Order matters: the first match wins.
LAYOUTS: dict[str, tuple[Callable[[Path], bool], Callable[[Path], Manifest], str]] = {
    "manifest": (lambda p: p.is_file() or (p / "manifest.csv").is_file(), read_manifest_csv,
                 "a manifest CSV (path,label[,source,generator,style,split,group]) or a folder holding manifest.csv"),
    "genimage": (_is_genimage, read_genimage, "GenImage: <generator>/{train,val}/{ai,nature}/"),
    "cifake": (_is_cifake, read_cifake, "CIFAKE: {train,test}/{REAL,FAKE}/"),
    "artbench": (_is_artbench, read_artbench, "AI-ArtBench: AI_LD_<style>/, AI_SD_<style>/ and <style>/ folders"),
    "imagefolder": (_is_imagefolder, read_imagefolder,
                    "ImageFolder: {ai,fake,FAKE,1_fake}/ and {human,real,REAL,0_real}/"),
}


def read_dataset(path: str | Path, layout: str = "auto") -> Manifest:
    """Read a dataset folder or manifest CSV into a :class:`Manifest` (layout auto-detected)."""
    root = Path(path).expanduser().absolute()   # records carry absolute paths, whatever the cwd
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder; pass --data a dataset folder or manifest CSV")
    if layout != "auto":
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; known layouts: {', '.join(LAYOUTS)}")
        manifest = LAYOUTS[layout][1](root)
    else:
        for _name, (detect, reader, _desc) in LAYOUTS.items():
            if detect(root):
                manifest = reader(root)
                break
        else:
            known = "\n".join(f"  - {name}: {desc}" for name, (_, _, desc) in LAYOUTS.items())
            raise ValueError(f"{root}: not a dataset layout artcheck recognises. Known layouts:\n{known}\n"
                             "Arrange the folder like one of these, or write a manifest CSV.")
    if not len(manifest):
        raise ValueError(f"{root}: read as layout '{manifest.layout}' but found no images")
    return manifest
