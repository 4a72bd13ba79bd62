"""Heads on individual patch tokens (issue 24, point 3): where an AI image's traces are local
(a hand, a texture, an edge), the mean over 196 tokens that the frozen probe sees can wash them
out; these heads look at each token. Needs the ``[train]`` extra (torch).

Input: ``lab.tokens`` caches, (N, B, 196, 768) float16, the patch tokens after B blocks.

- ``attention``: per block, LayerNorm, a projection to ``dim`` and an attention pooling over the
  tokens (a learned scorer, softmax over tokens, weighted mean); the B pooled vectors, dropout and
  one logistic output.
- ``topk``: per block, LayerNorm and a linear score per token; the mean of the top ``frac`` of the
  scores; a linear mix of the B block scores. A local trace anywhere in the image raises it.

``fit_patch_head`` trains one on rows of one or more views (the same rows, their processed
copies) with per-image weights (source-balanced and class-balanced, as the probes are).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class AttentionPool(nn.Module):
    def __init__(self, blocks: int, width: int = 768, dim: int = 32, dropout: float = 0.2):
        super().__init__()
        self.norm = nn.ModuleList(nn.LayerNorm(width) for _ in range(blocks))
        self.proj = nn.ModuleList(nn.Linear(width, dim) for _ in range(blocks))
        self.score = nn.ModuleList(nn.Sequential(nn.Tanh(), nn.Linear(dim, 1)) for _ in range(blocks))
        self.drop, self.out = nn.Dropout(dropout), nn.Linear(blocks * dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:           # x: (N, B, T, D) -> logits (N,)
        pooled = []
        for b in range(x.shape[1]):
            h = self.proj[b](self.norm[b](x[:, b]))                 # (N, T, dim)
            a = torch.softmax(self.score[b](h).squeeze(-1), dim=1)  # (N, T)
            pooled.append((a.unsqueeze(-1) * h).sum(1))
        return self.out(self.drop(torch.cat(pooled, 1))).squeeze(-1)


class TopKPool(nn.Module):
    def __init__(self, blocks: int, width: int = 768, frac: float = 0.1):
        super().__init__()
        self.norm = nn.ModuleList(nn.LayerNorm(width) for _ in range(blocks))
        self.score = nn.ModuleList(nn.Linear(width, 1) for _ in range(blocks))
        self.frac, self.out = frac, nn.Linear(blocks, 1)
        nn.init.constant_(self.out.weight, 1.0)           # start as the plain sum of the block scores
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = max(1, round(self.frac * x.shape[2]))
        per_block = [self.score[b](self.norm[b](x[:, b])).squeeze(-1).topk(k, dim=1).values.mean(1)
                     for b in range(x.shape[1])]
        return self.out(torch.stack(per_block, 1)).squeeze(-1)


HEADS = {"attention": AttentionPool, "topk": TopKPool}


def fit_patch_head(kind: str, arrays: list[np.ndarray], rows: np.ndarray, y: np.ndarray, weights: np.ndarray,
                   epochs: int = 8, lr: float = 1e-3, weight_decay: float = 0.05, batch: int = 64,
                   seed: int = 0, log=None) -> nn.Module:
    """A ``kind`` head trained on ``arrays[v][rows]`` for every view v (same labels ``y[rows]``,
    same ``weights``); returns it in eval mode. ``log(epoch, loss, seconds)`` after each epoch."""
    import time

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = HEADS[kind](blocks=arrays[0].shape[1], width=arrays[0].shape[-1])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    samples = [(v, int(r)) for v in range(len(arrays)) for r in rows]
    steps = epochs * ((len(samples) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    w_all = torch.from_numpy(weights.astype(np.float32))
    y_all = torch.from_numpy(y.astype(np.float32))
    model.train()
    for epoch in range(epochs):
        t0, total = time.perf_counter(), 0.0
        order = rng.permutation(len(samples))
        for s in range(0, len(order), batch):
            pick = [samples[i] for i in order[s:s + batch]]
            # read each view's rows in index order (memory-mapped arrays read faster in order)
            x = torch.from_numpy(np.stack([arrays[v][r] for v, r in pick]).astype(np.float32))
            idx = torch.tensor([r for _, r in pick])
            loss = (nn.functional.binary_cross_entropy_with_logits(model(x), y_all[idx], reduction="none")
                    * w_all[idx]).sum() / w_all[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(pick)
        if log:
            log(epoch, total / len(samples), time.perf_counter() - t0)
    return model.eval()


def patch_logits(model: nn.Module, array: np.ndarray, rows: np.ndarray, batch: int = 128) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for s in range(0, len(rows), batch):
            out.append(model(torch.from_numpy(array[rows[s:s + batch]].astype(np.float32))).numpy())
    return np.concatenate(out) if out else np.zeros(0)
