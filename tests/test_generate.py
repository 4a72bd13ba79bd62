"""generate, caption and pair (issue 18) end to end with tiny random models built here, offline."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from artcheck.cli import main  # noqa: E402
from artcheck.data import read_dataset, split_manifest  # noqa: E402
from tiny_backbone import build_exported_detector  # noqa: E402
from tiny_generative import build_tiny_blip, build_tiny_sd  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen-models")
    return {"sd": build_tiny_sd(root / "tiny-sd"), "blip": build_tiny_blip(root / "tiny-blip"),
            "detector": build_exported_detector(root / "det")}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_generate_writes_a_dataset_whose_pngs_carry_their_parameters(models, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red house\n# a comment\na cat on a tree\n")
    out = tmp_path / "gen"
    args = ["generate", "--model", str(models["sd"]), "--prompts", str(prompts), "--out", str(out),
            "--n-per-prompt", "2", "--steps", "2", "--size", "32", "--seed", "5", "-q"]
    assert main(args) == 0
    rows = _rows(out / "manifest.csv")
    assert [r["prompt"] for r in rows] == ["a red house"] * 2 + ["a cat on a tree"] * 2
    assert [r["seed"] for r in rows] == ["5", "6", "7", "8"] and {r["label"] for r in rows} == {"ai"}
    assert all(r["generator"].startswith("tiny-sd") and r["steps"] == "2" for r in rows)
    assert len(read_dataset(out)) == 4
    # artcheck's own provenance reader recognises the embedded parameters
    capsys.readouterr()
    assert main(["check", str(out / "images"), "--model", str(models["detector"]), "-f", "json", "-q"]) == 0
    checked = json.loads(capsys.readouterr().out)["results"]
    assert all(v["verdict"] == "ai" and any("Automatic1111" in e["detail"] for e in v["evidence"]) for v in checked)
    # a rerun skips what is there; a lost image is made again
    (out / rows[1]["path"]).unlink()
    assert main(args) == 0
    assert "1 images generated, 3 already there" in capsys.readouterr().out
    assert len(_rows(out / "manifest.csv")) == 5 and len(read_dataset(out)) == 5


def test_titles_from_a_human_dataset(models, synth_dir, tmp_path):
    from artcheck.lab.generate import titles_from

    prompts = titles_from(synth_dir)
    humans = [r for r in read_dataset(synth_dir) if r.label == "human"]
    assert len(prompts) == len(humans) and prompts[0].startswith("a painting titled ")
    few = tmp_path / "few"
    few.mkdir()
    for p in [p for p in sorted(synth_dir.rglob("*.png")) if "human" in str(p)][:3]:
        (few / f"starry_night_{p.stem}.png").write_bytes(p.read_bytes())
    (few / "manifest.csv").write_text("path,label,style\n" + "".join(f"{p.name},human,impressionism\n"
                                                                     for p in sorted(few.glob("*.png"))))
    assert main(["generate", "--model", str(models["sd"]), "--titles-from", str(few), "--out",
                 str(tmp_path / "t"), "--steps", "1", "--size", "32", "-q"]) == 0
    rows = _rows(tmp_path / "t" / "manifest.csv")
    assert len(rows) == 3 and rows[0]["prompt"].startswith("a painting titled starry night")
    assert rows[0]["prompt"].endswith("in the style of impressionism")


def test_caption_writes_one_row_per_image_and_resumes(models, synth_dir, tmp_path, capsys):
    data = tmp_path / "few"
    data.mkdir()
    for p in sorted(synth_dir.rglob("*.png"))[:4]:
        (data / p.name).write_bytes(p.read_bytes())
    (data / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "caps.csv"
    code = main(["caption", str(data), "--model", str(models["blip"]), "--out", str(out), "-q"])
    rows = _rows(out)
    assert code == 1 and len(rows) == 4                  # the broken file is named, the rest captioned
    assert "broken.png" in capsys.readouterr().err
    assert all(r["model"].startswith("tiny-blip") and isinstance(r["caption"], str) for r in rows)
    main(["caption", str(data), "--model", str(models["blip"]), "--out", str(out), "-q"])
    assert len(_rows(out)) == 4


def test_pair_groups_twins_and_the_set_trains_a_seed_cnn(models, synth_dir, tmp_path):
    out = tmp_path / "pairs"
    humans = tmp_path / "humans"
    humans.mkdir()
    for p in [p for p in sorted(synth_dir.rglob("*.png")) if "human" in str(p)][:16]:
        (humans / p.name).write_bytes(p.read_bytes())
    (humans / "manifest.csv").write_text("path,label\n" + "".join(f"{p.name},human\n" for p in sorted(humans.glob("*.png"))))
    assert main(["pair", str(humans), "--captioner", str(models["blip"]), "--generator", str(models["sd"]),
                 "--out", str(out), "--steps", "2", "--max-size", "32", "-q"]) == 0
    records = list(read_dataset(out))
    assert len(records) == 32
    groups: dict[str, set] = {}
    for r in records:
        groups.setdefault(r.group, set()).add(r.label)
    assert len(groups) == 16 and all(v == {"human", "ai"} for v in groups.values())
    split = split_manifest(read_dataset(out), seed=0)
    by_group: dict[str, set] = {}
    for r in split:
        by_group.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in by_group.values())   # a pair never straddles a split
    # img2img regenerates from the image; a rerun skips finished pairs
    assert main(["pair", str(humans), "--captioner", str(models["blip"]), "--generator", str(models["sd"]),
                 "--out", str(tmp_path / "sdedit"), "--steps", "2", "--max-size", "32", "--img2img", "0.5", "-q"]) == 0
    assert main(["pair", str(humans), "--captioner", str(models["blip"]), "--generator", str(models["sd"]),
                 "--out", str(out), "--steps", "2", "--max-size", "32", "-q"]) == 0
    assert len(list(read_dataset(out))) == 32
    assert main(["train", "--data", str(out), "--model", "bird-lotfi", "--epochs", "1", "--out",
                 str(tmp_path / "run"), "-q"]) == 0


def test_a_missing_model_fails_at_once_and_says_how_to_provide_it(tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a cat\n")
    assert main(["generate", "--model", "stabilityai/sdxl-turbo", "--prompts", str(prompts), "--out",
                 str(tmp_path / "o")]) == 2
    msg = capsys.readouterr().err
    assert "stabilityai/sdxl-turbo" in msg and "save_pretrained" in msg and "huggingface-cli download" in msg
    assert main(["caption", str(tmp_path), "--model", "./no-such-folder", "--out", str(tmp_path / "c.csv")]) == 2
    assert main(["generate", "--model", "x", "--out", str(tmp_path / "o")]) == 2      # neither --prompts nor titles
