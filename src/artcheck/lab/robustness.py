"""Robustness sweeps: each perturbation at each strength -> balanced accuracy, AUC, human FPR.

Works for anything that maps uint8 arrays at its input size to P(ai): a trained run's
model (``predict_arrays``) or the shipped detector's model score (provenance is left
out, since perturbing pixels does not touch metadata). Images are decoded once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from artcheck.data.manifest import Manifest
from artcheck.images import ImageError, load_image
from artcheck.lab import perturb
from artcheck.lab.evaluate import binary_metrics
from artcheck.progress import track

DEFAULT_SPEC: dict[str, list[float]] = {
    "jpeg": [90, 70, 50, 30], "webp": [80, 50], "resize": [0.75, 0.5, 0.25], "blur": [0.5, 1.0, 2.0],
    "noise": [2, 5, 10], "grayscale": [1.0], "saturation": [0.5, 1.5], "crop": [0.75, 0.5],
    "text": [0.3, 0.6], "logo": [0.15, 0.3], "invisible_watermark": [1.0],
    "region_blur": [0.05, 0.2], "clone": [0.05, 0.2], "fill": [0.05, 0.2],
}


def parse_spec(text: str | None) -> dict[str, list[float]]:
    """``"jpeg=90,50;blur=1,2"`` -> {"jpeg": [90, 50], "blur": [1, 2]}; None or "" -> DEFAULT_SPEC."""
    if not text:
        return DEFAULT_SPEC
    spec = {}
    for part in text.split(";"):
        name, _, values = part.partition("=")
        name = name.strip()
        if name not in perturb.PERTURBATIONS:
            raise ValueError(f"unknown perturbation {name!r} in --robustness; known: {', '.join(perturb.PERTURBATIONS)}")
        try:
            spec[name] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError as e:
            raise ValueError(f"--robustness {part!r}: strengths must be numbers, e.g. jpeg=90,50") from e
        if not spec[name]:
            raise ValueError(f"--robustness {part!r}: give at least one strength, e.g. {name}=1")
    return spec


def sweep(score: Callable[[list[Image.Image]], np.ndarray], manifest: Manifest,
          spec: dict[str, list[float]] | None = None, seed: int = 0, batch_size: int = 32,
          progress: bool | None = None) -> dict:
    """Metrics for the clean images and for every (perturbation, strength)."""
    spec = spec or DEFAULT_SPEC
    images, y, errors = [], [], []
    for r in manifest:
        try:
            images.append(load_image(r.path).image)
            y.append(r.target)
        except ImageError as e:
            errors.append({"path": r.path, "reason": e.reason})
    y = np.asarray(y)

    def run(fn: Callable[[Image.Image, int], Image.Image]) -> dict:
        p = np.concatenate([score([fn(img, i + k) for k, img in enumerate(images[i:i + batch_size])])
                            for i in range(0, len(images), batch_size)])
        m = binary_metrics(y, p)
        return {k: m[k] for k in ("balanced_accuracy", "roc_auc", "human_false_positive_rate", "accuracy")}

    jobs = [(name, s) for name, strengths in spec.items() for s in strengths]
    out = {"n": len(images), "skipped": errors, "clean": run(lambda img, i: img), "perturbations": {}}
    for name, s in track(jobs, "Robustness", enabled=progress):
        out["perturbations"].setdefault(name, []).append(
            {"strength": s, **run(lambda img, i, name=name, s=s: perturb.apply(img, name, s, seed=seed + i))})
    return out


def plot(result: dict, path: Path, title: str = "robustness") -> None:
    from artcheck.lab.plots import plt

    names = list(result["perturbations"])
    cols = min(4, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        pts = result["perturbations"][name]
        xs = [p["strength"] for p in pts]
        for key, style, label in (("balanced_accuracy", "o-", "bal. acc"), ("roc_auc", "s--", "AUC"),
                                  ("human_false_positive_rate", "^:", "human FPR")):
            ax.plot(xs, [p[key] if p[key] is not None else np.nan for p in pts], style, label=label)
            clean = result["clean"][key]
            if clean is not None:
                ax.axhline(clean, color=ax.lines[-1].get_color(), alpha=0.25)
        ax.set(title=name, ylim=(0, 1.02), xlabel="strength")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(f"{title} (faint lines: clean)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(result: dict, out_dir: Path, title: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "robustness.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out_dir / "robustness.png", title)
    return out_dir
