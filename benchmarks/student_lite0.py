"""The fast tier's other allowed trunk: EfficientNet-Lite0 read at eight depths, against MobileNetV2.

    python benchmarks/student_lite0.py    # about 15 min here the first time (the taps are cached); results/student_lite0.json

Issue 23 (point 4) allows MobileNetV2 or EfficientNet-Lite0 as the fast tier's student. The shipped
student is MobileNetV2's per-channel mean and std at eight depths (``models.student``); Lite0 was
measured only as a pooled 1280-d feature (docs/benchmarks.md: 0.697 / 0.675 against MobileNetV2's
0.702 / 0.680). This reads Lite0 the way the student reads MobileNetV2: the mean and std of every
channel at the end of each of its seven stages (blocks 0, 2, 4, 7, 10, 14, 15) and after its head
convolution (16, 24, 40, 80, 112, 192, 320 and 1280 channels: 4,128 values), frozen ImageNet weights,
its own preprocessing (224 px, bicubic, mean 0.5 and std 0.5).

Protocol: ``student_tail.py``'s (the shipped pool, 5 folds over hold-out units, the shipped student's
recipe ``lab.fast.soft_probe`` with labels only, C = 0.003, fitted on the clean image and one processed
copy; pooled and macro, clean and after JPEG q60 + 0.75x, threshold 0.5). Rows: MobileNetV2's taps (the
shipped student), Lite0's taps, and both side by side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import write_json  # noqa: E402
from student_tail import (K, SEED, cached_views, frozen_taps, probe_taps, student_pool, tail_cache,  # noqa: E402
                          view_batches)

RESULTS = ROOT / "benchmarks" / "results" / "student_lite0.json"
LITE0_TAPS = (0, 2, 4, 7, 10, 14, 15)      # the last block of each stage; the head convolution is tapped too


def lite0_taps(paths: list[str], folder: Path) -> dict[str, np.ndarray]:
    """view -> (N, 4128) Lite0 tap statistics of every image (cached as .npy in ``folder``)."""
    import torch

    from artcheck.detect.backbones import get_spec
    from artcheck.lab.pool import _robust, processed_copy
    from artcheck.models import create_model
    from artcheck.models.student import channel_stats

    fns = {"clean": None, "aug1": processed_copy(1), "robust": _robust}
    pre = get_spec("efficientnet-lite0").preprocess
    net = create_model("efficientnet-lite0-transfer", pretrained=True).features.net.eval()
    out = {}
    for view, fn in fns.items():
        f = folder / f"lite0-taps-{view}.npy"
        if not f.exists():
            rows = []
            for x in view_batches(paths, fn, pre, f"EfficientNet-Lite0 taps, {view}"):
                parts = []
                with torch.no_grad():
                    x = net._swish(net._bn0(net._conv_stem(x)))
                    for i, block in enumerate(net._blocks):
                        x = block(x, drop_connect_rate=0)
                        if i in LITE0_TAPS:
                            parts += channel_stats(x)
                    parts += channel_stats(net._swish(net._bn1(net._conv_head(x))))
                rows.append(torch.cat(parts, 1).numpy())
            folder.mkdir(parents=True, exist_ok=True)
            np.save(f, np.concatenate(rows))
        out[view] = np.load(f)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=None, help="folder for the cached taps (default: artcheck's cache)")
    args = ap.parse_args()

    from artcheck.detect.arithmetic import cpu_info

    paths, y, src, folds, _ = student_pool()
    folder = tail_cache(args.cache)
    views = cached_views(paths, folder)
    mobilenet = {v: frozen_taps(views, v) for v in views}
    lite0 = lite0_taps(paths, folder)
    both = {v: np.concatenate([mobilenet[v], lite0[v]], 1) for v in views}
    rows = [probe_taps("MobileNetV2 taps (the shipped student)", mobilenet, folds, y, src),
            probe_taps("EfficientNet-Lite0 taps", lite0, folds, y, src),
            probe_taps("MobileNetV2 + EfficientNet-Lite0 taps", both, folds, y, src)]
    write_json(RESULTS, {"cpu": cpu_info(), "n": len(y), "k": K, "seed": SEED, "rows": rows,
                         "command": "python benchmarks/student_lite0.py"})


if __name__ == "__main__":
    main()
