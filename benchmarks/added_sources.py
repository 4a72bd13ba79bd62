"""What newly added training sources change, held out by source.

    python scripts/extra_sources.py
    python benchmarks/added_sources.py --new gcompris-drawings gcompris-photos [--augment]
    python benchmarks/added_sources.py --add ../shared/data/github-art-2     # a whole new set: all its sources new

Full leave-one-source-out over the whole pool (benchmarks/pool.py; hold-out units as the
build makes them), twice: every head trained with the ``--new`` sources, and every head
trained without them. Both are scored on the same images: the sources that were there
before (so the figures compare like with like), and the new sources themselves (what a
detector that never saw that kind of image says about it, against one that saw the rest of
the new data). Uncalibrated P(ai) at 0.5, as benchmarks/recipes.py. Features come from the
cache ``python benchmarks/pool.py --extract`` fills.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pool import N_AUG, pool_data  # noqa: E402

from artcheck.detect.backbones import get_backbone  # noqa: E402
from artcheck.detect.probe import _sigmoid  # noqa: E402
from artcheck.lab.pool import ROBUST_VARIANT, feature_views, holdout_units, training_manifest  # noqa: E402
from artcheck.lab.heads import Recipe, fit_head  # noqa: E402
from artcheck.lab.folds import held_out_summary  # noqa: E402

SHIPPED = "CLS + mean patch of all blocks"
# human landscape photographs and renders, which new AI data can pull towards AI (issue 24)
WATCH = ("endless-sky", "widelands-photos", "gcompris-photos", "appleseed-renders", "pathtracer-renders")


def loso(views, y, src, units, recipe, train_ok: np.ndarray) -> dict[str, np.ndarray]:
    out = {v: np.zeros(len(y)) for v in ("clean", ROBUST_VARIANT)}
    for u in np.unique(units):
        test = units == u
        rows = np.flatnonzero(~test & train_ok)
        model, cols = fit_head(views, rows, y, src, recipe, N_AUG)
        for v in out:
            out[v][test] = model.decision_function(views[v][test][:, cols])
    return out


def line(name: str, s: dict, r: dict) -> str:
    c = s["pooled"]
    return (f"{name}: pooled {c['balanced_accuracy']:.3f} / AUC {c['roc_auc']:.3f}, macro "
            f"{s['macro']['balanced_accuracy']:.3f} / {s['macro']['roc_auc']:.3f}, human called AI "
            f"{c['human_called_ai']:.3f}; JPEG60+0.75x {r['pooled']['balanced_accuracy']:.3f} / "
            f"{r['pooled']['roc_auc']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--new", nargs="*", default=[], help="source names (as in the manifests) added last")
    ap.add_argument("--add", nargs="*", default=[], help="datasets joined to the pool; their sources count as new")
    ap.add_argument("--watch", nargs="*", default=list(WATCH), help="sources whose held-out share right is "
                    "reported with and without (default: the human photographs and renders most often called AI)")
    ap.add_argument("--augment", action="store_true", help="heads with processing augmentation")
    ap.add_argument("--C", type=float, default=0.003)
    ap.add_argument("--out", default="benchmarks/results/added_sources.json")
    args = ap.parse_args()
    from artcheck.data import read_dataset

    manifest = training_manifest(pool_data() + list(args.add))
    args.new = sorted(set(args.new) | {r.source for d in args.add for r in read_dataset(d)})
    if not args.new:
        raise SystemExit("name the new sources (--new) or datasets (--add)")
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    unknown = sorted(set(args.new) - set(src))
    if unknown:
        raise SystemExit(f"--new: no source named {unknown} in the pool (benchmarks/pool.py); "
                         f"known: {', '.join(sorted(set(src)))}")
    units = holdout_units(src, np.array([r.group for r in manifest]))
    views = feature_views(get_backbone("clip-vit-b16", fetch=True), [r.path for r in manifest],
                          N_AUG if args.augment else 0)
    recipe = Recipe(SHIPPED, args.augment, C=args.C)
    new = np.isin(src, args.new)
    results = {"recipe": recipe.name, "new": args.new}
    for label, train_ok in (("with", np.ones(len(y), bool)), ("without", ~new)):
        lg = loso(views, y, src, units, recipe, train_ok)
        p = {v: _sigmoid(lg[v]) for v in lg}
        old = {v: held_out_summary(y[~new], p[v][~new], src[~new]) for v in p}
        right = lambda s: float(np.mean((p["clean"][src == s] >= 0.5) == (y[src == s] == 1)))  # noqa: E731
        results[label] = {"old_sources": old, "new_sources_right": {s: right(s) for s in args.new},
                          "watched_right": {s: right(s) for s in args.watch if s in set(src)},
                          "per_source_right": {s: right(s) for s in sorted(set(src))}}
        print(line(f"{label} the new sources, scored on the {len(set(src[~new]))} others", old["clean"],
                   old[ROBUST_VARIANT]), flush=True)
        print("   new sources held out, share right at 0.5: "
              + ", ".join(f"{s} {v:.3f}" for s, v in results[label]["new_sources_right"].items()), flush=True)
        print("   watched sources held out, share right at 0.5: "
              + ", ".join(f"{s} {v:.3f}" for s, v in results[label]["watched_right"].items()), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
