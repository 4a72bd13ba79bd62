"""Where one check's time goes, stage by stage, one image at a time on one thread.

    python benchmarks/check_stages.py [--px 1024] [--n 40] [--model fast]

The stages of ``Detector.check_many``'s worker and its model call, timed apart on N generated
JPEGs of the given long side: read and decode (``images.load_image``), each provenance reader,
the detector's training normalisation, its resize, and the forward pass. The CPU's model and
flags are printed with the figures (speeds differ between CPUs; scores do not).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from artcheck.data.synthetic import make_image
from artcheck.detect.arithmetic import cpu_info
from artcheck.detect.detector import load_detector
from artcheck.images import load_image
from artcheck.provenance.c2pa_reader import read_c2pa_evidence
from artcheck.provenance.metadata import read_metadata_evidence
from artcheck.provenance.watermark import read_watermark_evidence


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--px", type=int, default=1024, help="long side of the generated JPEGs (4:3)")
    ap.add_argument("--n", type=int, default=40, help="images")
    ap.add_argument("--model", default="fast", help="default, fast or a detector folder")
    args = ap.parse_args()
    print("CPU:", json.dumps(cpu_info()), flush=True)
    det = load_detector(args.model)
    pre = det.preprocess
    norm = getattr(pre, "normalisation", None)
    inner = getattr(pre, "inner", pre)
    spent: dict[str, float] = {}

    def timed(name, fn, *a):
        t = time.perf_counter()
        out = fn(*a)
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
        return out

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            path = Path(tmp) / f"{i}.jpg"
            make_image("ai" if i % 2 else "human", i, size=256).resize((args.px, args.px * 3 // 4)).save(path, quality=90)
            loaded = timed("read and decode", load_image, str(path))
            timed("C2PA", read_c2pa_evidence, loaded)
            timed("generation metadata", read_metadata_evidence, loaded)
            timed("SD watermark", read_watermark_evidence, loaded)
            img = timed("training normalisation", norm, loaded.image) if norm else loaded.image
            arr = timed("resize", inner.to_uint8, img)
            timed("forward", det._p_ai, arr[None])
    total = sum(spent.values())
    for name, s in spent.items():
        print(f"{name:24s} {1000 * s / args.n:7.2f} ms  {s / total:5.1%}")
    print(f"{'total':24s} {1000 * total / args.n:7.2f} ms")


if __name__ == "__main__":
    main()
