"""Is this image something the detector can judge at all? A cheap check before the model.

The model was trained on paintings, drawings, photographs and renders of a few hundred pixels
or more. A 16x16 icon, a flat square or pure noise is none of these: its P(ai) means nothing,
yet 0.3.0 called each of them ``human`` with P(ai) 0.00-0.01. Such inputs get ``uncertain``
with a reason naming why. The limits were set on the training pool so that no real image there
is affected (``python benchmarks/input_quality.py`` counts them: see docs/benchmarks.md).

NumPy only, on the model's own 224-px input: a few milliseconds an image.
"""

from __future__ import annotations

import numpy as np

MIN_SIDE = 48            # pixels on the short side of the stored image
MIN_CONTRAST = 2.0       # standard deviation of the grey 224-px input, 0-255 scale
MAX_ROUGHNESS = 0.9      # mean |neighbour difference| / standard deviation: ~1.15 for pixel noise


def _grey(arr: np.ndarray) -> np.ndarray:
    return arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def roughness(grey: np.ndarray) -> float:
    """How much each pixel differs from its neighbours, relative to the image's spread: natural
    images vary smoothly (0.05-0.5), independent pixel noise does not (about 1.15)."""
    spread = float(grey.std())
    if spread < 1e-6:
        return 0.0
    dx = np.abs(np.diff(grey, axis=1)).mean()
    dy = np.abs(np.diff(grey, axis=0)).mean()
    return float((dx + dy) / 2 / spread)


def out_of_scope(width: int, height: int, arr: np.ndarray) -> str | None:
    """Why the detector cannot judge this image (None when it can). ``arr``: the model's uint8
    (H, W, 3) input; ``width``, ``height``: the stored image's size."""
    if min(width, height) < MIN_SIDE:
        return (f"the image is only {width}x{height} pixels; the detector needs at least {MIN_SIDE} on the short "
                "side to judge it")
    grey = _grey(arr)
    if float(grey.std()) < MIN_CONTRAST:
        return "the image is nearly one flat colour; there is nothing for the detector to judge"
    if roughness(grey) > MAX_ROUGHNESS:
        return "the image looks like pixel noise, not a picture; the detector is not meant for it"
    return None


SCREENSHOT_FILE = "screenshot.npz"


def screenshot_reason(logit: float, threshold: float) -> str:
    return (f"the image looks like a screenshot of a program's window (screenshot score {logit:.1f} >= "
            f"{threshold:.1f}); the detector is for art, photographs and renders, not screenshots")


class ScreenshotCheck:
    """Does the image look like a screenshot of a program? A linear score on the features the
    detector's head already reads (so it costs one dot product, not another model), fitted on real
    screenshots of three desktops' manuals against the training pool (``lab.screenshots``).
    Pixel statistics cannot do this: flat colour, straight edges and few colours are as common in
    the pool's clipart, pixel art and comics as in windows (docs/benchmarks.md, "Screenshots").

    ``threshold`` is above every training-pool image's held-out score, so that no real image of
    the pool is called a screenshot."""

    def __init__(self, w: np.ndarray, b: float, threshold: float):
        self.w, self.b, self.threshold = np.asarray(w, np.float32), float(b), float(threshold)

    def logits(self, feats: np.ndarray) -> np.ndarray:
        return np.asarray(feats, np.float32) @ self.w + self.b

    def why(self, feats: np.ndarray) -> list[str | None]:
        """Per row of ``feats`` (the head's columns): the out-of-scope reason, or None."""
        return [screenshot_reason(float(z), self.threshold) if z >= self.threshold else None
                for z in self.logits(feats)]

    def save(self, path) -> None:
        np.savez(path, w=self.w, b=np.float64(self.b), threshold=np.float64(self.threshold))

    @classmethod
    def load(cls, path) -> "ScreenshotCheck":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["w"], float(z["b"]), float(z["threshold"]))
