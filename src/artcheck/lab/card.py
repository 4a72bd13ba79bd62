"""The model card and the figures the README and demo state, rendered from a build's own
``detector.json`` (and the benchmark results stored in it by ``store_in_card``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from artcheck.detect.backbones import get_spec
from artcheck.detect.clip_graph import TOKEN_NOTES
from artcheck.images import load_image
from artcheck.lab.calibration import TARGET_AI_MISS, TARGET_HUMAN_FPR, ece
from artcheck.lab.folds import _metrics

def sample_counts(cfg: dict) -> dict:
    """How the model alone does on the bundled samples without provenance, at the shipped band:
    the figures the README and the demo state (a test compares them)."""
    lo, hi = cfg["uncertain_band"]
    counts = {"n": 0, "right": 0, "wrong": [], "uncertain": []}
    for r in cfg.get("bundled_samples", []):
        verdict = "ai" if r["p_ai"] >= hi else "human" if r["p_ai"] < lo else "uncertain"
        counts["n"] += 1
        if verdict == "uncertain":
            counts["uncertain"].append(r["file"])
        elif verdict == r["label"]:
            counts["right"] += 1
        else:
            counts["wrong"].append(r["file"])
    return counts


def this_detector(ev: dict) -> str:
    """The row of ``benchmarks/reserved_eval.py``'s figures that is the detector it was run for
    ("artcheck default", "artcheck half"); the others are baselines."""
    return next(k for k in ev["models"] if k.startswith("artcheck "))


def bundled_sample_scores(detector_dir: Path) -> list[dict]:
    """The built model's P(ai) (model alone, no provenance) on each bundled sample, for the card."""
    import csv
    from importlib import resources

    from artcheck.detect.detector import load_detector

    from artcheck.detect.arithmetic import reference_features

    folder = Path(str(resources.files("artcheck") / "assets" / "samples"))
    det = load_detector(detector_dir, fetch=False)
    with (folder.parent / "SAMPLES.csv").open() as f:
        rows = list(csv.DictReader(f))
    rows = [r for r in rows if "metadata" not in r["file"] and "c2pa" not in r["file"]]
    images = [load_image(folder / r["file"]).image for r in rows]
    scores = det.score(images)
    out = []
    for r, p in zip(rows, scores):
        out.append({"file": r["file"], "label": r["label"], "kind": r.get("kind", ""),
                    "in_training": r["in_default_training_set"].startswith("yes"), "p_ai": round(float(p), 3),
                    "p_ai_exact": round(float(p), 7)})
    if getattr(det.backbone, "arithmetic", None):        # the float64 reference's score for each sample
        arrays = np.stack([det.preprocess.to_uint8(i) for i in images])
        ref = det.head.proba_ai(reference_features(det.backbone.path, arrays, tokens=det.backbone.tokens)[:, det.columns])
        for row, p in zip(out, ref):
            row["p_ai_reference"] = round(float(p), 7)
    return out


def _card_numbers(y, src, p_raw, p_cal, p_rob, lo, hi, manifest) -> dict:
    def at_band(p):
        called_ai, called_human = p >= hi, p < lo
        decided = called_ai | called_human
        correct = (called_ai & (y == 1)) | (called_human & (y == 0))
        return {"coverage": float(decided.mean()),
                "accuracy_when_decided": float(correct[decided].mean()) if decided.any() else None,
                "human_called_ai": float(called_ai[y == 0].mean()), "ai_called_human": float(called_human[y == 1].mean())}

    per_source = {}
    for s in sorted(set(src)):
        m = src == s
        label = "ai" if y[m].min() == 1 else "human" if y[m].max() == 0 else "both"
        per_source[s] = {"label": label, "n": int(m.sum()),
                         "accuracy_at_0.5": float(((p_cal[m] >= 0.5) == (y[m] == 1)).mean()),
                         "called_ai": float((p_cal[m] >= hi).mean()), "called_human": float((p_cal[m] < lo).mean()),
                         "accuracy_robust_at_0.5": float(((p_rob[m] >= 0.5) == (y[m] == 1)).mean())}
    return {"loso_clean_at_0.5": _metrics(y, p_cal), "loso_robust_at_0.5": _metrics(y, p_rob),
            "ece_uncalibrated": ece(y, p_raw), "ece_calibrated": ece(y, p_cal),
            "band": at_band(p_cal), "band_robust": at_band(p_rob), "per_source": per_source}


def arithmetic_lines(cfg: dict) -> list[str]:
    """The card's arithmetic section: the tolerance, and what the build machine measured."""
    from artcheck.detect.arithmetic import P_AI_TOLERANCE

    a, samples = cfg.get("arithmetic"), cfg.get("bundled_samples") or []
    lines = ["", "## Arithmetic",
             f"Every P(ai) is meant to be within {P_AI_TOLERANCE:g} of what a float64 NumPy implementation of the same "
             "graph gives (`detect.clip_reference`), on every CPU. At load, a short probe scores two bundled samples "
             "and a noise image with each arithmetic path the backbone offers and keeps the fastest within that "
             "tolerance (cached per machine; `artcheck check --verbose` and `/v1/models` say which runs). The INT8 "
             "path of 0.3.0 quantised activations per image and is refused: its features moved by up to 1% with "
             "last-bit input changes, so each CPU kind had its own scores."]
    if a:
        devs = ", ".join(f"{k} {v:.1e}" for k, v in a.get("deviation", {}).items())
        lines.append(f"On the build machine ({cfg.get('build_cpu', {}).get('model', 'CPU not recorded')}; flags "
                     f"{', '.join(cfg.get('build_cpu', {}).get('flags', [])) or 'not recorded'}) the probe chose "
                     f"**{a['path']}**; largest P(ai) deviation from the reference per path: {devs}.")
    if samples and "p_ai_reference" in samples[0]:
        worst = max(abs(r["p_ai_exact"] - r["p_ai_reference"]) for r in samples)
        lines.append(f"Over the {len(samples)} bundled samples below, the shipped path's largest deviation from the "
                     f"float64 reference is {worst:.1e} (`pytest tests/test_default_detector.py` checks it on the "
                     "machine it runs on).")
    return lines


def cpu_lines(checks: list[dict] | None) -> list[str]:
    """The card's per-CPU table, from ``benchmarks/cpu_kinds.py`` (one row per CPU kind it ran on)."""
    from artcheck.detect.arithmetic import P_AI_TOLERANCE

    if not checks:
        return []
    lines = ["", "## Checked on these CPUs",
             "`python benchmarks/cpu_kinds.py` on each CPU kind it was run on: the bundled samples rescored with "
             f"the path the probe chose there, against this card's scores (tolerance {P_AI_TOLERANCE:g}).", "",
             "| CPU | flags | path chosen | P(ai) deviation from the float64 reference, per path | largest drift from "
             "this card's sample scores | forward-only images/s, per path |", "|---|---|---|---|---|---|"]
    for c in checks:
        devs = ", ".join(f"{k} {v:.1e}" for k, v in (c.get("deviation") or {}).items()) or "– (one path, no float64 reference)"
        fwd = ", ".join(f"{k} {v:.2f}" for k, v in c["forward_images_per_s"].items())
        lines.append(f"| {c['cpu']['model']} | {' '.join(c['cpu']['flags']) or 'none listed'} | {c.get('path', 'as stored')} "
                     f"| {devs} | {c['largest_drift_from_card']:.1e} ({'within' if c['within_tolerance'] else 'OUT OF'} "
                     f"tolerance) | {fwd} |")
    return lines


def speed_lines(speed: dict | None) -> list[str]:
    """The card's speed section, from ``benchmarks/check_speed.py --card DIR`` (absent until it is run)."""
    if not speed or "cpu" not in speed:
        return ["", "## Speed", "Not measured for this build yet: run `python benchmarks/check_speed.py "
                "--card DIR` (it writes the figures here)."]
    c = speed["cpu"]
    mem = ", ".join(f"{r['images']:,}: {r['rss_mb']:.0f} MB" for r in speed.get("memory", []))
    fwd = ", ".join(f"{k} {v:.2f}" for k, v in speed["forward_only_images_per_s"].items())
    e2e = ", ".join(f"{k} px {v:.2f}" for k, v in speed["end_to_end_images_per_s"].items())
    chosen = (speed.get("arithmetic") or {}).get("path", "the only path")
    return ["", "## Speed and memory",
            f"`{speed['command']}` on {c['model']} ({c['cpus']} cores; flags {', '.join(c['flags']) or 'none listed'}; "
            f"ONNX Runtime {c['onnxruntime']}), no GPU, batch {speed['batch_size']}, {speed['workers']} decoding "
            f"threads. Forward pass only, images/s by arithmetic path: {fwd}. End to end (read, decode, provenance, "
            f"preprocess, infer, fuse) with the path the probe chose ({chosen}), generated JPEGs, images/s by long side: "
            f"{e2e}. Resident memory after so many images in one stream: {mem or 'not measured'}. Speeds differ "
            "between CPUs; scores do not (see 'Arithmetic')."] + ([speed["note"]] if speed.get("note") else []) + [
            f"- `{name}`: forward only {', '.join(f'{k} {v:.2f}' for k, v in r['forward_only_images_per_s'].items()) or '–'}"
            f"; end to end " + ", ".join(f"{k} px {v:.2f}" for k, v in r["end_to_end_images_per_s"].items())
            + (" (escalated on these generated images: " + ", ".join(f"{k} px {v:.0%}" for k, v in
                                                                      r["escalated_share"].items()) + ")"
               if r.get("escalated_share") else "")
            + (f"; RSS {r['memory'][0]['rss_mb']:.0f} MB after {r['memory'][0]['images']:,} images, "
               f"{r['memory'][-1]['rss_mb']:.0f} MB after {r['memory'][-1]['images']:,}" if r.get("memory") else "")
            for name, r in (speed.get("models") or {}).items()]


def independent_lines(ev: dict | None) -> list[str]:
    """The card's independent evaluation, from ``benchmarks/reserved_eval.py --card DIR``: the
    reserved sources, scored once after the build, never trained, tuned or calibrated on."""
    if not ev:
        return ["", "## Independent evaluation (reserved sources)",
                "Not run for this build yet: `python scripts/reserved_sources.py && python benchmarks/reserved_eval.py "
                "--card DIR` writes it here."]
    lines = ["", "## Independent evaluation (reserved sources)",
             f"`{ev['command']}`: {ev['n']} images ({ev['n_ai']} AI, {ev['n_human']} human) from the "
             f"{len(ev['sources'])} sources wild-dev's README reserves for independent evaluation, scored once after "
             "this build and never trained, tuned or calibrated on (origins in `scripts/reserved_sources.py`). "
             "Threshold 0.5; intervals are 95% bootstrap.", "",
             "| model | condition | balanced accuracy | AUC | human called AI |", "|---|---|---|---|---|"]
    for name, conds in ev["models"].items():
        for cond, r in conds.items():
            lines.append(f"| {name} | {cond} | {r['balanced_accuracy']:.3f} {r['balanced_accuracy_95ci']} | "
                         f"{r['auc']:.3f} {r['auc_95ci']} | {r['human_called_ai']:.3f} |")
    mine = ev["models"][this_detector(ev)]
    v = mine["clean"]["verdicts"]
    lines += ["", "Per source, this detector, share right at 0.5 (clean / JPEG60+0.75x): "
              + "; ".join(f"{s} ({meta['label']}, n={meta['n']}) {mine['clean']['per_source'][s]:.2f} / "
                          f"{mine['jpeg60+0.75x']['per_source'][s]:.2f}" for s, meta in ev["sources"].items()) + ".",
              f"With the uncertain band {v['band']}: {v['decided']:.0%} decided, {v['right_when_decided']:.0%} of those "
              f"right, human called AI {v['human_called_ai']:.1%}, AI called human {v['ai_called_human']:.1%}."]
    return lines + ([ev["note"]] if ev.get("note") else [])


def native_lines(nf: dict | None, normalised: bool) -> list[str]:
    """The card's 'files as users hold them' section, from ``benchmarks/native_files.py``."""
    head = ["", "## Files as users hold them (native resolution)",
            ("Every input goes through the training images' own chain before the model (centre square, 384 px, "
             "WebP q90, 256 px: `input_normalisation: wild-dev`, `detect.preprocess.TrainingNormalisation`), so check "
             "time sees what training saw." if normalised else
             "Inputs go straight to the model's 224-px resize (no `input_normalisation`).")]
    if not nf:
        return head + ["Not measured for this build: `python scripts/native_sources.py && python "
                       "benchmarks/native_files.py`."]
    lines = head + [f"`{nf['command']}`: the original files of the pool's package sources ({nf['n']} files, "
                    f"{nf['n_ai']} AI, all ComfyUI template thumbnails; human: Debian photographs, paintings and "
                    "drawings at their own sizes and formats), each scored by a head that never saw its source (5 "
                    "folds over sources), beside the normalised copies of the same files:", "",
                    "| condition | pooled bal. acc | pooled AUC | macro bal. acc | AI caught at 0.5 | human called AI "
                    "at 0.5 | AI caught at the `ai` cut-off | human called AI there |", "|---|---|---|---|---|---|---|---|"]
    for k, r in nf["conditions"].items():
        lines.append(f"| {k} | {r['pooled']['balanced_accuracy']:.3f} | {r['pooled']['roc_auc']:.3f} | "
                     f"{r['macro']['balanced_accuracy']:.3f} | {r['ai_caught_at_0.5']:.1%} | "
                     f"{r['pooled']['human_called_ai']:.1%} | {r['ai_caught_at_band']:.1%} | "
                     f"{r['pooled']['human_called_ai_at_band']:.1%} |")
    lines += ["", "Normalised at check time, a native file scores exactly as its normalised copy (the same pixels "
              "reach the model). A file that is already normalised is normalised a second time (last row): close to, "
              "not the same as, the held-out figures above, which are of the normalised copies."]
    return lines


def screenshot_lines(m: dict | None) -> list[str]:
    """The card's screenshot-check section, from ``artcheck build-screenshot-check`` (lab.screenshots)."""
    if not m:
        return []
    caught = ", ".join(f"{s} {r['caught']:.0%} of {r['n']}" for s, r in m["per_suite_held_out"].items())
    unseen = "; ".join(f"{k}: {len(r['flagged'])} of {r['n']}" for k, r in m["unseen"].items())
    return ["", "## Screenshots (out of scope)",
            f"Screenshots of programs get `uncertain` (\"out of scope\"), by a linear score on the same features, "
            f"fitted on {m['n_screenshots']} screenshots from three desktops' manuals ("
            + ", ".join(f"{s} {n}" for s, n in m["suites"].items()) + f"; `scripts/screenshot_sources.py`) against the "
            f"{m['n_pool']} training images. Each desktop held out in turn, caught: {caught} (macro "
            f"{m['macro_caught']:.0%}). Threshold {m['threshold']:.2f}: {m['margin']} above the highest held-out score "
            f"of any training image ({m['pool_held_out_max']:.2f}, {m['pool_highest'][0]['source']}), so none of them "
            f"is affected. Images it never trained on called screenshots: {unseen}. Reproduce: `{m['command']}`."]


def open_rule_text(m: dict, rule: str | None = None) -> str:
    rule = rule or m.get("open_rule", "top_p")
    th = m["open_rules"][rule]["threshold"] if "open_rules" in m else m["open_threshold"]
    if rule == "energy":
        return f"where the energy score T log sum exp(z / T) of the family logits is below {th:.2f}"
    return f"below a top probability of {th:.2f}"


def other_rules_text(m: dict) -> str:
    others = [r for r in m.get("open_rules", {}) if r != m.get("open_rule")]
    return "".join(f" The other rule measured, {open_rule_text(m, r)}, with its threshold chosen the same way, answers a "
                   f"left-out family `unknown` {m['open_rules'][r]['lofo_unknown_macro']:.0%} of the time."
                   for r in others if m["open_rules"][r]["lofo_unknown_macro"] is not None)


def attribution_lines(m: dict | None) -> list[str]:
    """The card's family-attribution section, from ``artcheck build-attribution`` (lab.attribution)."""
    if not m:
        return ["", "## Generator family (attribution)", "No attribution head in this build: "
                "`artcheck build-attribution --model DIR --data ...` adds one."]
    fams = m["per_family"]
    lines = ["", "## Generator family (attribution)",
             f"`{m['command']}`. A multinomial logistic head on the same features, trained on the {m['n']} AI images "
             "whose generator the reviewed table names (`assets/generator_families.csv`), never on human images; "
             "shown for `ai` and `uncertain` verdicts only and never part of the verdict. Held out by source "
             f"({m['k']} folds over hold-out units), temperature-calibrated (T = {m['temperature']:.2f}); top-probability "
             f"ECE {m['ece_top']:.3f}. Macro over the {len(m['measured_families'])} families with at least 3 sources: "
             f"top-1 **{m['macro_top1']:.3f}**, top-3 **{m['macro_top3']:.3f}** (pooled {m['pooled_top1']:.3f} / "
             f"{m['pooled_top3']:.3f}). Open set: {open_rule_text(m)} the answer is `unknown`; with "
             f"that rule the measured families keep {m['known_top1_with_rule']:.3f} top-1 (without it "
             f"{m['known_top1_without_rule']:.3f}), and a family left out of training entirely is answered `unknown` "
             f"{m['lofo_unknown_macro']:.0%} of the time (macro over the measured families)." + other_rules_text(m), "",
             "| family | n | sources | top-1 | top-3 | left out entirely: answered unknown |", "|---|---|---|---|---|---|"]
    for c, r in fams.items():
        mark = "" if c in m["measured_families"] else " (fewer than 3 sources: not in the macro)"
        lines.append(f"| {c}{mark} | {r['n']} | {r['sources']} | {r['top1']:.2f} | {r['top3']:.2f} | "
                     f"{m['lofo_unknown_rate'][c]:.0%} |")
    if m.get("confusion"):
        cm, names = np.array(m["confusion"], float), m["classes"]
        share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        np.fill_diagonal(share, 0)
        worst = sorted(((share[i, j], names[i], names[j]) for i in range(len(names)) for j in range(len(names))
                        if share[i, j] > 0), reverse=True)[:5]
        lines += ["", "Most often confused (share of the true family's held-out images answered as another): "
                  + "; ".join(f"{a} as {b} {v:.0%}" for v, a, b in worst)
                  + (f". Confusion matrix: {m['figure']}." if m.get("figure") else ".")]
    return lines


def store_in_card(folder: Path, key: str, value: dict) -> None:
    """Store benchmark figures in a detector's config under ``key`` and re-render its model card."""
    from artcheck.detect.detector import DETECTOR_FILE
    cfg = json.loads((folder / DETECTOR_FILE).read_text())
    cfg[key] = value
    (folder / DETECTOR_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    (folder / "MODEL_CARD.md").write_text(fast_card(cfg) if cfg.get("backbone_graph") else model_card(cfg))


def _pct(v) -> str:
    return "–" if v is None else f"{v:.1%}"


# The held-out targets of issue 24 (pooled and macro); the band's own target is calibration's.
TARGETS = {"balanced accuracy": 0.92, "AUC": 0.97, "balanced accuracy after JPEG q60 + 0.75x": 0.88}


def target_line(ho: dict | None, hr: dict | None) -> str:
    """The targets, and for each whether the held-out figures above meet it (pooled / macro)."""
    if not ho:
        return ""
    both = ("pooled", "macro")
    got = {"balanced accuracy": [ho[k]["balanced_accuracy"] for k in both],
           "AUC": [ho[k]["roc_auc"] for k in both],
           "balanced accuracy after JPEG q60 + 0.75x": [hr[k]["balanced_accuracy"] for k in both] if hr else []}
    parts = []
    for name, t in TARGETS.items():
        v = got[name]
        verdict = ("met" if v and min(v) >= t else "not measured" if not v else
                   "missed by " + " / ".join("met" if x >= t else f"{t - x:.3f}" for x in v))
        parts.append(f"{name} >= {t:.2f} ({verdict})")
    fpr = [ho[k].get("human_called_ai_at_band") for k in ("pooled", "macro")]
    ok = all(x is not None and x <= TARGET_HUMAN_FPR for x in fpr)
    parts.append(f"at most {TARGET_HUMAN_FPR:.0%} of human images called AI at the `ai` cut-off "
                 f"({'met' if ok else 'missed'}: the band is chosen for it)")
    return "Targets (issue 24), pooled / macro: " + "; ".join(parts) + "."


def build_options(cfg: dict) -> str:
    """The ``build-detector`` options, beyond the data, that rebuild ``cfg`` (none for the default)."""
    if cfg.get("name", "artcheck-default") == "artcheck-default":
        return ""
    return ((f" --tokens {cfg['tokens']}" if cfg.get("tokens") else "") + f" --name {cfg['name']} --version {cfg['version']}"
            + ("" if cfg.get("attribution") else " --no-attribution"))


def model_card(cfg: dict, data: list[str] | None = None) -> str:
    data = data if data is not None else cfg.get("data", [])
    m = cfg["metrics"]
    f = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    spec = get_spec(cfg["backbone"])
    lo, hi = cfg["uncertain_band"]
    lines = [
        f"# Model card: {cfg['name']} {cfg['version']}", "",
        "Reproduce every number here with:", "",
        "```bash long", "python scripts/extra_sources.py   # the extra sources, by package name",
        "artcheck build-detector " + " ".join(f"--data {d}" for d in data)
        + "".join(f" --attribution-data {d}" for d in (cfg.get("attribution_metrics") or {}).get("data", [])
                  if d not in data) + build_options(cfg) + " --out DIR",
        *(["python scripts/screenshot_sources.py   # the screenshots, by package name",
           cfg["screenshot_metrics"]["command"]] if cfg.get("screenshot_metrics") else []), "```", "",
        "(`pytest tests/test_default_detector.py` recomputes the bundled samples' scores below with the shipped code "
        "and fails if they move by more than the tolerance stated under 'Arithmetic', on whatever CPU it runs.)", "",
        "## What it is",
        f"A frozen {spec.architecture} (weights: {spec.sources[0].describe()}, {spec.sources[0].licence}), run in "
        "float32: its INT8 weights are dequantised at load time and the graph's per-image activation quantisation "
        "is dropped (`detect.clip_graph`), so its features no longer depend on the CPU (see 'Arithmetic' below), "
        + (f"fed only the '{cfg['tokens']}' subset of its patch tokens ({TOKEN_NOTES.get(cfg['tokens'], '')}), "
           if cfg.get("tokens") else "") +
        "and a logistic-regression head on its "
        f"'{cfg['recipe']}' features; calibration: {m.get('calibration', 'platt')} (chosen by held-out ECE, below). "
        + ("Every input first goes through the training images' normalisation (see 'Files as users hold them'). "
           if cfg.get("input_normalisation") else "") +
        "The recipe was chosen by held-out comparison on the same pool: `python benchmarks/recipes.py`, table in "
        "docs/benchmarks.md.",
    ]
    lines += arithmetic_lines(cfg) + cpu_lines(cfg.get("cpu_checks"))
    table = cfg.get("training_table")
    lines += ["", "## Training data",
              f"{cfg['n_images']} images from {len(cfg['training_data'])} sources, each normalised as wild-dev's were "
              "(centre square crop, 256 px after a WebP round trip). No reserved source was used (the builder refuses "
              "them). Left out of training on purpose: the bundled demo samples (by content) and every image from "
              "the generators " + ", ".join(cfg.get("held_out_generators", [])) + " (a generator the model never saw, "
              "for the demo).", ""]
    if table:
        lines += ["| source | AI | human | kinds | licence |", "|---|---|---|---|---|"]
        lines += [f"| {r['source']} | {r['ai']} | {r['human']} | "
                  + ", ".join(f"{k} {n}" for k, n in sorted(r["kinds"].items(), key=lambda t: -t[1]))
                  + f" | {r['licence']} |" for r in table]
    ho, hr = m.get("held_out"), m.get("held_out_robust")
    lines += ["", "## Held-out results (leave-one-source-out, calibrated)",
              "Each image is scored by a head that never saw its source, nor a sibling source or any image in "
              "a near-duplicate group with it. Pooled: all held-out images together. Macro: each source counts "
              "the same (share right per source, averaged within each class, then over the two classes; AUC with "
              "source-equal weights).", "",
              "| condition | pooled bal. acc | pooled AUC | macro bal. acc | macro AUC | human called AI at 0.5 "
              f"(pooled / macro) | human called AI at the `ai` cut-off {hi:.2f} (pooled / macro) |",
              "|---|---|---|---|---|---|---|"]
    for name, r in (("clean", ho), ("JPEG q60 + 0.75x resize", hr)):
        if r:
            lines.append(f"| {name} | {f(r['pooled']['balanced_accuracy'])} | {f(r['pooled']['roc_auc'])} | "
                         f"{f(r['macro']['balanced_accuracy'])} | {f(r['macro']['roc_auc'])} | "
                         f"{_pct(r['pooled']['human_called_ai'])} / {_pct(r['macro']['human_called_ai'])} | "
                         f"{_pct(r['pooled'].get('human_called_ai_at_band'))} / "
                         f"{_pct(r['macro'].get('human_called_ai_at_band'))} |")
    lines += ["", target_line(ho, hr), "",
              "Per source (threshold 0.5 unless named; ECE: mean distance of the source's calibrated P(ai) from its "
              "label, 10 bins):", "",
              "| source | label | n | right at 0.5 | called ai (band) | called human (band) | right after JPEG60+resize "
              "| ECE |", "|---|---|---|---|---|---|---|---|"]
    counts = {t["source"]: t for t in cfg.get("training_table") or []}
    for src_name, r in m["per_source"].items():
        t = counts.get(src_name, {})
        label = f"ai {t['ai']} + human {t['human']}" if t.get("ai") and t.get("human") else r["label"]
        lines.append(f"| {src_name} | {label} | {r['n']} | {f(r['accuracy_at_0.5'])} | {f(r['called_ai'])} | "
                     f"{f(r['called_human'])} | {f(r['accuracy_robust_at_0.5'])} | "
                     f"{f(m.get('ece_per_source', {}).get(src_name))} |")
    if m.get("human_by_kind"):
        lines += ["", "Human images called AI, per kind (held out by source):", "",
                  f"| kind | n | at 0.5 | at the `ai` cut-off {hi:.2f} |", "|---|---|---|---|"]
        lines += [f"| {k} | {r['n']} | {_pct(r['called_ai_at_0.5'])} | {_pct(r['called_ai_at_band'])} |"
                  for k, r in m["human_by_kind"].items()]
    if m.get("ai_by_kind"):
        lines += ["", "AI images called AI, per kind (held out by source):", "",
                  f"| kind | n | at 0.5 | at the `ai` cut-off {hi:.2f} |", "|---|---|---|---|"]
        lines += [f"| {k} | {r['n']} | {_pct(r['called_ai_at_0.5'])} | {_pct(r['called_ai_at_band'])} |"
                  for k, r in m["ai_by_kind"].items()]
    if m.get("lofo_ai"):
        lines += ["", "Leave-one-generator-family-out (AI side): a head trained without any image of the family (nor "
                  "its near-duplicates) scores that family's images. Families from the reviewed generator table "
                  "(`assets/generator_families.csv`, `artcheck.families`).", "",
                  "| family | n | called AI at 0.5 | at the `ai` cut-off | for comparison, leave-one-source-out at 0.5 |",
                  "|---|---|---|---|---|"]
        lines += [f"| {k} | {r['n']} | {_pct(r['called_ai_at_0.5'])} | {_pct(r['called_ai_at_band'])} | "
                  f"{_pct(r['loso_called_ai_at_0.5'])} |" for k, r in m["lofo_ai"].items()]
    b = m["band"]
    lines += [
        "", "## Calibration and the uncertain band",
        "Expected calibration error (10 bins, class-balanced) of held-out probabilities, each map cross-fitted over 5"
        " label-stratified folds of the held-out scores: "
        + ", ".join(f"{k} {v:.3f}" for k, v in m["ece_by_method"].items())
        + f". Shipped: **{m['calibration']}** (lowest ECE). Pooled ECE after calibration {f(m['ece_calibrated'])}.",
        "P(ai) is calibrated for equal priors (class-balanced fits): 0.5 means even odds. Where AI images are"
        " rarer than human ones, the chance that a flagged image is AI is lower than P(ai) suggests.",
        f"Verdict: `ai` at P(ai) >= {hi:.2f}, `human` below {lo:.2f}, `uncertain` between. The band was picked on "
        f"held-out calibrated probabilities so that at most {TARGET_HUMAN_FPR:.0%} of human images are called AI "
        f"and at most {TARGET_AI_MISS:.0%} of AI images are called human.",
        f"On held-out sources: {b['coverage']:.0%} of images get a decided verdict, "
        f"{f(b['accuracy_when_decided'])} of those are right; human called AI {f(b['human_called_ai'])}, "
        f"AI called human {f(b['ai_called_human'])}.",
    ]
    samples = cfg.get("bundled_samples", [])
    if samples:
        def verdict(p):
            return "ai" if p >= hi else ("human" if p < lo else "uncertain")
        lines += ["", "## The bundled samples (`artcheck demo`)",
                  "Model score alone (no provenance); none of them was trained on (see SAMPLES.csv for origins):", "",
                  "| file | label | kind | P(ai) | verdict | right? |", "|---|---|---|---|---|---|"]
        for smp in samples:
            v = verdict(smp["p_ai"])
            ok = "yes" if v == smp["label"] else ("no: " + v if v != "uncertain" else "uncertain")
            lines.append(f"| {smp['file']} | {smp['label']} | {smp.get('kind', '')} | {smp['p_ai']:.3f} | {v} | {ok} |")
    lines += [
        *native_lines(cfg.get("native_files"), bool(cfg.get("input_normalisation"))),
        *attribution_lines(cfg.get("attribution_metrics")),
        *screenshot_lines(cfg.get("screenshot_metrics")),
        *speed_lines(cfg.get("speed")),
        *independent_lines(cfg.get("independent_eval")),
        "", "## Known failure modes and limits",
        f"- Trained on {cfg['n_images']} images from {len(cfg['training_data'])} sources; the held-out numbers above"
        " are the honest estimate, and sources unlike any in the pool will do worse.",
        "- Held out, these sources are classified no better than a coin toss at 0.5 (accuracy below 0.6): "
        + (", ".join(f"{s} ({r['accuracy_at_0.5']:.2f})" for s, r in m["per_source"].items()
                     if r["accuracy_at_0.5"] < 0.6) or "none") + ".",
        "- Bundled samples it gets wrong (model alone): " + (", ".join(
            f"{smp['file']} (P(ai) {smp['p_ai']:.2f})" for smp in samples
            if (smp["p_ai"] >= hi and smp["label"] == "human") or (smp["p_ai"] < lo and smp["label"] == "ai"))
            or "none") + ".",
        *(["- Independent evaluation, sources right below 0.6 at 0.5: " + ", ".join(
            f"{s} ({a:.2f})" for s, a in
            cfg["independent_eval"]["models"][this_detector(cfg["independent_eval"])]["clean"]["per_source"].items()
            if a < 0.6) + "."]
          if cfg.get("independent_eval") else []),
        "- Heavily edited, upscaled or screenshotted images, and AI images with human over-painting, are out of scope"
        + (f" (screenshots of programs' windows get `uncertain`: {cfg['screenshot_metrics']['macro_caught']:.0%} of them "
           "held out, macro over three desktops; the rest get the model's verdict)." if cfg.get("screenshot_metrics")
           else "."),
        "- Provenance decides `ai` only when present; its absence never counts towards `human`.",
    ]
    return "\n".join(lines) + "\n"


def fast_card(cfg: dict) -> str:
    """The fast tier's card (``lab.fast``): the student against the default on the same held-out
    folds, the issue's bounds met or missed per figure, the cascade, the band and the samples."""
    m, d = cfg["metrics"], cfg["default_on_same_folds"]
    f = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lo, hi = cfg["uncertain_band"]
    cas = cfg["cascade"]
    lines = [
        f"# Model card: {cfg['name']} {cfg['version']} (the fast tier, `--model fast`)", "",
        "Reproduce every number here with:", "",
        "```bash long", "python scripts/extra_sources.py   # the extra sources, by package name",
        "artcheck build-fast --out DIR   # the default's pool; its features are cached if the default was built here",
        "```", "",
        "## What it is",
        f"ImageNet MobileNetV2 (torchvision's weights, BSD-3-Clause), frozen, read at eight depths: per channel the "
        f"mean and standard deviation of each stage's feature map ({cfg['feature_dim']} values; `models.student`), "
        f"exported to ONNX with float16 weights ({cfg['backbone_graph']}, run in float32 by ONNX Runtime; no torch). "
        f"Head: {cfg['recipe']}. The teacher is {cfg['teacher']['name']} {cfg['teacher']['version']}. "
        "Its trunk is not fine-tuned: fine-tuning all of it, measured on five folds over hold-out units (`benchmarks/student_full.py`), gave 0.760 / 0.730 pooled / macro balanced accuracy against the frozen trunk's 0.756 / 0.739. Teaching its last stages the default's CLIP features beside the label (`benchmarks/student_distill.py`) gave 0.782 / 0.761, the first gain measured; not shipped yet (docs/benchmarks.md).",
        "", "## Training data",
        f"The default's pool: {cfg['n_images']} images from {len(cfg['training_data'])} sources (the default's card "
        "lists them with licences), and one processed copy of each (crop, resize, blur, JPEG or WebP at random).",
        "", "## Held out by source, against the default on the same folds",
        "Leave-one-source-out: for each unit the default's recipe is refitted without it (that fold's teacher) and the "
        "student learns from that teacher's scores on the remaining images; both score the unit. Calibrated "
        "(cross-fitted), threshold 0.5 unless named.", "",
        "| model | condition | pooled bal. acc | pooled AUC | macro bal. acc | macro AUC | human called AI at the "
        "`ai` cut-off (pooled / macro) |", "|---|---|---|---|---|---|---|"]
    for name, r in (("fast", m["held_out"]), ("fast, JPEG q60 + 0.75x", m["held_out_robust"]),
                    ("default", d["held_out"]), ("default, JPEG q60 + 0.75x", d["held_out_robust"])):
        lines.append(f"| {name.split(',')[0]} | {'JPEG q60 + 0.75x' if ',' in name else 'clean'} | "
                     f"{f(r['pooled']['balanced_accuracy'])} | {f(r['pooled']['roc_auc'])} | "
                     f"{f(r['macro']['balanced_accuracy'])} | {f(r['macro']['roc_auc'])} | "
                     f"{_pct(r['pooled'].get('human_called_ai_at_band'))} / {_pct(r['macro'].get('human_called_ai_at_band'))} |")
    lines += ["", "Issue 23's bounds for the fast tier (at most 0.03 balanced accuracy and 0.02 AUC below the "
              "default, pooled and macro): " + "; ".join(
                  f"{k} gap {v['gap']:+.3f} ({'met' if v['met'] else 'missed'})" for k, v in cfg["against_default"].items())
              + ".", "",
              "Per source (held out, threshold 0.5):", "",
              "| source | label | n | fast right at 0.5 | right after JPEG60+resize |", "|---|---|---|---|---|"]
    lines += [f"| {s} | {r['label']} | {r['n']} | {f(r['accuracy_at_0.5'])} | {f(r['accuracy_robust_at_0.5'])} |"
              for s, r in m["per_source"].items()]
    b = m["band"]
    lines += ["", "## Calibration and the uncertain band",
              "ECE of held-out probabilities per map (cross-fitted): "
              + ", ".join(f"{k} {v:.3f}" for k, v in m["ece_by_method"].items())
              + f"; shipped: **{m['calibration']}**. Verdict: `ai` at P(ai) >= {hi:.2f}, `human` below {lo:.2f}, "
              f"picked on held-out probabilities for at most {TARGET_HUMAN_FPR:.0%} of human images called AI and at "
              f"most {TARGET_AI_MISS:.0%} of AI images called human. Held out: {b['coverage']:.0%} decided, "
              f"{f(b['accuracy_when_decided'])} of those right; human called AI {f(b['human_called_ai'])}, AI called "
              f"human {f(b['ai_called_human'])}.",
              "", "## The cascade (`--cascade`)",
              f"The fast tier decides where its P(ai) is below {cas['escalate'][0]:.2f} or at least "
              f"{cas['escalate'][1]:.2f}; the default checks the rest. Chosen on the held-out scores: the narrowest "
              f"range whose balanced accuracy stays within {cas['max_loss']:.2f} of the default's, pooled and macro. "
              f"Held out: {cas['escalated_share']:.1%} of images go on to the default (AI {cas['escalated_by_label']['ai']:.1%}, "
              f"human {cas['escalated_by_label']['human']:.1%}; after JPEG q60 + 0.75x {cas['robust_escalated_share']:.1%}); "
              f"balanced accuracy {f(cas['balanced_accuracy']['pooled'])} pooled / {f(cas['balanced_accuracy']['macro'])} "
              f"macro against the default's {f(cas['default_balanced_accuracy']['pooled'])} / "
              f"{f(cas['default_balanced_accuracy']['macro'])}; after JPEG q60 + 0.75x "
              f"{f(cas['robust_balanced_accuracy']['pooled'])} / {f(cas['robust_balanced_accuracy']['macro'])}."]
    samples = cfg.get("bundled_samples", [])
    if samples:
        verdict = lambda p: "ai" if p >= hi else ("human" if p < lo else "uncertain")  # noqa: E731
        lines += ["", "## The bundled samples", "Model score alone (no provenance):", "",
                  "| file | label | P(ai) | verdict |", "|---|---|---|---|"]
        lines += [f"| {s['file']} | {s['label']} | {s['p_ai']:.3f} | {verdict(s['p_ai'])} |" for s in samples]
    lines += [*cpu_lines(cfg.get("cpu_checks")), *speed_lines(cfg.get("speed")), "", "## Known limits",
              "- Weaker than the default held out (table above): use it where speed matters more than the last errors, "
              "or through `--cascade`, which sends its unsure cases to the default.",
              "- Sources held out below 0.6 at 0.5: " + (", ".join(
                  f"{s} ({r['accuracy_at_0.5']:.2f})" for s, r in m["per_source"].items() if r["accuracy_at_0.5"] < 0.6)
                  or "none") + ".",
              "- No family attribution and no screenshot check: those heads read the default's features."]
    return "\n".join(lines) + "\n"
