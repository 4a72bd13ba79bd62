"""Forensic features computed without any weights (NumPy only).

What up-sampling layers and generators leave behind: the radial power spectrum, the
share of high-frequency energy, and statistics of noise residuals, including the
nearest-neighbour residual of NPR (Tan et al. 2024): image - up(down(image)).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

FORENSIC_SIZE = 256          # images are centre-cropped/resized to this before analysis
RADIAL_BINS = 16


def _gray(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), np.float64) / 255.0


def radial_spectrum(gray: np.ndarray, bins: int = RADIAL_BINS) -> np.ndarray:
    """Mean log power in ``bins`` rings from DC to Nyquist, minus its mean (scale-free)."""
    h, w = gray.shape
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray - gray.mean()))) ** 2
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - h / 2, xx - w / 2) / (min(h, w) / 2)
    ring = np.minimum((r * bins).astype(int), bins - 1)
    logp = np.log(power + 1e-12)
    prof = np.bincount(ring.ravel(), weights=logp.ravel(), minlength=bins) / np.bincount(ring.ravel(), minlength=bins)
    return prof - prof.mean()


def _residual_stats(res: np.ndarray) -> list[float]:
    flat = res.reshape(-1, res.shape[-1]) if res.ndim == 3 else res.reshape(-1, 1)
    std = flat.std(0) + 1e-9
    kurt = (((flat - flat.mean(0)) / std) ** 4).mean(0)
    lag1 = np.mean(res[:, 1:] * res[:, :-1]) / (np.mean(res ** 2) + 1e-12)
    lag2 = np.mean(res[:, 2:] * res[:, :-2]) / (np.mean(res ** 2) + 1e-12)
    return [float(std.mean()), float(kurt.mean()), float(np.abs(flat).mean()), float(lag1), float(lag2)]


def forensic_features(img: Image.Image) -> np.ndarray:
    """A fixed-length vector (28 values: 16 spectrum rings, 2 energy ratios, 2 x 5 residual stats)."""
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((FORENSIC_SIZE, FORENSIC_SIZE),
                                                                Image.Resampling.BICUBIC)
    rgb = np.asarray(img, np.float64) / 255.0
    gray = _gray(img)
    spec = radial_spectrum(gray)
    power = np.abs(np.fft.fft2(gray - gray.mean())) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(gray.shape[0]), np.fft.fftfreq(gray.shape[1]), indexing="ij")
    high = float(power[np.hypot(fy, fx) > 0.25].sum() / (power.sum() + 1e-12))
    nyquist = float(power[np.abs(fy) > 0.45].mean() / (power.mean() + 1e-12))
    denoised = np.asarray(img.filter(ImageFilter.MedianFilter(3)), np.float64) / 255.0
    down_up = rgb[::2, ::2].repeat(2, 0).repeat(2, 1)[: rgb.shape[0], : rgb.shape[1]]
    feats = [*spec, high, nyquist, *_residual_stats(rgb - denoised), *_residual_stats(rgb - down_up)]
    return np.asarray(feats, np.float32)
