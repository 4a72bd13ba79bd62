import logging

import pytest
from PIL import Image

from artcheck.data import read_dataset
from artcheck.data.manifest import Manifest, Record
from artcheck.labels import normalize_label


def _img(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path)


def test_imagefolder_with_every_spelling(tmp_path):
    for d in ("FAKE", "REAL"):
        _img(tmp_path / "a" / d / "x.png")
    for d in ("1_fake", "0_real"):
        _img(tmp_path / "b" / d / "sub" / "y.jpg")
    for root in ("a", "b"):
        m = read_dataset(tmp_path / root)
        assert m.layout == "imagefolder" and m.counts() == {"ai": 1, "human": 1}
    # labels follow names, not folder order: "zz_human" would sort after "ai" either way
    _img(tmp_path / "c" / "human" / "1.png")
    _img(tmp_path / "c" / "ai" / "1.png")
    m = read_dataset(tmp_path / "c")
    assert {r.label for r in m if "/human/" in r.path} == {"human"}


def test_cifake(tmp_path):
    for split in ("train", "test"):
        for cls in ("REAL", "FAKE"):
            _img(tmp_path / split / cls / f"{cls}.png")
    m = read_dataset(tmp_path)
    assert m.layout == "cifake" and len(m) == 4
    assert {(r.split, r.label) for r in m} == {("train", "ai"), ("train", "human"), ("test", "ai"), ("test", "human")}


def test_artbench(tmp_path):
    _img(tmp_path / "train" / "AI_LD_impressionism" / "1.jpg")
    _img(tmp_path / "train" / "AI_SD_baroque" / "1.jpg")
    _img(tmp_path / "train" / "impressionism" / "1.jpg")
    _img(tmp_path / "test" / "baroque" / "2.jpg")
    m = read_dataset(tmp_path)
    assert m.layout == "artbench"
    got = {(r.label, r.generator, r.style, r.split) for r in m}
    assert ("ai", "latent-diffusion", "impressionism", "train") in got
    assert ("ai", "stable-diffusion", "baroque", "train") in got
    assert ("human", "", "baroque", "test") in got


def test_genimage(tmp_path):
    for gen in ("ADM", "Midjourney"):
        for split in ("train", "val"):
            for cls in ("ai", "nature"):
                _img(tmp_path / gen / split / cls / "1.png")
    m = read_dataset(tmp_path)
    assert m.layout == "genimage" and len(m) == 8
    assert {r.generator for r in m if r.label == "ai"} == {"ADM", "Midjourney"}
    assert {r.split for r in m} == {"train", "test"}


def test_manifest_csv_round_trip_and_relative_paths(tmp_path):
    _img(tmp_path / "pics" / "a.png")
    (tmp_path / "manifest.csv").write_text("path,label,source,kind\npics/a.png,FAKE,s1,generated\n")
    m = read_dataset(tmp_path)
    assert m.layout == "manifest" and m[0].label == "ai" and m[0].source == "s1"
    assert m[0].path == str(tmp_path / "pics" / "a.png")
    m.to_csv(tmp_path / "out.csv")
    assert Manifest.from_csv(tmp_path / "out.csv").records == m.records


def test_manifest_csv_errors(tmp_path):
    (tmp_path / "bad.csv").write_text("file,class\na.png,ai\n")
    with pytest.raises(ValueError, match="lacks column"):
        read_dataset(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("path,label\na.png,maybe\n")
    with pytest.raises(ValueError, match="bad2.csv:2: unknown label 'maybe'"):
        read_dataset(tmp_path / "bad2.csv")


def test_unrecognised_tree_lists_layouts(tmp_path):
    _img(tmp_path / "cats" / "1.png")
    with pytest.raises(ValueError) as info:
        read_dataset(tmp_path)
    for name in ("manifest", "genimage", "cifake", "artbench", "imagefolder"):
        assert name in str(info.value)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_dataset(tmp_path / "missing")


def test_non_image_files_are_reported_not_silently_dropped(tmp_path, caplog):
    _img(tmp_path / "ai" / "1.png")
    _img(tmp_path / "human" / "1.png")
    (tmp_path / "human" / "notes.txt").write_text("hello")
    with caplog.at_level(logging.WARNING):
        m = read_dataset(tmp_path)
    assert len(m) == 2 and "notes.txt" in caplog.text


def test_normalize_label():
    assert normalize_label("FAKE") == "ai" and normalize_label(" Real ") == "human"
    with pytest.raises(ValueError, match="unknown label"):
        normalize_label("cat")
    assert Record("p", "ai").target == 1 and Record("p", "human").target == 0
