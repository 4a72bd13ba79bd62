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
