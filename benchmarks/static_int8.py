"""An integer CLIP with static activation scales: how far from the float64 reference, how fast, how chaotic?

    python benchmarks/static_int8.py [--calib 32] [--out benchmarks/results/static_int8.json]

The candidate issue 23 named for INT8 speed without the chaos: ONNX Runtime's static
quantisation (QDQ, per-channel INT8 weights, activation scales fixed from calibration images of
the training pool) of the float32 graph the detector runs, with 8-bit weights and with
``reduce_range`` (7-bit weights: the u8 x s7 products cannot saturate AVX2's 16-bit pair sums,
so the integer products are exact on every CPU kind). For each graph, beside the float32 path:

- the largest P(ai) deviation from the float64 reference on the probe images (the load-time
  probe's test: within 1e-4?);
- **sensitivity**: how far the features and P(ai) move when Gaussian noise of 1e-7 (about one
  unit in the last place of a normalised pixel, what another CPU's float kernels change) is added
  to the input. A graph whose features move by much more than that cannot give the same score on
  every CPU, whatever its head;
- forward-only speed, with the CPU printed.

Nothing ships from here.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

NOISE = 1e-7


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calib", type=int, default=32, help="calibration images from wild-dev (reserved sources excluded)")
    ap.add_argument("--out", default="benchmarks/results/static_int8.json")
    args = ap.parse_args()
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from artcheck.data import read_dataset
    from artcheck.detect import arithmetic
    from artcheck.detect.backbones import _expose_blocks, pool_layers
    from artcheck.detect.clip_graph import dequantise
    from artcheck.detect.detector import load_detector
    from artcheck.images import load_image
    from artcheck.lab.pool import is_reserved

    det = load_detector()
    spec, pre = det.backbone.spec, det.backbone.preprocess
    root = Path(__file__).resolve().parents[1]
    # calibration images from wild-dev's training sources only: the reserved ones are never calibrated on
    wild = [r for r in read_dataset(root.parent / "shared" / "data" / "wild-dev") if not is_reserved(r.source)]
    calib = np.stack([pre.to_uint8(load_image(r.path).image) for r in list(wild)[:: max(1, len(wild) // args.calib)]
                      [: args.calib]])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"pixel_values": pre.normalize(calib[i:i + 1])} for i in range(len(calib))])

        def get_next(self):
            return next(self.items, None)

    def session(model):
        _expose_blocks(model, spec)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    sessions, quant_s = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        model = onnx.load(str(det.backbone.path))
        dequantise(model)
        f32 = Path(tmp) / "f32.onnx"
        onnx.save(model, str(f32), save_as_external_data=True, location="f32.data")
        sessions["float32"] = session(onnx.load(str(f32)))
        for name, reduce in (("int8-static", False), ("int8-static-7bit", True)):
            q = Path(tmp) / f"{name}.onnx"
            t0 = time.perf_counter()
            quantize_static(str(f32), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            reduce_range=reduce, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=["MatMul"], use_external_data_format=True)
            quant_s[name] = round(time.perf_counter() - t0, 1)
            sessions[name] = session(onnx.load(str(q)))

    images = arithmetic.probe_images()
    x = pre.normalize(images)
    noisy = x + np.random.default_rng(1).normal(0, NOISE, x.shape).astype(np.float32)
    score = lambda F: det.head.proba_ai(F[:, det.columns])  # noqa: E731
    ref = score(arithmetic.reference_features(det.backbone.path, images))
    out = {"cpu": arithmetic.cpu_info(), "calibration_images": len(calib), "input_noise": NOISE, "paths": {},
           "command": "python benchmarks/static_int8.py"}
    for name, sess in sessions.items():
        def feats(inp, sess=sess):
            emb, last, *earlier = sess.run(None, {"pixel_values": inp})
            return pool_layers(emb, [*earlier, last]).astype(np.float64)

        F0, F1 = feats(x), feats(noisy)
        dev = float(np.abs(score(F0) - ref).max())
        rel = float((np.abs(F1 - F0).max(1) / np.abs(F0).max(1)).max())
        xb = np.concatenate([x] * 6)[:16]
        feats(xb)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 15:
            feats(xb)
            n += len(xb)
        row = {"p_ai_max_deviation_from_reference": dev, "within_tolerance": dev <= arithmetic.P_AI_TOLERANCE,
               "feature_change_under_noise_relative": rel,
               "p_ai_change_under_noise": float(np.abs(score(F1) - score(F0)).max()),
               "forward_only_images_per_s": round(n / (time.perf_counter() - t0), 2)}
        if name in quant_s:
            row["quantise_seconds"] = quant_s[name]
        out["paths"][name] = row
        print(name, json.dumps(row), flush=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
