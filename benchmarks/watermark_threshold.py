"""Bit accuracy of the SD watermark reader on images without the watermark.

    python benchmarks/watermark_threshold.py [--data ../shared/data/wild-dev ...]

On unwatermarked images the 136 decoded bits behave like coin flips; the match threshold
(artcheck.provenance.watermark.MATCH_BIT_ACCURACY) must sit well above the highest value
seen here. Prints the distribution and how many images would (wrongly) match.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import WILD_DEV  # noqa: E402

from artcheck.data import read_dataset  # noqa: E402
from artcheck.images import open_rgb  # noqa: E402
from artcheck.provenance.watermark import MATCH_BIT_ACCURACY, bit_accuracy  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="*", default=[str(WILD_DEV)])
    args = ap.parse_args()
    accs = np.array([a for d in args.data for r in read_dataset(d)
                     if (a := bit_accuracy(open_rgb(r.path))) is not None])
    print(f"{len(accs)} images: mean {accs.mean():.3f}, sd {accs.std():.3f}, 99th percentile "
          f"{np.percentile(accs, 99):.3f}, max {accs.max():.3f}; threshold {MATCH_BIT_ACCURACY}: "
          f"{int((accs >= MATCH_BIT_ACCURACY).sum())} false matches")


if __name__ == "__main__":
    main()
