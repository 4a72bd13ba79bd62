"""Pictures people would rather look at than read (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from artcheck.labels import CLASSES  # noqa: E402


def plot_history(history: list[dict], path: Path) -> None:
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, style in (("train", "-"), ("val", "--")):
        ax1.plot(epochs, [h[f"{key}_loss"] for h in history], style, label=key)
        ax2.plot(epochs, [h[f"{key}_acc"] for h in history], style, label=key)
    ax1.set(title="loss", xlabel="epoch")
    ax2.set(title="accuracy", xlabel="epoch", ylim=(0, 1.02))
    for ax in (ax1, ax2):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(matrix: Sequence[Sequence[int]], path: Path, labels: Sequence[str] = CLASSES,
                   title: str = "confusion matrix") -> None:
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(labels), 1.4 + 1.2 * len(labels)))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_scores_by_source(scores: dict[str, np.ndarray], y: np.ndarray, src: np.ndarray, path: Path,
                          band: tuple[float, float] | None = None, title: str = "") -> None:
    """Left: ROC curve of each model. Right: the first model's P(ai) per image, one row per
    source (red: AI, blue: human), with its uncertain band shaded."""
    from sklearn.metrics import roc_auc_score, roc_curve

    sources = sorted(set(src), key=lambda s: (y[src == s].mean() < 0.5, s))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 1.5 + 0.38 * len(sources)),
                                   gridspec_kw={"width_ratios": [1, 1.5]})
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax1.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.2f})")
    ax1.plot([0, 1], [0, 1], ":", color="grey")
    ax1.set(xlabel="human images called AI", ylabel="AI images called AI", title="ROC", aspect="equal")
    ax1.legend(fontsize=7, loc="lower right")
    ax1.grid(alpha=0.3)
    first = next(iter(scores))
    p = scores[first]
    rng = np.random.default_rng(0)
    for i, s in enumerate(sources):
        m = src == s
        ax2.scatter(p[m], i + rng.uniform(-0.25, 0.25, m.sum()), s=9, alpha=0.7,
                    color="tab:red" if y[m].mean() > 0.5 else "tab:blue")
    if band:
        ax2.axvspan(band[0], band[1], color="grey", alpha=0.15, label="uncertain band")
        ax2.legend(fontsize=7, loc="upper right")
    ax2.axvline(0.5, color="grey", lw=0.8)
    ax2.set_yticks(range(len(sources)), [f"{s} ({'ai' if y[src == s].mean() > 0.5 else 'human'}, {np.sum(src == s)})"
                                         for s in sources], fontsize=8)
    ax2.set(xlim=(0, 1), xlabel=f"P(ai), {first}", title="per source (red: AI, blue: human)")
    ax2.invert_yaxis()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
