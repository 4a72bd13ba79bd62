"""Save the tiny random generative models the tests build (a Stable Diffusion pipeline, a BLIP
captioner) to folders, so `generate`, `caption`, `pair` and `train --model vlm-lora` can be tried
offline from the command line. Random weights: they exercise the code path, they make noise.

    python scripts/tiny_generative_models.py --out tiny-models   # tiny-models/sd, tiny-models/blip
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tiny_generative import build_tiny_blip, build_tiny_sd  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tiny-models", help="folder for sd/ and blip/")
    args = ap.parse_args()
    out = Path(args.out)
    build_tiny_sd(out / "sd")
    build_tiny_blip(out / "blip")
    print(f"wrote {out}/sd (text-to-image, 32 px) and {out}/blip (captioner / VLM base)")


if __name__ == "__main__":
    main()
