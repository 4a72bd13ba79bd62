"""An integer CLIP with static activation scales: how far from the float64 reference, how fast?

    python benchmarks/static_int8.py [--calib 32]

The candidate issue 23 named for INT8 speed without the chaos: ONNX Runtime's static
quantisation (QDQ, per-channel INT8 weights, activation scales fixed from calibration images of
the training pool) of the float32 graph the detector runs. Reports its largest P(ai) deviation
from the float64 reference on the probe images (the load-time probe's test: within 1e-4?), and
forward-only speed beside the float32 path, with the CPU printed. Nothing ships from here.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calib", type=int, default=32, help="calibration images from wild-dev")
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

    det = load_detector()
    spec, pre = det.backbone.spec, det.backbone.preprocess
    root = Path(__file__).resolve().parents[1]
    wild = read_dataset(root.parent / "shared" / "data" / "wild-dev")
    calib = np.stack([pre.to_uint8(load_image(r.path).image) for r in list(wild)[:: max(1, len(wild) // args.calib)]
                      [: args.calib]])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"pixel_values": pre.normalize(calib[i:i + 1])} for i in range(len(calib))])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        model = onnx.load(str(det.backbone.path))
        dequantise(model)
        f32 = Path(tmp) / "f32.onnx"
        onnx.save(model, str(f32), save_as_external_data=True, location="f32.data")
        q = Path(tmp) / "int8-static.onnx"
        t0 = time.perf_counter()
        quantize_static(str(f32), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["MatMul"], use_external_data_format=True)
        quant_s = time.perf_counter() - t0
        qm = onnx.load(str(q))
        _expose_blocks(qm, spec)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        sess = ort.InferenceSession(qm.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    images = arithmetic.probe_images()

    def feats(batch):
        emb, last, *earlier = sess.run(None, {"pixel_values": pre.normalize(batch)})
        return pool_layers(emb, [*earlier, last]).astype(np.float64)

    score = lambda F: det.head.proba_ai(F[:, det.columns])  # noqa: E731
    ref = score(arithmetic.reference_features(det.backbone.path, images))
    dev = float(np.abs(score(feats(images)) - ref).max())
    x = np.concatenate([images] * 6)[:16]
    feats(x)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 15:
        feats(x)
        n += len(x)
    speed = n / (time.perf_counter() - t0)
    out = {"cpu": arithmetic.cpu_info(), "calibration_images": len(calib), "quantise_seconds": round(quant_s, 1),
           "p_ai_max_deviation_from_reference": dev, "within_tolerance": dev <= arithmetic.P_AI_TOLERANCE,
           "forward_only_images_per_s": round(speed, 2), "command": "python benchmarks/static_int8.py"}
    (root / "benchmarks" / "results" / "static_int8.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
