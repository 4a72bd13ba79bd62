"""The shipped default detector on the bundled samples (fetches its backbone from the index once)."""

import csv
import json
from importlib import resources
from pathlib import Path

import pytest

from artcheck.cli import main
from artcheck.detect.detector import load_detector

ASSETS = Path(str(resources.files("artcheck") / "assets"))


def test_default_model_files_are_shipped():
    cfg = json.loads((ASSETS / "default" / "detector.json").read_text())
    assert cfg["backbone"] == "clip-vit-b16" and len(cfg["uncertain_band"]) == 2 and cfg["input_check"] is True
    assert (ASSETS / "default" / cfg["screenshot_check"]).is_file()
    assert cfg["screenshot_metrics"]["macro_caught"] > 0.5 and not any(
        r["flagged"] for r in cfg["screenshot_metrics"]["unseen"].values())
    assert cfg["metrics"]["loso_clean_at_0.5"]["roc_auc"] > 0.5
    assert (ASSETS / "default" / "MODEL_CARD.md").read_text().count("|") > 20
    head = json.loads((ASSETS / "default" / "head.json").read_text())
    assert head["classes"] == ["human", "ai"] and any(abs(w) > 0 for w in head["coef"])


@pytest.mark.network
def test_default_detector_on_the_bundled_samples(capsys):
    labels = {r["file"]: r["label"] for r in csv.DictReader((ASSETS / "SAMPLES.csv").open())}
    det = load_detector()
    verdicts = {Path(v.path).name: v for v in det.check(sorted(str(p) for p in (ASSETS / "samples").iterdir()))}
    assert set(verdicts) == set(labels) and not any(v.error for v in verdicts.values())
    for name in ("ai-with-generator-metadata.png", "ai-with-c2pa-manifest.jpg"):
        assert verdicts[name].verdict == "ai" and verdicts[name].evidence[0].kind in ("metadata", "c2pa")
    probs = [v.p_ai for v in verdicts.values()]
    assert len(set(round(p, 3) for p in probs)) > 3, "probabilities should vary with the image"
    # the same image with and without provenance gets the same model score
    assert verdicts["ai-with-generator-metadata.png"].p_ai == pytest.approx(verdicts["ai-photo-qwen.png"].p_ai, abs=0.02)
    # the shipped screenshot check: none of the samples is called a screenshot; a program's window is,
    # and gets `uncertain` with no family guessed from a model that cannot judge it
    assert not any("screenshot" in v.reason for v in verdicts.values())
    from artcheck.data.synthetic import screenshot

    window = det.check(screenshot(seed=0))
    assert window.verdict == "uncertain" and "screenshot of a program's window" in window.reason
    assert window.family is None and "Family" not in window.reason
    assert main(["demo"]) == 0
    printed = capsys.readouterr().out
    assert "known" in printed and "right?" in printed and " of 19 right, " in " ".join(printed.split())
    assert "/samples/" not in printed.replace("assets/samples;", "")      # names, not absolute paths


@pytest.mark.network
@pytest.mark.parametrize("tier", ["default", "half"])
def test_model_card_sample_scores_are_what_the_shipped_code_computes(tier):
    """The card's scores for the bundled samples are recomputed here; drift (a code change that
    alters features, a machine that computes differently) fails this test."""
    from artcheck.detect.arithmetic import P_AI_TOLERANCE
    from artcheck.lab.card import bundled_sample_scores

    cfg = json.loads((ASSETS / tier / "detector.json").read_text())
    recorded = {s["file"]: s["p_ai_exact"] for s in cfg["bundled_samples"]}
    rows = bundled_sample_scores(ASSETS / tier)
    now = {s["file"]: s["p_ai_exact"] for s in rows}
    assert set(now) == set(recorded)
    drift = {k: (recorded[k], now[k]) for k in now if abs(now[k] - recorded[k]) > P_AI_TOLERANCE}
    assert not drift, f"sample scores drifted from the model card by more than {P_AI_TOLERANCE}: {drift}"
    # on this machine, the runtime stays within the tolerance of the float64 reference
    off = {s["file"]: (s["p_ai_exact"], s["p_ai_reference"]) for s in rows
           if abs(s["p_ai_exact"] - s["p_ai_reference"]) > P_AI_TOLERANCE}
    assert not off, f"the runtime's scores are off the float64 reference: {off}"
    card = (ASSETS / tier / "MODEL_CARD.md").read_text()
    for name, p in recorded.items():
        assert f"| {name} |" in card and f"{p:.3f}" in card


def test_the_readme_states_the_demo_counts_the_build_recorded():
    from artcheck.lab.card import sample_counts

    cfg = json.loads((ASSETS / "default" / "detector.json").read_text())
    c = sample_counts(cfg)
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    assert f"gets {c['right']} of the {c['n']} without provenance right" in readme
    assert f"{len(c['wrong'])} wrong" in readme and f"{len(c['uncertain'])} uncertain" in readme


def test_the_cards_list_every_cpu_kind_they_were_checked_on():
    import copy

    from artcheck.lab.card import cpu_lines

    for folder in ("default", "fast"):
        cfg = json.loads((ASSETS / folder / "detector.json").read_text())
        card = (ASSETS / folder / "MODEL_CARD.md").read_text()
        assert cfg["cpu_checks"], f"{folder}: run benchmarks/cpu_kinds.py"
        for c in cfg["cpu_checks"]:
            assert c["within_tolerance"] and f"| {c['cpu']['model']} | {' '.join(c['cpu']['flags'])} |" in card
        moved = copy.deepcopy(cfg["cpu_checks"][:1])
        moved[0].update(largest_drift_from_card=0.01, within_tolerance=False)
        assert "OUT OF tolerance" in "\n".join(cpu_lines(moved))
