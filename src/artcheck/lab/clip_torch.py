"""The shipped CLIP ViT-B/16 image tower as a trainable PyTorch module (the ``[train]`` extra).

Built from the same dequantised weights as the float32 graph the detector runs and the float64
reference (``detect.clip_graph``, ``detect.clip_reference``): one model, three arithmetics. The
lab fine-tunes it; what it learns ships as small weight files the core applies in NumPy, so the
core stays torch-free.

Shapes: N images, T = 1 + 14 * 14 tokens, D = 768, H = 12 heads of 64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from artcheck.detect.clip_reference import BLOCKS, GELU_ALPHA, HEADS, LN_EPS, PATCH, WIDTH


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(GELU_ALPHA * x)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self):
        super().__init__()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(WIDTH, eps=LN_EPS), nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(WIDTH, WIDTH) for _ in range(4))
        self.fc1, self.fc2, self.act = nn.Linear(WIDTH, 4 * WIDTH), nn.Linear(4 * WIDTH, WIDTH), QuickGELU()

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        q, k, v = (p(x).view(n, t, HEADS, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        y = nn.functional.scaled_dot_product_attention(q, k, v)            # (N, H, T, 64)
        return self.out_proj(y.transpose(1, 2).reshape(n, t, WIDTH))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.layer_norm1(x))
        return x + self.fc2(self.act(self.fc1(self.layer_norm2(x))))


class ClipVision(nn.Module):
    """``forward(x)`` -> (projected embedding (N, 512), [residual stream after each block (N, T, D)])."""

    def __init__(self):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, WIDTH, PATCH, PATCH, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(WIDTH))
        self.position_embedding = nn.Parameter(torch.zeros(1 + (224 // PATCH) ** 2, WIDTH))
        self.pre_layrnorm, self.post_layernorm = nn.LayerNorm(WIDTH, eps=LN_EPS), nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.layers = nn.ModuleList(Block() for _ in range(BLOCKS))
        self.visual_projection = nn.Linear(WIDTH, 512, bias=False)
        # token indices (0 = CLS) kept after the position embeddings; None keeps all
        # (benchmarks/token_subset.py feeds the blocks a fixed subset of the patches)
        self.keep: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        tokens = self.patch_embedding(x).flatten(2).transpose(1, 2)       # (N, 196, D)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        h = torch.cat([cls, tokens], 1) + self.position_embedding
        h = self.pre_layrnorm(h if self.keep is None else h[:, self.keep])
        outs = []
        for layer in self.layers:
            h = layer(h)
            outs.append(h)
        return self.visual_projection(self.post_layernorm(h[:, 0])), outs

    @classmethod
    def from_weights(cls, weights: dict[str, np.ndarray]) -> "ClipVision":
        """From ``clip_graph.dequantised_weights`` (linear weights stored (in, out), as the graph has them)."""
        m = cls()
        state = {}
        for name, w in weights.items():
            key = name.removeprefix("vision_model.").removeprefix("embeddings.").replace("encoder.", "")
            key = key.replace("self_attn.", "").replace("mlp.", "")
            if key in ("class_embedding", "position_embedding.weight"):
                key = key.removesuffix(".weight")
            t = torch.from_numpy(np.ascontiguousarray(w)).float()
            if key.endswith(".weight") and t.ndim == 2 and "embedding" not in key:
                t = t.T.contiguous()                                       # (in, out) -> nn.Linear's (out, in)
            state[key] = t
        missing, unexpected = m.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"the CLIP weights do not fit the module: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return m.eval()

    @classmethod
    def from_onnx(cls, path: str | Path) -> "ClipVision":
        import onnx

        from artcheck.detect.clip_graph import dequantised_weights

        return cls.from_weights(dequantised_weights(onnx.load(str(path))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The detector's layered features (``backbones.pool_layers``), differentiably."""
        return self.pool(*self(x))

    @staticmethod
    def pool(emb: torch.Tensor, blocks: list[torch.Tensor]) -> torch.Tensor:
        """The layered features from a forward pass's outputs: unit embedding, then per block unit CLS
        and unit mean patch token."""
        unit = nn.functional.normalize
        parts = [unit(emb, dim=-1)]
        for h in blocks:
            parts += [unit(h[:, 0], dim=-1), unit(h[:, 1:].mean(1), dim=-1)]
        return torch.cat(parts, 1)
