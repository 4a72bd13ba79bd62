import numpy as np
import pytest

from artcheck.lab.pool import FEATURE_SETS, check_not_reserved, columns
from artcheck.lab.calibration import TARGET_AI_MISS, TARGET_HUMAN_FPR, choose_calibration, cross_fitted, ece, pick_band
from artcheck.data.manifest import Manifest, Record


def test_reserved_sources_are_refused():
    for ok in ("comfyui-media-image", "comfyui-media-api", "comfyui-media-assets-01", "wesnoth-story"):
        check_not_reserved(Manifest([Record("a", "ai", source=ok)]))
    for bad in ("naev-data", "gnome-backgrounds", "comfyui-media-assets-02", "invokeai", "comfyui-media-video",
                "comfyui-media-other"):
        with pytest.raises(ValueError, match="reserved"):
            check_not_reserved(Manifest([Record("a", "human", source=bad)]))


def test_ece_is_zero_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20000)
    y = (rng.uniform(0, 1, 20000) < p).astype(int)
    assert ece(y, p) < 0.02
    assert ece(y, np.clip(p * 0.2 + 0.8, 0, 1)) > 0.3


def test_band_meets_its_targets():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(500), np.ones(500)].astype(int)
    p = np.r_[rng.beta(2, 5, 500), rng.beta(5, 2, 500)]
    lo, hi = pick_band(y, p)
    assert lo <= hi
    assert np.mean(p[y == 0] >= hi) <= TARGET_HUMAN_FPR and np.mean(p[y == 1] < lo) <= TARGET_AI_MISS


def test_cross_fitted_platt_keeps_the_ranking_and_calibrates():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = np.array([0] * 300 + [1] * 300)
    logits = 5 * (np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.2, 600)) + 3   # overconfident and shifted
    p = cross_fitted("platt", logits, y)
    assert roc_auc_score(y, p) > roc_auc_score(y, logits) - 0.01
    assert ece(y, p) < ece(y, 1 / (1 + np.exp(-logits))) and ece(y, p) < 0.08
    method, (a, c), scores = choose_calibration(logits, y)
    assert set(scores) == {"none", "temperature", "platt"} and method != "none" and 0 < a < 1


def test_feature_sets_stay_inside_the_clip_layout():
    from artcheck.detect.backbones import get_spec

    dim = get_spec("clip-vit-b16").feature_dim
    for name, ranges in FEATURE_SETS.items():
        cols = columns(ranges)
        assert cols.min() >= 0 and cols.max() < dim and len(set(cols)) == len(cols), name


def test_source_weights_even_out_sources_within_each_class():
    from artcheck.lab.heads import source_weights

    y = np.array([1] * 6 + [0] * 12)
    src = np.array(["a"] * 2 + ["b"] * 4 + ["big"] * 10 + ["small"] * 2)
    w = source_weights(y, src)
    per_source = {s: w[src == s].sum() for s in np.unique(src)}
    assert per_source["a"] == pytest.approx(per_source["b"])          # 2 vs 4 images, same say
    assert per_source["big"] == pytest.approx(per_source["small"])    # 10 vs 2 images, same say
    assert w[y == 1].sum() == pytest.approx(6) and w[y == 0].sum() == pytest.approx(12)   # class totals kept


def test_image_seed_follows_pixels_not_position():
    from PIL import Image

    from artcheck.lab import perturb

    a = Image.new("RGB", (64, 64), (10, 200, 30))
    b = Image.new("RGB", (64, 64), (200, 10, 30))
    assert perturb.image_seed(a, 1) == perturb.image_seed(a.copy(), 1)
    assert perturb.image_seed(a, 1) != perturb.image_seed(b, 1)
    assert perturb.image_seed(a, 1) != perturb.image_seed(a, 2)


def test_model_card_renders_from_the_shipped_config_with_and_without_speed():
    import json
    from importlib import resources

    from artcheck.lab.card import model_card

    cfg = json.loads((resources.files("artcheck") / "assets" / "default" / "detector.json").read_text())
    cfg.pop("speed", None)
    card = model_card(cfg)
    assert "Not measured for this build yet" in card and "artcheck build-detector --data" in card
    cfg["speed"] = {"command": "python benchmarks/check_speed.py --n 10", "batch_size": 16, "workers": 2,
                    "cpu": {"model": "Test CPU", "flags": ["avx2", "avx512_vnni"], "cpus": 2, "onnxruntime": "1.32.0"},
                    "arithmetic": {"path": "float32"},
                    "forward_only_images_per_s": {"float32": 4.5, "int8-exact": 6.0},
                    "end_to_end_images_per_s": {"256": 4.25, "4000": 2.5},
                    "memory": [{"images": 5, "rss_mb": 700.4}, {"images": 10, "rss_mb": 701.0}]}
    card = model_card(cfg)
    assert "float32 4.50, int8-exact 6.00" in card and "256 px 4.25, 4000 px 2.50" in card
    assert "Test CPU" in card and "avx512_vnni" in card and "10: 701 MB" in card and "(float32)" in card
    assert "Measured on an earlier head" not in card
    cfg["speed"]["note"] = "Measured on an earlier head with the same backbone."
    assert "Measured on an earlier head with the same backbone." in model_card(cfg)


def test_sibling_sources_are_held_out_together(monkeypatch):
    from artcheck.lab import folds, heads

    seen = []
    real = heads._fit_probe

    def spy(Xs, y, src, balance, **kw):
        seen.append(set(src))
        return real(Xs, y, src, balance, **kw)

    monkeypatch.setattr(heads, "_fit_probe", spy)
    rng = np.random.default_rng(0)
    src = np.array(["ai-a"] * 8 + ["ai-b"] * 8 + ["wesnoth-story"] * 8 + ["wesnoth-portraits"] * 8 + ["photos"] * 8)
    y = np.array([1] * 16 + [0] * 24)
    X = rng.normal(size=(40, 18944)) + y[:, None] * 0.5
    recipe = heads.Recipe("embedding", augment=False)
    lg = folds.loso_logits({"clean": X}, y, src, recipe, n_aug=0)
    assert len(seen) == 4                      # ai-a, ai-b, wesnoth (both), photos
    assert {"ai-a", "ai-b", "photos"} in seen  # the wesnoth fold trained on neither wesnoth source
    assert all(("wesnoth-story" in s) == ("wesnoth-portraits" in s) for s in seen)
    assert np.all(lg["clean"] != 0)


def test_every_reserved_evaluation_source_is_refused_by_the_builder():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "reserved_sources.py"
    spec = importlib.util.spec_from_file_location("reserved_sources", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert len(mod.SOURCES) >= 10
    for name, (label, _fetch) in mod.SOURCES.items():
        with pytest.raises(ValueError, match="reserved"):
            check_not_reserved(Manifest([Record("a", label, source=name)]))


def test_model_card_independent_evaluation_section_and_store_in_card(tmp_path):
    import json
    from importlib import resources

    from artcheck.lab.card import model_card, store_in_card

    shipped = resources.files("artcheck") / "assets" / "default"
    cfg = json.loads((shipped / "detector.json").read_text())
    cfg.pop("independent_eval", None)
    card = model_card(cfg)
    assert "Not run for this build yet" in card and "sources right below 0.6" not in card
    mixed = [t for t in cfg["training_table"] if t["ai"] and t["human"]]
    assert mixed                               # sources holding both labels show both counts, not a majority label
    for t in mixed:
        assert f"| {t['source']} | ai {t['ai']} + human {t['human']} |" in card
    r = {"balanced_accuracy": 0.7, "balanced_accuracy_95ci": [0.6, 0.8], "auc": 0.81, "auc_95ci": [0.7, 0.9],
         "human_called_ai": 0.2, "ai_called_human": 0.4, "per_source": {"naev-x": 0.35, "gnome-y": 0.9}}
    clean = {**r, "verdicts": {"band": [0.15, 0.7], "decided": 0.5, "right_when_decided": 0.74,
                               "human_called_ai": 0.154, "ai_called_human": 0.016}}
    ev = {"n": 3, "n_ai": 1, "n_human": 2, "command": "python benchmarks/reserved_eval.py",
          "sources": {"naev-x": {"label": "human", "n": 2}, "gnome-y": {"label": "human", "n": 1}},
          "models": {"artcheck default": {"clean": clean, "jpeg60+0.75x": r}}, "note": "A note."}
    (tmp_path / "detector.json").write_text(json.dumps(cfg))
    store_in_card(tmp_path, "independent_eval", ev)
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert json.loads((tmp_path / "detector.json").read_text())["independent_eval"] == ev
    assert "0.700 [0.6, 0.8]" in card and "naev-x (human, n=2) 0.35 / 0.35" in card and "A note." in card
    assert "sources right below 0.6 at 0.5: naev-x (0.35)." in card and "human called AI 15.4%" in card


def test_scores_by_source_picture(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from artcheck.lab.plots import plot_scores_by_source

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(20), np.zeros(40)].astype(int)
    src = np.array(["gen-a"] * 20 + ["photos"] * 25 + ["paintings"] * 15)
    p = np.clip(y * 0.4 + rng.uniform(0, 0.6, 60), 0, 1)
    out = tmp_path / "scores.png"
    plot_scores_by_source({"model": p, "coin": rng.uniform(0, 1, 60)}, y, src, out, band=(0.2, 0.7), title="t")
    with Image.open(out) as im:
        assert im.width > 800 and im.height > 200
        assert len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) > 50   # something was drawn


def test_near_duplicate_groups_join_their_sources_into_one_hold_out_unit():
    from artcheck.lab.pool import holdout_units

    src = np.array(["a", "a", "b", "b", "c", "wesnoth-story", "wesnoth-portraits"])
    groups = np.array(["g1", "", "g1", "", "g2", "", ""])
    units = holdout_units(src, groups)
    assert units[0] == units[2] == units[3]           # a and b share group g1: held out together
    assert units[4] != units[0] and units[5] == units[6]


def test_an_ensemble_of_probes_ships_as_one_linear_probe():
    from artcheck.lab.heads import ensemble_probe
    from artcheck.detect.probe import LinearProbe

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 12))
    y = (X[:, 0] + X[:, 6] + rng.normal(size=200) > 0).astype(int)
    sets = [np.arange(0, 6), np.arange(4, 12)]       # overlapping column sets
    probes = [LinearProbe().fit(X[:, c], y, Cs=(1.0,)) for c in sets]
    merged, cols = ensemble_probe(probes, sets, 12)
    mean_logit = np.mean([p.decision_function(X[:, c]) for p, c in zip(probes, sets)], axis=0)
    assert np.allclose(merged.decision_function(X[:, cols]), mean_logit)


def test_macro_figures_weigh_every_source_the_same():
    from artcheck.lab.folds import held_out_summary

    y = np.array([1] * 100 + [1] * 10 + [0] * 50)
    src = np.array(["big-ai"] * 100 + ["small-ai"] * 10 + ["human"] * 50)
    p = np.r_[np.full(100, 0.9), np.full(10, 0.1), np.full(50, 0.2)]   # the small AI source is all wrong
    r = held_out_summary(y, p, src, hi=0.8)
    assert r["pooled"]["balanced_accuracy"] == pytest.approx((100 / 110 + 1) / 2)
    assert r["macro"]["balanced_accuracy"] == pytest.approx(((1 + 0) / 2 + 1) / 2)
    assert r["macro"]["roc_auc"] < r["pooled"]["roc_auc"]
    assert r["pooled"]["human_called_ai_at_band"] == 0.0


def test_generator_families():
    from artcheck.lab.pool import generator_family

    # the reviewed table (artcheck.families), not substring rules
    assert generator_family("flux.1-dev") == "flux"
    assert generator_family("sdxl-realvisxl-v3-turbo") == "sdxl"
    assert generator_family("sd3.5-large") == "sd3"
    assert generator_family("dalle2") == "dalle-2"
    assert generator_family("sd1.5-finetune (Deliberate v2 or DreamShaper 3.2)") == "sd1-2"
    assert generator_family("kandinsky-3") == "open-dit"
    assert generator_family("glid-3-xl") == "early-diffusion"          # not SDXL, as the substring rules had it
    assert generator_family("Juggernaut SD Reborn (juggernaut_reborn.safetensors)") == "sd1-2"


def _extra_sources_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "extra_sources.py"
    spec = importlib.util.spec_from_file_location("extra_sources", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _qt_rcc(files: dict[str, bytes], compress: set[str]) -> bytes:
    """A Qt resource bundle (format 3) as Qt's rcc writes it: tree, names, data."""
    import struct
    import zlib

    tree: dict = {}
    for path, data in files.items():
        node = tree
        *dirs, leaf = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = data
    names, data_blob, nodes = b"", b"", []

    def name_off(n: str) -> int:
        nonlocal names
        off = len(names)
        names += struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
        return off

    nodes.append(None)                                  # the root, filled in below
    pending = [(0, "", tree)]
    while pending:                                      # breadth first: a directory's children are contiguous
        idx, n, node = pending.pop(0)
        first = len(nodes)
        children = sorted(node.items())
        nodes.extend([None] * len(children))
        nodes[idx] = struct.pack(">IHII", name_off(n) if idx else 0, 2, len(children), first) + b"\0" * 8
        for k, (cn, child) in enumerate(children):
            if isinstance(child, dict):
                pending.append((first + k, cn, child))
            else:
                flags, raw = (1, struct.pack(">I", len(child)) + zlib.compress(child)) if cn in compress else (0, child)
                nodes[first + k] = struct.pack(">IHHHI", name_off(cn), flags, 0, 0, len(data_blob)) + b"\0" * 8
                data_blob += struct.pack(">I", len(raw)) + raw
    tree_blob = b"".join(nodes)
    header = 24
    return (b"qres" + struct.pack(">IIIII", 3, header, header + len(tree_blob) + len(names), header + len(tree_blob), 0)
            + tree_blob + names + data_blob)


def test_qt_resource_reader_returns_every_file_with_its_bytes(tmp_path):
    mod = _extra_sources_module()
    files = {"gcompris/a/README": b"Copyright: X\nLicense: CC0-1.0\nFiles:\nsub/one.webp\n\nLicense: GPL-3+\ntwo.png\n",
             "gcompris/a/sub/one.webp": b"\x01" * 300, "gcompris/a/two.png": b"plain bytes", "gcompris/b.txt": b"z"}
    path = tmp_path / "x.rcc"
    path.write_bytes(_qt_rcc(files, compress={"one.webp"}))
    got = dict(mod.rcc_files(path))
    assert got == {"/" + k: v for k, v in files.items()}
    lic = mod._readme_licences({"/" + k: v for k, v in files.items()})
    assert lic == {"/gcompris/a/sub/one.webp": "CC0-1.0", "/gcompris/a/two.png": "GPL-3+"}
    path.write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(ValueError, match="not a Qt resource bundle"):
        list(mod.rcc_files(path))


def test_no_extra_training_source_is_a_reserved_one():
    mod = _extra_sources_module()
    check_not_reserved(Manifest([Record("a", label, source=name) for name, (label, _f) in mod.SOURCES.items()]))
    assert {"gcompris-drawings", "gcompris-photos"} <= set(mod.SOURCES) and set(mod.KINDS) == set(mod.SOURCES)


def test_card_renders_the_attribution_figures_or_says_how_to_get_them():
    from artcheck.lab.card import attribution_lines

    assert "artcheck build-attribution" in "\n".join(attribution_lines(None))
    m = {"command": "artcheck build-attribution --model DIR --data x", "n": 10, "k": 5, "temperature": 2.0,
         "ece_top": 0.04, "measured_families": ["sdxl"], "macro_top1": 0.4, "macro_top3": 0.8, "pooled_top1": 0.5,
         "pooled_top3": 0.9, "open_threshold": 0.3, "known_top1_with_rule": 0.36, "known_top1_without_rule": 0.4,
         "lofo_unknown_macro": 0.25, "lofo_unknown_rate": {"sdxl": 0.25, "flux": 0.5},
         "per_family": {"sdxl": {"n": 6, "sources": 3, "top1": 0.4, "top3": 0.8},
                        "flux": {"n": 4, "sources": 1, "top1": 0.0, "top3": 0.5}}}
    text = "\n".join(attribution_lines(m))
    assert "top-1 **0.400**" in text and "| flux (fewer than 3 sources: not in the macro) | 4 | 1 |" in text


def test_the_card_says_which_target_is_met_and_by_how_much_the_others_miss():
    from artcheck.lab.card import TARGETS, target_line

    t = TARGETS["balanced accuracy"]
    row = lambda ba, auc, fpr: {"balanced_accuracy": ba, "roc_auc": auc, "human_called_ai_at_band": fpr}  # noqa: E731
    line = target_line({"pooled": row(t + 0.01, 0.99, 0.01), "macro": row(t - 0.05, 0.99, TARGET_HUMAN_FPR + 0.01)},
                       None)
    assert f"balanced accuracy >= {t:.2f} (missed by met / 0.050)" in line
    assert "AUC >= 0.97 (met)" in line and "after JPEG q60 + 0.75x >= 0.88 (not measured)" in line
    assert f"at most {TARGET_HUMAN_FPR:.0%} of human images called AI at the `ai` cut-off (missed" in line
