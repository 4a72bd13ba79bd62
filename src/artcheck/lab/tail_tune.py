"""Training the last four blocks of the CLIP tower (issue 24, point 3): the tail that a frozen
probe cannot change. Needs the ``[train]`` extra (torch).

The first eight blocks stay frozen, so their output is read from a ``lab.tokens`` cache (the patch
tokens after block index 7) instead of being recomputed every epoch; the CLS token of that block is
stored only as a unit vector (``pooled``), so it is restored at the norm it has there on real
images (``CLS_NORM``, measured: 4.51 +/- 0.12 over 24 pool images; its direction at cosine 0.9998
with a float32 pass). Three ways to train the tail, each a small change to the same module:

- ``blocks``: every weight of blocks 8-11 trained (learning rate ``LR_TAIL``).
- ``lora``: each linear layer of blocks 8-11 (q, k, v, out, fc1, fc2) frozen, plus a trainable
  rank-``RANK`` update ``B @ A`` (B starts at zero, so training starts from the frozen tower).
- ``effort``: as in Effort (Yan et al., 2024): each weight split by SVD into its principal part
  (frozen) and its ``RANK`` smallest singular directions (trainable), with a penalty that keeps the
  trained directions orthonormal; the principal, pretrained knowledge is left untouched.

Each adds the same head: unit CLS (after the final LayerNorm) and unit mean patch of block 11,
scaled to unit variance per dimension, one logistic output. Training keeps ``KEEP_TOKENS`` random
patch tokens per image (the positions are already in them), which cuts the cost about threefold;
scoring uses all 196.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn

from artcheck.lab.clip_torch import WIDTH, ClipVision

START = 7                  # the cached block whose output is the tail's input (lab.tokens.BLOCKS[1])
CLS_NORM = 4.51
RANK, KEEP_TOKENS = 8, 48
LR_HEAD, LR_TAIL = 1e-3, {"blocks": 1e-5, "lora": 2e-4, "effort": 1e-4}
ORTHO = 1e-2               # weight of Effort's orthonormality penalty


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int = RANK, alpha: float = 2.0 * RANK):
        super().__init__()
        self.base, self.scale = base, alpha / rank
        self.A = nn.Parameter(torch.randn(rank, base.in_features) / base.in_features ** 0.5)
        self.B = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.A.t() @ self.B.t()) * self.scale


class SVDResidual(nn.Module):
    """W = W_principal (frozen) + U_r diag(S_r) V_r (trainable, the ``rank`` smallest directions)."""

    def __init__(self, base: nn.Linear, rank: int = RANK):
        super().__init__()
        u, s, vh = torch.linalg.svd(base.weight.detach().double(), full_matrices=False)
        k = len(s) - rank
        self.register_buffer("principal", (u[:, :k] * s[:k] @ vh[:k]).float())
        self.U, self.S, self.V = (nn.Parameter(t.float().clone()) for t in (u[:, k:], s[k:], vh[k:]))
        self.register_buffer("bias", base.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.principal + (self.U * self.S) @ self.V, self.bias)

    def ortho_penalty(self) -> torch.Tensor:
        eye = torch.eye(self.S.shape[0])
        return ((self.U.t() @ self.U - eye) ** 2).sum() + ((self.V @ self.V.t() - eye) ** 2).sum()


LINEARS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


class Tail(nn.Module):
    def __init__(self, clip: ClipVision, mode: str):
        super().__init__()
        if mode not in LR_TAIL:
            raise ValueError(f"unknown tail mode {mode!r}; expected one of {sorted(LR_TAIL)}")
        self.mode = mode
        self.layers = copy.deepcopy(clip.layers[START + 1:])
        self.post = copy.deepcopy(clip.post_layernorm)
        for p in list(self.layers.parameters()) + list(self.post.parameters()):
            p.requires_grad = mode == "blocks"
        if mode != "blocks":
            wrap = LoRALinear if mode == "lora" else SVDResidual
            for block in self.layers:
                for name in LINEARS:
                    setattr(block, name, wrap(getattr(block, name)))
        self.head = nn.Linear(2 * WIDTH, 1)
        nn.init.zeros_(self.head.weight)

    def forward(self, cls: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        h = torch.cat([cls[:, None], patches], 1)
        for layer in self.layers:
            h = layer(h)
        unit = nn.functional.normalize
        z = torch.cat([unit(self.post(h[:, 0]), dim=-1), unit(h[:, 1:].mean(1), dim=-1)], 1) * WIDTH ** 0.5
        return self.head(z).squeeze(-1)

    def penalty(self) -> torch.Tensor:
        mods = [m for m in self.modules() if isinstance(m, SVDResidual)]
        return sum((m.ortho_penalty() for m in mods), torch.zeros(())) * ORTHO if mods else torch.zeros(())


def _batch(tokens, pooled, rows, cls_cols, keep: int | None, rng) -> tuple[torch.Tensor, torch.Tensor]:
    patches = np.stack([tokens[r, 1] for r in rows]).astype(np.float32)          # block index 7
    if keep is not None:
        pick = np.stack([np.sort(rng.choice(patches.shape[1], keep, replace=False)) for _ in rows])
        patches = np.take_along_axis(patches, pick[:, :, None], 1)
    cls = np.stack([pooled[r, cls_cols] for r in rows]).astype(np.float32) * CLS_NORM
    return torch.from_numpy(cls), torch.from_numpy(patches)


def fit_tail(clip: ClipVision, mode: str, views: list, rows: np.ndarray, y: np.ndarray, weights: np.ndarray,
             cls_cols: np.ndarray, epochs: int = 2, batch: int = 32, seed: int = 0, log=None) -> Tail:
    """Train a ``mode`` tail on ``rows``; ``views``: [(tokens, pooled)] of the same images (clean,
    processed copies), one drawn at random per image and epoch. ``log(epoch, loss, seconds)``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Tail(clip, mode)
    tail_params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    opt = torch.optim.AdamW([{"params": model.head.parameters(), "lr": LR_HEAD},
                             {"params": tail_params, "lr": LR_TAIL[mode]}], weight_decay=0.01)
    steps = epochs * ((len(rows) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[LR_HEAD, LR_TAIL[mode]], total_steps=steps,
                                                pct_start=0.1)
    w_all, y_all = torch.from_numpy(weights.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    model.train()
    for epoch in range(epochs):
        t0, total = time.perf_counter(), 0.0
        order = rng.permutation(rows)
        which = rng.integers(0, len(views), len(order))
        for s in range(0, len(order), batch):
            part, vs = order[s:s + batch], which[s:s + batch]
            pieces = [_batch(*views[v], part[vs == v], cls_cols, KEEP_TOKENS, rng) for v in range(len(views))
                      if (vs == v).any()]
            idx = torch.from_numpy(np.concatenate([part[vs == v] for v in range(len(views)) if (vs == v).any()]))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = torch.cat([model(c, p) for c, p in pieces]).float()
            loss = (nn.functional.binary_cross_entropy_with_logits(logits, y_all[idx], reduction="none")
                    * w_all[idx]).sum() / w_all[idx].sum() + model.penalty()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(part)
        if log:
            log(epoch, total / len(rows), time.perf_counter() - t0)
    return model.eval()


def tail_logits(model: Tail, tokens, pooled, rows: np.ndarray, cls_cols: np.ndarray, batch: int = 32) -> np.ndarray:
    out = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for s in range(0, len(rows), batch):
            out.append(model(*_batch(tokens, pooled, rows[s:s + batch], cls_cols, None, None)).float().numpy())
    return np.concatenate(out) if out else np.zeros(0)
