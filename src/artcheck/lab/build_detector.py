"""Build a detector (backbone + calibrated linear probe) from labelled data, choosing its
recipe by leave-one-source-out generalisation, and write it with a model card.

    artcheck build-detector --data ../shared/data/wild-dev --out src/artcheck/assets/default

Every number it writes is measured here on held-out sources: each image is scored by a
probe that never saw its source, calibration is cross-fitted over sources, and the
uncertain band is picked on those honest probabilities. Needs the ``[train]`` extra.

This module only assembles a build; its parts live beside it: the pool and its cached
features (``lab.pool``), the heads (``lab.heads``), the held-out protocol (``lab.folds``),
calibration and the band (``lab.calibration``) and the model card (``lab.card``).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from artcheck.detect.backbones import get_backbone
from artcheck.detect.detector import DETECTOR_FILE
from artcheck.detect.probe import LinearProbe, _sigmoid
from artcheck.lab import runs
from artcheck.lab.calibration import choose_calibration, cross_fitted, ece_one_class, pick_band
from artcheck.lab.card import _card_numbers, bundled_sample_scores, model_card
from artcheck.lab.folds import held_out_summary, lofo_ai_logits, loso_logits
from artcheck.lab.heads import Recipe, fit_head
from artcheck.lab.pool import (FEATURE_SETS, HELD_OUT_GENERATORS, ROBUST_VARIANT, feature_views, generator_family,
                               holdout_units, training_manifest, training_table)

# The recipe the default is built with, chosen by `python benchmarks/recipes.py` (held out by
# source on the whole pool; the table is in docs/benchmarks.md). Set after that comparison.
DEFAULT_RECIPE = Recipe("CLS + mean patch of all blocks", augment=False, balance_sources=True, head="logreg", C=0.003)
DEFAULT_N_AUG = 1


def build(data: list[str], out: str | Path, backbone_name: str = "clip-vit-b16", n_aug: int = 1,
          version: str = "0.5.0", progress: bool | None = None, recipe: Recipe | None = None,
          lofo: bool = True, attribution: bool = True, attribution_data: list[str] = (),
          tokens: str | None = None, name: str = "artcheck-default") -> dict:
    """Build the detector with ``recipe`` (default DEFAULT_RECIPE) and measure it held out:
    leave-one-source-out (sources joined by siblings or near-duplicate groups held out
    together), pooled and macro over sources, clean and after JPEG q60 + 0.75x; calibration
    and the uncertain band fitted on those held-out scores; leave-one-generator-family-out
    for the AI side; human false alarms per kind; ECE per source. The family-attribution head
    (``lab.attribution``) is trained on ``data`` plus ``attribution_data`` (folders that never
    train the verdict's head). ``tokens``: a CLIP token subset (``clip_graph.TOKEN_SUBSETS``; the
    half tier is built with "checkerboard"), written to detector.json so that checking uses it too."""
    t0 = time.perf_counter()
    recipe = recipe or DEFAULT_RECIPE
    manifest = training_manifest(data)
    backbone = get_backbone(backbone_name, fetch=True, tokens=tokens)
    paths = [r.path for r in manifest]
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    groups = np.array([r.group for r in manifest])
    kinds = np.array([r.style or "unknown" for r in manifest])
    families = np.array([generator_family(r.generator) if r.target == 1 else "" for r in manifest])
    # processed copies are only extracted when the recipe trains on them
    views = feature_views(backbone, paths, n_aug if recipe.augment else 0, progress)
    say = (lambda *a: None) if progress is False else (lambda *a: print(*a, flush=True))

    say(f"leave-one-source-out: {len(set(holdout_units(src, groups)))} hold-out units, {len(y)} images")
    lg = loso_logits(views, y, src, recipe, n_aug, ("clean", ROBUST_VARIANT), groups=groups)
    oof = lg["clean"]
    method, shipped_map, ece_by_method = choose_calibration(oof, y)
    p_cal = cross_fitted(method, oof, y)
    calibrate = lambda z: _sigmoid(shipped_map[0] * z + shipped_map[1])  # noqa: E731
    p_cal_robust = calibrate(lg[ROBUST_VARIANT])
    lo, hi = pick_band(y, p_cal, src)

    card = _card_numbers(y, src, _sigmoid(oof), p_cal, p_cal_robust, lo, hi, manifest)
    card.update(calibration=method, ece_by_method=ece_by_method,
                held_out=held_out_summary(y, p_cal, src, hi), held_out_robust=held_out_summary(y, p_cal_robust, src, hi),
                ece_per_source={s: ece_one_class(y[src == s], p_cal[src == s]) for s in np.unique(src)},
                human_by_kind={k: {"n": int(((kinds == k) & (y == 0)).sum()),
                                   "called_ai_at_0.5": float(np.mean(p_cal[(kinds == k) & (y == 0)] >= 0.5)),
                                   "called_ai_at_band": float(np.mean(p_cal[(kinds == k) & (y == 0)] >= hi))}
                               for k in sorted(set(kinds[y == 0]))},
                ai_by_kind={k: {"n": int(((kinds == k) & (y == 1)).sum()),
                                "called_ai_at_0.5": float(np.mean(p_cal[(kinds == k) & (y == 1)] >= 0.5)),
                                "called_ai_at_band": float(np.mean(p_cal[(kinds == k) & (y == 1)] >= hi))}
                            for k in sorted(set(kinds[y == 1]))})
    if lofo:
        say("leave-one-generator-family-out")
        fam_logits = lofo_ai_logits(views, y, src, families, recipe, n_aug, groups)
        card["lofo_ai"] = {f: {"n": int(len(z)), "called_ai_at_0.5": float(np.mean(calibrate(z) >= 0.5)),
                               "called_ai_at_band": float(np.mean(calibrate(z) >= hi)),
                               "loso_called_ai_at_0.5": float(np.mean(p_cal[(families == f) & (y == 1)] >= 0.5))}
                           for f, z in fam_logits.items()}

    model, cols = fit_head(views, np.arange(len(y)), y, src, recipe, n_aug, backbone=backbone_name)
    if not isinstance(model, LinearProbe):
        raise ValueError(f"recipe head {recipe.head!r} cannot be shipped (only linear heads run in the core install)")
    head = model
    head.platt = shipped_map
    ranges = FEATURE_SETS[recipe.features]
    head.meta = {"features": recipe.features, "feature_columns": ranges, "head": recipe.head, "C": recipe.C}
    config = {"name": name, "version": version, "backbone": backbone_name, **({"tokens": tokens} if tokens else {}),
              "head": "head.json",
              "feature_columns": ranges, "uncertain_band": [lo, hi], "input_check": True,
              "input_normalisation": "wild-dev", "recipe": recipe.name,
              "recipe_spec": {"features": recipe.features, "augment": recipe.augment, "n_aug": n_aug,
                              "balance_sources": recipe.balance_sources, "head": recipe.head, "C": recipe.C},
              "created": datetime.now(timezone.utc).isoformat(), "git_sha": runs.git_sha(),
              "training_data": sorted({r.source for r in manifest}), "n_images": len(manifest), "data": list(data),
              "training_table": training_table(manifest),
              "held_out_generators": list(HELD_OUT_GENERATORS), "metrics": card,
              "build_seconds": round(time.perf_counter() - t0, 1)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    head.save(out / "head.json")
    (out / DETECTOR_FILE).write_text(json.dumps(config, indent=2) + "\n")
    config["bundled_samples"] = bundled_sample_scores(out)
    config.update(build_machine(out))
    (out / DETECTOR_FILE).write_text(json.dumps(config, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(model_card(config, data))
    if attribution:
        from artcheck.lab.attribution import build_attribution

        say("family attribution (AI images only)")
        config["attribution_metrics"] = build_attribution(out, list(data) + list(attribution_data), progress)
    return config


def build_machine(folder: Path) -> dict:
    """The CPU the build ran on and the arithmetic path its probe chose (for the card)."""
    from artcheck.detect.arithmetic import cpu_info
    from artcheck.detect.detector import load_detector

    det = load_detector(folder, fetch=False)
    chosen = {k: v for k, v in det.arithmetic.to_dict().items() if k not in ("cached", "forced")} if det.arithmetic else None
    return {"arithmetic": chosen, "build_cpu": cpu_info()}
