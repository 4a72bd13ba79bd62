"""Which pixels made the decision: Grad-CAM for convolutional models, occlusion for anything.

- :func:`gradcam` (Selvaraju et al. 2017) with our own few lines instead of a dependency:
  every torch model here is ``head(features(x))``, so the map is the ReLU of the feature
  maps weighted by the mean gradient of the AI score over each map. The AI score is the
  logit margin ``ai - human`` for two outputs, the ``ai`` logit otherwise.
- :func:`occlusion` works for any ``score(images) -> P(ai)``: the shipped detector (ONNX
  backbone + probe), sklearn heads, torch models. Each cell of a grid is replaced by a
  heavily blurred copy of itself (which removes the high-frequency traces generators leave
  while keeping the colours, so the image stays in distribution) and the drop in P(ai) is
  that cell's heat. Cost: ``grid**2 + 1`` forward passes.

Heat maps are arrays in [0, 1] at the image's size; :func:`overlay` draws one over the
image with the scores in the corner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from artcheck.labels import AI, HUMAN

Score = Callable[[list[Image.Image]], np.ndarray]
METHODS = ("auto", "gradcam", "occlusion")
DEFAULT_GRID = 8
MAX_SIDE = 768           # explanations are drawn at most this many pixels on a side
MIN_SIDE = 256           # and small images are enlarged (nearest neighbour) to at least this


@dataclass
class Explanation:
    heat: np.ndarray     # (H, W) in [0, 1], at the image's size
    p_ai: float
    method: str
    model: str

    def caption(self) -> str:
        verdict = AI if self.p_ai >= 0.5 else HUMAN
        return f"P(ai) = {self.p_ai:.2f} ({verdict})  ·  {self.method}  ·  {self.model}"


def _normalise(heat: np.ndarray) -> np.ndarray:
    heat = np.maximum(np.nan_to_num(heat.astype(np.float64)), 0)
    top = heat.max()
    return heat / top if top > 0 else heat


def _resize_heat(heat: np.ndarray, size: tuple[int, int], smooth: bool = True) -> np.ndarray:
    resample = Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(heat.astype(np.float32), "F").resize(size, resample), np.float64)


def gradcam(model: Any, img: Image.Image) -> tuple[np.ndarray, float]:
    """(heat at the image's size in [0, 1], P(ai)) for a torch model built as ``head(features(x))``."""
    import torch

    if not (hasattr(model, "features") and hasattr(model, "head")):
        raise ValueError(f"Grad-CAM needs a convolutional model with .features and .head; "
                         f"{type(model).__name__} has not: use --method occlusion")
    model.eval()
    x = torch.from_numpy(model.preprocess.normalize(model.preprocess.to_uint8(img)[None]))
    with torch.no_grad():
        feats = model.features(x)
    feats = feats.detach().requires_grad_(True)   # works for frozen backbones too
    logits = model.head(feats)
    if model.num_outputs == 1:
        score = logits[0, 0]
    else:
        ai = model.classes.index(AI)
        score = logits[0, ai] - (logits[0, model.classes.index(HUMAN)] if model.num_outputs == 2 else 0)
    score.backward()
    weights = feats.grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * feats).sum(1))[0].detach().numpy()
    p = float(model.proba_ai(logits.detach())[0])
    return _normalise(_resize_heat(cam, img.size)), p


def occlusion(score: Score, img: Image.Image, grid: int = DEFAULT_GRID, batch_size: int = 16
              ) -> tuple[np.ndarray, float]:
    """(heat at the image's size in [0, 1], P(ai)): the drop in P(ai) when each grid cell is blurred away."""
    if grid < 2:
        raise ValueError(f"grid must be at least 2, got {grid}")
    w, h = img.size
    blurred = img.filter(ImageFilter.GaussianBlur(max(2.0, min(w, h) / (2 * grid))))
    xs, ys = np.linspace(0, w, grid + 1).round().astype(int), np.linspace(0, h, grid + 1).round().astype(int)
    variants, cells = [img], []
    for i in range(grid):
        for j in range(grid):
            box = (int(xs[j]), int(ys[i]), int(xs[j + 1]), int(ys[i + 1]))
            v = img.copy()
            v.paste(blurred.crop(box), box[:2])
            variants.append(v)
            cells.append((i, j))
    p = np.concatenate([np.asarray(score(variants[k:k + batch_size]), np.float64)
                        for k in range(0, len(variants), batch_size)])
    drop = np.zeros((grid, grid))
    for (i, j), pk in zip(cells, p[1:]):
        drop[i, j] = p[0] - pk
    return _normalise(_resize_heat(drop, img.size, smooth=False)), float(p[0])


def overlay(img: Image.Image, heat: np.ndarray, caption: str, alpha: float = 0.5) -> Image.Image:
    """The image with the heat map blended over it (inferno colours), the whole caption at the top
    (wrapped) and a colour legend in a band below the picture."""
    from matplotlib import colormaps

    scale = min(1.0, MAX_SIDE / max(img.size))
    if max(img.size) < MIN_SIDE:
        scale = MIN_SIDE / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    base = img.convert("RGB").resize(size, resample) if scale != 1 else img.convert("RGB")
    heat = _resize_heat(heat, size) if heat.shape != (size[1], size[0]) else heat
    colours = colormaps["inferno"](heat)[..., :3] * 255
    # a spotlight: cold regions are dimmed, hot ones keep their brightness and take the colour
    light = (0.3 + 0.7 * np.power(heat, 0.7))[..., None]
    a = (alpha * heat)[..., None]
    mixed = np.clip(np.asarray(base, np.float64) * light * (1 - a) + colours * a, 0, 255).astype(np.uint8)
    picture = Image.fromarray(mixed, "RGB")
    font = ImageFont.load_default(size=max(10, size[0] // 36))
    legend_h = max(26, size[0] // 14)
    out = Image.new("RGB", (size[0], size[1] + legend_h), (255, 255, 255))
    out.paste(picture, (0, 0))
    draw = ImageDraw.Draw(out, "RGBA")
    lines = _wrap(draw, caption, font, size[0] - 12)          # the whole caption, on as many lines as it needs
    y = 4
    for line in lines:
        box = draw.textbbox((6, y), line, font=font)
        draw.rectangle((0, y - 4 if y == 4 else y, box[2] + 6, box[3] + 4), fill=(0, 0, 0, 170))
        draw.text((6, y), line, font=font, fill=(255, 255, 255, 255))
        y = box[3] + 4
    _legend(draw, out.width, size[1], legend_h, font)
    return out


def _wrap(draw, text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def _legend(draw, width: int, top: int, height: int, font) -> None:
    """The colour scale under the picture: what the heat means, from no effect to the most."""
    from matplotlib import colormaps

    cmap = colormaps["inferno"]
    left, right = 6, width - 6
    bar_top, bar_bottom = top + 3, top + max(8, height // 3)
    for x in range(left, right):
        r, g, b, _ = cmap((x - left) / max(1, right - left - 1))
        draw.line((x, bar_top, x, bar_bottom), fill=(int(r * 255), int(g * 255), int(b * 255)))
    small = font.font_variant(size=max(9, int(font.size * 0.8))) if hasattr(font, "font_variant") else font
    draw.text((left, bar_bottom + 1), "no effect", font=small, fill=(40, 40, 40))
    label = "moved P(ai) most"
    draw.text((right - draw.textlength(label, font=small), bar_bottom + 1), label, font=small, fill=(40, 40, 40))


def model_score(model: Any) -> Score:
    """P(ai) for PIL images from a trained run's model."""
    return lambda imgs: model.predict_arrays(np.stack([model.preprocess.to_uint8(i) for i in imgs]))


def explain(model: Any, img: Image.Image, method: str = "auto", grid: int = DEFAULT_GRID,
            name: str = "") -> Explanation:
    """Grad-CAM for torch CNNs (``auto``), occlusion for everything else (detectors included)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    is_torch = hasattr(model, "features") and hasattr(model, "head") and hasattr(model, "preprocess")
    if method == "gradcam" or (method == "auto" and is_torch):
        heat, p = gradcam(model, img)
        return Explanation(heat, p, "grad-cam", name)
    score = model.score if hasattr(model, "score") else model_score(model)
    heat, p = occlusion(score, img, grid)
    return Explanation(heat, p, f"occlusion {grid}x{grid}", name)


def load_explainable(target: str | Path) -> tuple[Any, str]:
    """A run directory, ``default`` or a detector folder -> (model with a score, its name)."""
    from artcheck.detect.detector import DETECTOR_FILE, load_detector
    from artcheck.lab import runs

    if str(target) == "default" or (Path(target) / DETECTOR_FILE).is_file():
        det = load_detector(str(target), provenance=False)
        return det, det.model_info["name"]
    model = runs.load_model(target)
    return model, model.registry_name


def write_explanation(img: Image.Image, e: Explanation, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    overlay(img, e.heat, e.caption()).save(path)
    return path
