"""Family attribution: do the fast tier's MobileNetV2 taps add what CLIP's features miss? (issue 27)

    python benchmarks/attribution_student_taps.py    # a few minutes with the features cached; results/attribution_student_taps.json

ImageNet CNN statistics at eight depths (the fast tier's student features, ``models.student``) keep
more of an image's texture than CLIP's tokens do, where a generator's traces could be. The shipped
family head's recipe (``lab.attribution.head_fit``) on them alone, and their held-out logits added to
the shipped head's with a weight, held out by source as ``artcheck build-attribution`` measures
(macro over families with at least 3 sources).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from attribution_alternatives import detector_columns, row  # noqa: E402
from common import shipped_training_data, write_json  # noqa: E402

from artcheck.lab.attribution import attribution_pool, attribution_rows, head_fit, heldout_logits, heldout_metrics  # noqa: E402
from artcheck.lab.fast import student_views  # noqa: E402

STUDENT_C = 0.003
WEIGHTS = (0.25, 0.5, 1.0)

if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    data = shipped_training_data()
    X, fam, src, units = attribution_pool(data)
    X = X[:, detector_columns()]
    M = student_views(ROOT / "src" / "artcheck" / "assets" / "fast" / "student.onnx",
                      [r.path for r in attribution_rows(data)], progress=False)["clean"]
    classes = sorted(set(fam))
    out = {}

    def report(name, z):
        m = heldout_metrics(z, fam, src)
        out[name] = row(m)
        print(f"| {name} | {m['macro_top1']:.3f} | {m['macro_top3']:.3f} | {m['pooled_top1']:.3f} | "
              f"{m['pooled_top3']:.3f} | {m['ece_top']:.3f} |", flush=True)

    print("| features | macro top-1 | macro top-3 | pooled top-1 | pooled top-3 | ECE |\n|---|---|---|---|---|---|")
    zc = heldout_logits(X, fam, units, head_fit(X, fam, src), classes, progress=False)
    report("the shipped head (CLIP features)", zc)
    zm = heldout_logits(M, fam, units, head_fit(M, fam, src, STUDENT_C), classes, progress=False)
    report(f"MobileNetV2 taps alone (C={STUDENT_C:g})", zm)
    for w in WEIGHTS:
        report(f"CLIP + {w:g} x MobileNetV2 taps (logits added)", zc + w * zm)
    write_json(ROOT / "benchmarks" / "results" / "attribution_student_taps.json",
               {"command": "python benchmarks/attribution_student_taps.py", "n": int(len(fam)), "rows": out})
