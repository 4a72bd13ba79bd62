"""Scans that survive being killed (issue 17): ``check --out FILE [--resume]``."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artcheck.cli import main
from artcheck.detect.results import SIDECAR_SUFFIX, ResultFile, read_rows
from tiny_backbone import build_exported_detector

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_exported_detector(tmp_path_factory.mktemp("tiny-exported"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A few hundred small images in nested folders, plus one file that is not an image."""
    root = tmp_path_factory.mktemp("scan")
    rng = np.random.default_rng(0)
    for i in range(300):
        sub = root / f"d{i % 7}"
        sub.mkdir(exist_ok=True)
        arr = rng.integers(0, 256, (24 + i % 13, 24 + i % 11, 3), dtype=np.uint8)
        if i % 3 == 0:
            arr = (arr // 64 * 64).astype(np.uint8)            # smoother: lower P(ai)
        Image.fromarray(arr).save(sub / f"img{i:03d}.png")
    (root / "notes.png").write_text("not an image")        # named like an image: its own error row
    return root


def _scan(folder, out, model_dir, *extra):
    return [sys.executable, "-m", "artcheck.cli", "check", str(folder), "--model", str(model_dir), "--out", str(out),
            "-q", "--flush-every", "8", "--workers", "1", *extra]


def _lines(path) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _by_path(rows):
    return {r["path"]: (r["verdict"], r["p_ai"], r["error"]) for r in rows}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_killed_and_resumed_scan_equals_an_uninterrupted_one(folder, model_dir, tmp_path, suffix):
    whole = tmp_path / f"whole{suffix}"
    res = subprocess.run(_scan(folder, whole, model_dir), capture_output=True, text=True)
    assert res.returncode == 1, res.stderr            # notes.png is not an image: exit 1, with its own row
    expected = read_rows(whole)
    assert len(expected) == 301 and len(_by_path(expected)) == 301

    out = tmp_path / f"killed{suffix}"
    rng = random.Random(17)
    kills = 0
    for attempt in range(40):
        before = _lines(out)
        proc = subprocess.Popen(_scan(folder, out, model_dir, "--resume"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        if kills < 4:      # kill at a random moment once the scan is under way: after 1-60 new rows, plus 0-50 ms
            target = before + rng.randint(1, 60)
            while proc.poll() is None and _lines(out) < target:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        proc.wait()
        if proc.returncode in (0, 1):
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert kills >= 3, f"the scan finished before it could be killed three times ({kills})"
    assert proc.returncode == 1
    rows = read_rows(out)
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)), "a row was written twice"
    assert _by_path(rows) == _by_path(expected)


def test_a_half_written_last_line_is_cut_and_its_file_checked_again(folder, model_dir, tmp_path):
    out = tmp_path / "r.jsonl"
    one = sorted(str(p) for p in folder.rglob("*.png"))[:5]
    assert main(["check", *one[:3], "--model", str(model_dir), "--out", str(out), "-q"]) == 0
    whole = out.read_text()
    last = whole.splitlines(keepends=True)[-1]
    out.write_text(whole[:-len(last) // 2])                 # a kill in the middle of writing the third row
    assert main(["check", *one, "--model", str(model_dir), "--out", str(out), "--resume", "-q"]) == 0
    rows = read_rows(out)
    assert [r["path"] for r in rows] == one[:2] + [one[2]] + one[3:]
    assert all(line.startswith("{") for line in out.read_text().splitlines())


def test_resume_is_refused_with_other_settings_and_says_what_differs(folder, model_dir, tmp_path, capsys):
    out = tmp_path / "r.csv"
    img = str(sorted(folder.rglob("*.png"))[0])
    assert main(["check", img, "--model", str(model_dir), "--out", str(out), "-q"]) == 0
    assert (tmp_path / ("r.csv" + SIDECAR_SUFFIX)).is_file()
    assert main(["check", img, "--model", str(model_dir), "--out", str(out), "-q"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["check", img, "--model", str(model_dir), "--out", str(out), "--resume", "--threshold", "0.7"]) == 2
    msg = capsys.readouterr().err
    assert "threshold" in msg and "0.7" in msg and "uncertain_band" in msg
    assert main(["check", img, "--model", str(model_dir), "--out", str(tmp_path / "r.txt")]) == 2
    assert ".jsonl" in capsys.readouterr().err
    assert main(["check", img, "--model", str(model_dir), "--resume"]) == 2


def test_a_changed_file_is_checked_again(folder, model_dir, tmp_path):
    src = sorted(folder.rglob("*.png"))[0]
    img = tmp_path / "x.png"
    img.write_bytes(src.read_bytes())
    out = tmp_path / "r.jsonl"
    assert main(["check", str(img), "--model", str(model_dir), "--out", str(out), "-q"]) == 0
    assert main(["check", str(img), "--model", str(model_dir), "--out", str(out), "--resume", "-q"]) == 0
    assert len(read_rows(out)) == 1                       # same path, size and mtime: skipped
    os.utime(img, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert main(["check", str(img), "--model", str(model_dir), "--out", str(out), "--resume", "-q"]) == 0
    rows = read_rows(out)
    assert len(rows) == 2 and rows[0]["mtime_ns"] != rows[1]["mtime_ns"]


def test_batches_are_on_disk_before_the_scan_ends(model_dir, tmp_path):
    """Each batch of --flush-every rows is written (and fsynced) as soon as it is full."""
    from artcheck.detect.detector import Verdict

    sink = ResultFile(tmp_path / "r.jsonl", {"model": {"name": "m"}}, flush_rows=3, flush_seconds=3600)
    for i in range(7):
        sink.add(Verdict(f"p{i}", "ai", 0.9), (f"p{i}", 1, 1))
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 6    # two batches; one row in flight
    sink.close()
    assert len(read_rows(tmp_path / "r.jsonl")) == 7
    assert json.loads((tmp_path / ("r.jsonl" + SIDECAR_SUFFIX)).read_text())["format"] == "jsonl"


def test_parquet_is_a_folder_of_parts_and_resumes(folder, model_dir, tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "r.parquet"
    imgs = sorted(str(p) for p in folder.rglob("*.png"))[:20]
    assert main(["check", *imgs[:12], "--model", str(model_dir), "--out", str(out), "--flush-every", "5", "-q"]) == 0
    assert len(list(out.glob("part-*.parquet"))) == 3
    assert main(["check", *imgs, "--model", str(model_dir), "--out", str(out), "--resume", "-q"]) == 0
    rows = read_rows(out)
    assert sorted(r["path"] for r in rows) == sorted(imgs)
    assert all(isinstance(r["p_ai"], float) for r in rows)
