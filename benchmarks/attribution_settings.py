"""Family attribution: which regularisation and feature set, held out by source (issue 27).

    python benchmarks/attribution_settings.py      # about 5 minutes here once the features are cached; benchmarks/results/attribution_settings.json

The same 5 folds over hold-out units as ``artcheck build-attribution`` (lab.attribution.measure
without its leave-one-family-out part), on the shipped pool's named AI images. Rows: the
regularisation C, and the detector's full feature set against the early blocks only (low-level
traces rather than content) and the CLS tokens only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import shipped_training_data, write_json  # noqa: E402

from artcheck.lab.attribution import attribution_pool, measure  # noqa: E402
from artcheck.lab.pool import FEATURE_SETS, _block, columns  # noqa: E402

SETS = {"CLS + mean patch of all blocks (the detector's)": FEATURE_SETS["CLS + mean patch of all blocks"],
        "CLS + mean patch of blocks 0..5": [_block(i, p) for i in range(6) for p in ("cls", "mean")],
        "mean patch of all blocks": FEATURE_SETS["mean patch of all blocks"]}
ROWS = [(name, c) for name in SETS for c in ((0.001, 0.01, 0.1) if name.startswith("CLS + mean patch of all") else (0.01,))]

if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    X, fam, src, units = attribution_pool(shipped_training_data())
    out = {}
    for name, c in ROWS:
        m = measure(X[:, columns(SETS[name])], fam, src, units, progress=False, C=c, lofo=False)
        out[f"{name}, C={c:g}"] = {k: m[k] for k in ("macro_top1", "macro_top3", "pooled_top1", "pooled_top3", "ece_top")}
        print(f"| {name} | {c:g} | {m['macro_top1']:.3f} | {m['macro_top3']:.3f} | {m['pooled_top1']:.3f} | "
              f"{m['pooled_top3']:.3f} | {m['ece_top']:.3f} |", flush=True)
    write_json(ROOT / "benchmarks" / "results" / "attribution_settings.json",
               {"command": "python benchmarks/attribution_settings.py", "rows": out})
