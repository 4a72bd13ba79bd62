"""A float64 NumPy CLIP ViT-B/16 image tower: what the shipped graph computes, layer by layer.

The reference that every runtime path is measured against (``artcheck.detect.arithmetic``).
It reads its weights from the verified ONNX file (dequantised: ``clip_graph``), so it is the
same model as the float32 graph the detector runs and the module the lab fine-tunes; only
the arithmetic differs (float64 throughout, no activation quantisation). About a second per
image on 2 cores: for tests and probes, not for scanning.

Shapes: N images, T = 1 + 14 * 14 tokens, D = 768 wide, H = 12 heads of 64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WIDTH, HEADS, BLOCKS, PATCH = 768, 12, 12, 16
LN_EPS = 1e-5            # the graph's layer-norm epsilon (every LayerNorm has the same)
GELU_ALPHA = 1.702       # CLIP's quick_gelu: x * sigmoid(1.702 x)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS) * w + b


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class ClipReference:
    """``blocks(x)``: the residual stream after each of the 12 blocks and the projected embedding,
    for normalised float input (N, 3, 224, 224)."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.w = weights

    @classmethod
    def from_onnx(cls, path: str | Path) -> "ClipReference":
        import onnx

        from artcheck.detect.clip_graph import dequantised_weights

        return cls(dequantised_weights(onnx.load(str(path))))

    def _p(self, name: str) -> np.ndarray:
        return self.w["vision_model." + name]

    def _linear(self, x: np.ndarray, module: str, bias: bool = True) -> np.ndarray:
        y = x @ self.w[module + ".weight"]
        return y + self.w[module + ".bias"] if bias else y

    def embed(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]                                                     # x: (N, 3, 224, 224)
        g = x.shape[2] // PATCH
        patches = x.reshape(n, 3, g, PATCH, g, PATCH).transpose(0, 2, 4, 1, 3, 5).reshape(n, g * g, -1)
        kernel = self._p("embeddings.patch_embedding.weight").reshape(WIDTH, -1)   # (768, 3*16*16)
        tokens = patches @ kernel.T                                        # (N, 196, D); the conv has no bias
        cls = np.broadcast_to(self._p("embeddings.class_embedding"), (n, 1, WIDTH))
        h = np.concatenate([cls, tokens], axis=1) + self._p("embeddings.position_embedding.weight")
        return _layer_norm(h, self._p("pre_layrnorm.weight"), self._p("pre_layrnorm.bias"))   # (N, T, D)

    def attention(self, x: np.ndarray, i: int) -> np.ndarray:
        n, t, _ = x.shape
        m = f"vision_model.encoder.layers.{i}.self_attn."
        q, k, v = (self._linear(x, m + p).reshape(n, t, HEADS, -1).transpose(0, 2, 1, 3)
                   for p in ("q_proj", "k_proj", "v_proj"))               # (N, H, T, 64)
        att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])          # (N, H, T, T)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(n, t, WIDTH)
        return self._linear(y, m + "out_proj")

    def mlp(self, x: np.ndarray, i: int) -> np.ndarray:
        m = f"vision_model.encoder.layers.{i}.mlp."
        h = self._linear(x, m + "fc1")                                     # (N, T, 3072)
        return self._linear(h * _sigmoid(GELU_ALPHA * h), m + "fc2")

    def block(self, x: np.ndarray, i: int) -> np.ndarray:
        p = f"encoder.layers.{i}."
        x = x + self.attention(_layer_norm(x, self._p(p + "layer_norm1.weight"), self._p(p + "layer_norm1.bias")), i)
        return x + self.mlp(_layer_norm(x, self._p(p + "layer_norm2.weight"), self._p(p + "layer_norm2.bias")), i)

    def blocks(self, x: np.ndarray, tokens: str | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """(projected embedding (N, 512), [residual stream after block i (N, T, D) for i in 0..11]).
        ``tokens``: a subset of ``clip_graph.TOKEN_SUBSETS`` that alone goes through the blocks."""
        h = self.embed(np.asarray(x, np.float64))
        if tokens:
            from artcheck.detect.clip_graph import kept_tokens

            h = h[:, kept_tokens(tokens)]                # the layer norm in embed is per token
        outs = []
        for i in range(BLOCKS):
            h = self.block(h, i)
            outs.append(h)
        cls = _layer_norm(h[:, 0], self._p("post_layernorm.weight"), self._p("post_layernorm.bias"))
        return cls @ self.w["visual_projection.weight"], outs
