"""``check --engine ray``: the Ray Data pipeline gives the plain engine's rows (issue 17)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray.data")

from artcheck.cli import main  # noqa: E402
from artcheck.detect.results import read_rows  # noqa: E402
from tiny_backbone import build_exported_detector  # noqa: E402


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, object_store_memory=128 * 1024 * 1024, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    yield
    ray.shutdown()


def _rows(path):
    return {r["path"]: (r["verdict"], r["p_ai"], r["error"], r["size"], r["mtime_ns"]) for r in read_rows(path)}


@pytest.mark.slow
def test_ray_engine_matches_the_plain_engine_and_resumes_its_output(synth_dir, tmp_path, ray_local):
    model = build_exported_detector(tmp_path / "m")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in sorted(synth_dir.rglob("*.png"))[:60]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "empty.jpg").write_bytes(b"")
    plain, ray_out = tmp_path / "plain.jsonl", tmp_path / "ray.jsonl"
    assert main(["check", str(folder), "--model", str(model), "--out", str(plain), "-q"]) == 1
    assert main(["check", str(folder), "--model", str(model), "--out", str(ray_out), "-q", "--engine", "ray",
                 "--actors", "2", "--batch-size", "8"]) == 1
    expected = _rows(plain)
    assert len(expected) == 62 and _rows(ray_out) == expected
    errors = {p: r[2] for p, r in expected.items() if r[2]}
    assert len(errors) == 2 and any("empty" in e for e in errors.values())

    # a plain scan cut short, finished by Ray: the same rows, none twice
    part = tmp_path / "part.jsonl"
    assert main(["check", *sorted(str(p) for p in folder.iterdir())[:20], "--model", str(model), "--out", str(part),
                 "-q"]) in (0, 1)
    assert main(["check", str(folder), "--model", str(model), "--out", str(part), "--resume", "-q",
                 "--engine", "ray"]) == 1
    rows = read_rows(part)
    assert len(rows) == 62 and _rows(part) == expected


def test_ray_options_need_the_ray_engine(tmp_path, capsys):
    assert main(["check", str(tmp_path), "--actors", "2"]) == 2
    assert "--engine ray" in capsys.readouterr().err
