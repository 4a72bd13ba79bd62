"""Recipe choice for the default detector on the full training pool (wild-dev, github-art and
the extra package sources): feature sets, heads, augmentation and source balancing, every
figure held out by source.

    python scripts/extra_sources.py && python benchmarks/recipes.py [--folds 8] [--out benchmarks/results/recipes.json]

To keep the comparison affordable on 2 cores, hold-out units (sources; siblings and
near-duplicate groups merged) are dealt into ``--folds`` grouped folds: every source is
still scored only by heads that never saw it. The chosen recipe is then reported with full
leave-one-source-out by ``artcheck build-detector``. Features come from the cache that
``python benchmarks/pool.py --extract`` fills (about 30 minutes cold on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pool import N_AUG, pool_data  # noqa: E402

from artcheck.detect.backbones import get_backbone  # noqa: E402
from artcheck.lab.pool import ROBUST_VARIANT, feature_views, holdout_units, training_manifest  # noqa: E402
from artcheck.lab.heads import Recipe  # noqa: E402
from artcheck.lab.folds import held_out_summary, loso_logits  # noqa: E402
from artcheck.detect.probe import _sigmoid  # noqa: E402

SHIPPED_BEFORE = "mean patch of blocks 1,3,..,11"
ALL_TOKENS = "CLS + mean patch of all blocks"
C = 0.003


def recipes() -> list[Recipe]:
    return [
        Recipe("embedding", True, C=C),
        Recipe("last block (CLS + mean patch)", True, C=C),
        Recipe(SHIPPED_BEFORE, True, C=C),
        Recipe("mean patch of all blocks", True, C=C),
        Recipe("mean patch of blocks 6..11", True, C=C),
        Recipe("CLS of blocks 1,3,..,11", True, C=C),
        Recipe("CLS + mean patch of blocks 1,3,..,11", True, C=C),
        Recipe("CLS + mean patch of all blocks", True, C=C),
        Recipe("CLS + mean patch of all blocks", False, C=C),          # the plain baseline
        Recipe(SHIPPED_BEFORE, True, head="ensemble", C=C),
        Recipe("CLS + mean patch of all blocks", True, head="ensemble", C=C),
        Recipe(SHIPPED_BEFORE, True, head="mlp"),
        Recipe(SHIPPED_BEFORE, False, C=C),
        Recipe(SHIPPED_BEFORE, True, balance_sources=False, C=C),
        Recipe(SHIPPED_BEFORE, True, C=0.0003),
        Recipe(SHIPPED_BEFORE, True, C=0.03),
        # after the first sixteen: around the best set, "CLS + mean patch of all blocks"
        Recipe(ALL_TOKENS, False, C=0.001),
        Recipe(ALL_TOKENS, False, C=0.01),
        Recipe(ALL_TOKENS, False, balance_sources=False, C=0.003),
        Recipe(ALL_TOKENS, True, C=0.001),
        Recipe("CLS + mean patch of blocks 1,3,..,11", False, C=0.003),
    ]


def fold_units(units: np.ndarray, y: np.ndarray, folds: int) -> np.ndarray:
    """Deal hold-out units into ``folds`` folds, largest first, balancing AI and human counts."""
    if folds <= 0:
        return units
    sizes = sorted(((int((units == u).sum()), u) for u in np.unique(units)), reverse=True)
    load = np.zeros((folds, 2))
    out = np.empty(len(units), dtype=object)
    for _n, u in sizes:
        m = units == u
        need = np.array([(y[m] == 0).sum(), (y[m] == 1).sum()])
        k = int(np.argmin((load + need).max(axis=1)))
        load[k] += need
        out[m] = f"fold{k}"
    return out.astype(str)


def markdown(results: dict) -> str:
    """The comparison table, as docs/benchmarks.md shows it."""
    f = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = ["| recipe | clean bal. acc (pooled / macro) | clean AUC (pooled / macro) | human called AI at 0.5 "
             "(pooled) | JPEG60+0.75x bal. acc | JPEG60+0.75x AUC | seconds |", "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        c, p = r["clean"], r["robust"]
        lines.append(f"| {name} | {f(c['pooled']['balanced_accuracy'])} / {f(c['macro']['balanced_accuracy'])} | "
                     f"{f(c['pooled']['roc_auc'])} / {f(c['macro']['roc_auc'])} | {f(c['pooled']['human_called_ai'])} | "
                     f"{f(p['pooled']['balanced_accuracy'])} | {f(p['pooled']['roc_auc'])} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=8, help="grouped folds of hold-out units (0: one per unit)")
    ap.add_argument("--out", default="benchmarks/results/recipes.json")
    ap.add_argument("--only", nargs="*", type=int, help="indices of recipes to run")
    ap.add_argument("--dino", action="store_true", help="also the ViT-S/14 (DINOv2 layout) tokens, alone and beside "
                    "CLIP's (extracts its features: about 15 minutes cold)")
    ap.add_argument("--beside", nargs="*", default=[], metavar="BACKBONE",
                    help="also these backbones' features (e.g. mobilenet-v2, efficientnet-lite0: pooled ImageNet "
                         "trunks, torch), alone and beside CLIP's tokens")
    ap.add_argument("--markdown", action="store_true", help="print the table from --out and stop")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.out).read_text())))
        return
    manifest = training_manifest(pool_data())
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    groups = np.array([r.group for r in manifest])
    views = feature_views(get_backbone("clip-vit-b16", fetch=True), [r.path for r in manifest], N_AUG)
    units = fold_units(holdout_units(src, groups), y, args.folds)
    print(f"{len(y)} images, {len(set(src))} sources, {len(set(holdout_units(src, groups)))} hold-out units "
          f"in {len(set(units))} folds", flush=True)
    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}
    jobs = [(i, r.name, r, views, None) for i, r in enumerate(recipes()) if not args.only or i in args.only]
    if args.dino:
        from artcheck.lab.pool import FEATURE_SETS, columns

        # clean and JPEG60+0.75x views only (no augmented copies: the CLIP comparison found no gain from them)
        dino = feature_views(get_backbone("vit-s14-focus", fetch=True), [r.path for r in manifest], 0)
        dino_all = np.arange(dino["clean"].shape[1])
        clip_cols = columns(FEATURE_SETS[ALL_TOKENS])
        both = {k: np.hstack([views[k][:, clip_cols], dino[k]]) for k in dino}
        base = Recipe(ALL_TOKENS, False, C=C)
        jobs += [(100, "DINO ViT-S/14: CLS + mean patch of all blocks", base, dino, dino_all),
                 (101, "CLIP + DINO: CLS + mean patch of all blocks of both", base, both,
                  np.arange(both["clean"].shape[1]))]
    for j, other in enumerate(args.beside):
        from artcheck.lab.pool import FEATURE_SETS, columns

        feats = feature_views(get_backbone(other, fetch=True), [r.path for r in manifest], 0)
        clip_cols = columns(FEATURE_SETS[ALL_TOKENS])
        both = {k: np.hstack([views[k][:, clip_cols], feats[k]]) for k in feats}
        base = Recipe(ALL_TOKENS, False, C=C)
        jobs += [(200 + 2 * j, f"{other} pooled features", base, feats, np.arange(feats["clean"].shape[1])),
                 (201 + 2 * j, f"CLIP tokens (CLS + mean patch of all blocks) + {other} pooled", base, both,
                  np.arange(both["clean"].shape[1]))]
    for i, name, r, vv, cols in jobs:
        t0 = time.perf_counter()
        lg = loso_logits(vv, y, src, r, N_AUG, ("clean", ROBUST_VARIANT), units=units, cols=cols)
        res = {"recipe": name, "clean": held_out_summary(y, _sigmoid(lg["clean"]), src),
               "robust": held_out_summary(y, _sigmoid(lg[ROBUST_VARIANT]), src),
               "seconds": round(time.perf_counter() - t0, 1)}
        results[name] = res
        c, rb = res["clean"], res["robust"]
        print(f"[{i}] {name}: pooled {c['pooled']['balanced_accuracy']:.3f}/{c['pooled']['roc_auc']:.3f} "
              f"macro {c['macro']['balanced_accuracy']:.3f}/{c['macro']['roc_auc']:.3f} "
              f"human->ai {c['pooled']['human_called_ai']:.3f}; processed {rb['pooled']['balanced_accuracy']:.3f}/"
              f"{rb['pooled']['roc_auc']:.3f} ({res['seconds']} s)", flush=True)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
