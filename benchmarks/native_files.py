"""Files as users hold them against the normalised copies the model trained on, held out by
source, with and without the training normalisation at check time (issue 24, point 5).

    python scripts/extra_sources.py && python scripts/native_sources.py
    python benchmarks/native_files.py [--card DIR]   # about 15 minutes here; benchmarks/results/native_files.json
                                                     # (native_files_half.json for --card src/artcheck/assets/half)

The native set: the original files of the pool's package sources (``scripts/native_sources.py``;
AI: ComfyUI template thumbnails, WebP; human: Debian photographs, paintings, drawings at their own
sizes and formats). Each native file is scored by a head with the shipped recipe trained on the
pool without its hold-out unit (5 folds over units, ``lab.folds.unit_folds``; the unit of the
file's normalised copy), with the shipped Platt map, under three conditions:

- ``normalised copy``: the pool's normalised copy of the same file (what the build measures);
- ``native, straight to the model``: the file as it is, resized to 224 (0.4.0's check);
- ``native, normalised at check time``: the file through the training chain first
  (``detect.preprocess.TrainingNormalisation``: centre square, 384 px, WebP q90, 256 px).

Also the normalised copies normalised a second time (what the chain does to a file that is
already normalised), and the bundled samples (never trained on) with the shipped head both ways.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import shipped_training_data, write_json  # noqa: E402

NATIVE = ROOT / "data" / "native"
VARIANT = "wild-dev-normalised"


def native_rows() -> list[dict]:
    rows = []
    for m in sorted(NATIVE.glob("*/manifest.csv")):
        for r in csv.DictReader(m.open()):
            r["path"] = str(m.parent / r["path"])
            rows.append(r)
    if not rows:
        raise SystemExit(f"no native files in {NATIVE}: run 'python scripts/native_sources.py' first")
    return rows


def summary(y: np.ndarray, p: np.ndarray, src: np.ndarray, hi: float) -> dict:
    from artcheck.lab.folds import held_out_summary

    s = held_out_summary(y, p, src, hi)
    s["ai_caught_at_0.5"] = float(np.mean(p[y == 1] >= 0.5))
    s["ai_caught_at_band"] = float(np.mean(p[y == 1] >= hi))
    return s


def main() -> None:
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--card", metavar="DIR", help="also store the figures in this detector's detector.json and "
                    "model card, and measure that detector (default: the shipped default, src/artcheck/assets/default)")
    args = ap.parse_args()

    from artcheck.detect.backbones import get_backbone
    from artcheck.detect.preprocess import NORMALISATIONS
    from artcheck.detect.probe import _sigmoid
    from artcheck.lab.build_detector import DEFAULT_RECIPE
    from artcheck.lab.folds import unit_folds
    from artcheck.lab.heads import fit_head
    from artcheck.lab.pool import _features, holdout_units, training_manifest

    folder = Path(args.card) if args.card else ROOT / "src" / "artcheck" / "assets" / "default"
    cfg = json.loads((folder / "detector.json").read_text())
    head_cfg = json.loads((folder / cfg["head"]).read_text())
    a, c = head_cfg["platt"]
    lo, hi = cfg["uncertain_band"]
    norm = NORMALISATIONS["wild-dev"]
    manifest = training_manifest(shipped_training_data())
    paths = [r.path for r in manifest]
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    units = holdout_units(src, np.array([r.group for r in manifest]))
    folds = unit_folds(y, units, 5, 0)
    backbone = get_backbone(cfg["backbone"], fetch=True, tokens=cfg.get("tokens"))   # the half tier's subset
    X = _features(backbone, "", paths, "clean", None, True)
    where = {str(Path(p).resolve()): i for i, p in enumerate(paths)}
    natives = [r for r in native_rows() if r["normalised"] in where]
    idx = np.array([where[r["normalised"]] for r in natives])
    ny, nsrc = y[idx], src[idx]
    n_paths = [r["path"] for r in natives]
    views = {"normalised copy": X[idx],
             "native, straight to the model": _features(backbone, "", n_paths, "clean", None, True),
             "native, normalised at check time": _features(backbone, "", n_paths, VARIANT, lambda im, i: norm(im), True),
             "normalised copy, normalised again": _features(backbone, "", [paths[i] for i in idx], VARIANT,
                                                            lambda im, i: norm(im), True)}
    logits = {k: np.zeros(len(idx)) for k in views}
    for f in range(5):
        model, cols = fit_head({"clean": X}, np.flatnonzero(folds != f), y, src, DEFAULT_RECIPE, 0)
        here = folds[idx] == f
        for k, V in views.items():
            logits[k][here] = model.decision_function(V[here][:, cols])
        print(f"fold {f + 1}/5: {here.sum()} native files scored", flush=True)
    results = {k: summary(ny, _sigmoid(a * z + c), nsrc, hi) for k, z in logits.items()}

    # the bundled samples, never trained on: the shipped head, straight and normalised
    from importlib import resources

    from artcheck.detect.detector import load_detector
    from artcheck.images import load_image

    det = load_detector(folder, fetch=True)
    folder = Path(str(resources.files("artcheck") / "assets" / "samples"))
    rows = [r for r in csv.DictReader((folder.parent / "SAMPLES.csv").open())
            if "metadata" not in r["file"] and "c2pa" not in r["file"]]
    images = [load_image(folder / r["file"]).image for r in rows]
    sy = np.array([r["label"] == "ai" for r in rows], int)
    straight = det.head.proba_ai(det.backbone.features(np.stack([det.backbone.preprocess.to_uint8(i) for i in images]))
                                 [:, det.columns])
    normed = det.head.proba_ai(det.backbone.features(np.stack([det.backbone.preprocess.to_uint8(norm(i))
                                                               for i in images]))[:, det.columns])
    samples = {name: {"right_at_band": int(sum((p >= hi and t == 1) or (p < lo and t == 0) for p, t in zip(ps, sy))),
                      "uncertain": int(sum(lo <= p < hi for p in ps)), "n": len(sy),
                      "p_ai": {r["file"]: round(float(p), 3) for r, p in zip(rows, ps)}}
               for name, ps in (("straight", straight), ("normalised at check time", normed))}
    out = {"command": "python scripts/native_sources.py && python benchmarks/native_files.py"
                      + (f" --card {args.card}" if args.card else ""),
           "n": len(idx), "n_ai": int(ny.sum()), "sources": sorted(set(nsrc)), "band": [lo, hi],
           "conditions": results, "bundled_samples": samples}
    tier = cfg.get("name", "artcheck-default").removeprefix("artcheck-")
    write_json(ROOT / "benchmarks" / "results" / ("native_files.json" if tier == "default" else f"native_files_{tier}.json"),
               out)
    if args.card:
        from artcheck.lab.card import store_in_card

        store_in_card(Path(args.card), "native_files", out)
    print("| condition | pooled bal. acc | pooled AUC | macro bal. acc | AI caught at 0.5 | human called AI at 0.5 | "
          f"AI caught at the `ai` cut-off {hi:.2f} | human called AI there |")
    print("|---|---|---|---|---|---|---|---|")
    for k, r in results.items():
        print(f"| {k} | {r['pooled']['balanced_accuracy']:.3f} | {r['pooled']['roc_auc']:.3f} | "
              f"{r['macro']['balanced_accuracy']:.3f} | {r['ai_caught_at_0.5']:.1%} | {r['pooled']['human_called_ai']:.1%} | "
              f"{r['ai_caught_at_band']:.1%} | {r['pooled']['human_called_ai_at_band']:.1%} |")
    for k, r in samples.items():
        print(f"bundled samples, {k}: {r['right_at_band']} of {r['n']} right at the band, {r['uncertain']} uncertain")


if __name__ == "__main__":
    main()
