import pytest
from PIL import Image

from artcheck.data import leave_one_out, split_manifest, subset
from artcheck.data.hashing import hamming, near_duplicate_groups, phash
from artcheck.data.manifest import Manifest, Record
from artcheck.data.scan import scan
from artcheck.data.synthetic import make_image


def _manifest(n_ai=60, n_human=40, sources=("s1", "s2", "s3")):
    recs = [Record(f"ai{i}", "ai", source=sources[i % len(sources)], generator=f"g{i % 2}") for i in range(n_ai)]
    recs += [Record(f"h{i}", "human", source="hs") for i in range(n_human)]
    return Manifest(recs)


def test_split_is_stratified_seeded_and_complete():
    m = split_manifest(_manifest(), seed=3)
    assert len(m) == 100 and {r.split for r in m} == {"train", "val", "test"}
    for label, n in (("ai", 60), ("human", 40)):
        test = sum(r.label == label and r.split == "test" for r in m)
        assert abs(test - 0.15 * n) <= 1
    assert split_manifest(_manifest(), seed=3).records == m.records
    assert split_manifest(_manifest(), seed=4).records != m.records


def test_groups_never_straddle_splits():
    recs = [Record(f"ai{i}", "ai", group=f"g{i // 5}") for i in range(100)]
    recs += [Record(f"h{i}", "human", group=f"h{i // 5}") for i in range(100)]
    m = split_manifest(Manifest(recs), seed=0)
    by_group = {}
    for r in m:
        by_group.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in by_group.values())


def test_phash_finds_near_duplicates_and_separates_others():
    a = make_image("human", 1, size=64)
    a_small = a.resize((48, 48), Image.Resampling.BILINEAR)
    b = make_image("human", 2, size=64)
    ha, ha2, hb = phash(a), phash(a_small), phash(b)
    assert hamming(ha, ha2) <= 6 < hamming(ha, hb)
    assert near_duplicate_groups([ha, hb, ha2]) == [0, 1, 0]


def test_scan_groups_resized_copies_and_reports_bad_files(tmp_path):
    recs = []
    for i in range(4):
        img = make_image("ai", i, size=64)
        img.save(tmp_path / f"{i}.png")
        img.resize((56, 56)).save(tmp_path / f"{i}-copy.png")
        recs += [Record(str(tmp_path / f"{i}.png"), "ai"), Record(str(tmp_path / f"{i}-copy.png"), "ai")]
    (tmp_path / "broken.png").write_bytes(b"garbage")
    recs.append(Record(str(tmp_path / "broken.png"), "human"))
    result = scan(Manifest(recs), progress=False)
    assert [p for p, _ in result.errors] == [str(tmp_path / "broken.png")]
    groups = {r.path: r.group for r in result.manifest}
    for i in range(4):
        assert groups[str(tmp_path / f"{i}.png")] == groups[str(tmp_path / f"{i}-copy.png")]
    assert len(set(groups.values())) == 4


def test_existing_splits_are_kept_and_val_is_carved_from_train():
    recs = [Record(f"t{i}", "ai" if i % 2 else "human", split="train") for i in range(40)]
    recs += [Record(f"x{i}", "ai" if i % 2 else "human", split="test") for i in range(10)]
    m = split_manifest(Manifest(recs))
    assert sum(r.split == "test" for r in m) == 10 and sum(r.split == "val" for r in m) > 0


def test_leave_one_source_out():
    m = leave_one_out(_manifest(), "source", "s2")
    assert all(r.split == "test" for r in m if r.source == "s2")
    assert not any(r.split == "test" for r in m if r.source in ("s1", "s3"))
    with pytest.raises(ValueError, match="known values"):
        leave_one_out(_manifest(), "source", "nope")


def test_leave_one_generator_out_keeps_humans_in_every_split():
    m = leave_one_out(_manifest(), "generator", "g1")
    test = [r for r in m if r.split == "test"]
    assert {r.label for r in test} == {"ai", "human"}
    assert all(r.generator == "g1" for r in test if r.label == "ai")
    assert {r.split for r in m if r.label == "human"} == {"train", "val", "test"}


def test_subsets():
    m = _manifest(60, 40)
    assert subset(m, 10).counts() == {"ai": 10, "human": 10}
    assert subset(m, "full") is m and len(subset(m, "small")) == 100
    assert subset(m, 10, seed=1).records != subset(m, 10, seed=2).records
    with pytest.raises(ValueError, match="subset must be"):
        subset(m, "tiny")
