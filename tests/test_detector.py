import io
import json

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from artcheck.detect.backbones import get_backbone
from artcheck.cli import main
from artcheck.data import read_dataset
from artcheck.detect.detector import load_detector
from artcheck.detect.features import FeatureCache, extract
from artcheck.detect.probe import LinearProbe


@pytest.fixture(scope="module")
def det(tiny_detector_dir):
    return load_detector(tiny_detector_dir)


def test_probe_separates_synthetic_classes(det, synth_dir):
    manifest = read_dataset(synth_dir)
    verdicts = det.check([r.path for r in manifest])
    p = np.array([v.p_ai for v in verdicts])
    y = np.array([r.target for r in manifest])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) > 0.95
    assert {v.verdict for v in verdicts} <= {"ai", "human", "uncertain"}


def test_verdict_fields_and_inputs(det, synth_dir):
    path = next(synth_dir.glob("ai/*.png"))
    v = det.check(str(path))
    d = v.to_dict()
    assert set(d) >= {"path", "verdict", "p_ai", "evidence", "model", "image", "error"}
    assert d["error"] is None and d["image"]["width"] == 32 and len(d["image"]["sha256"]) == 64
    assert d["model"] == {"name": "tiny-test", "version": "0"} and d["evidence"][-1]["kind"] == "model"
    assert det.check(path.read_bytes()).p_ai == pytest.approx(v.p_ai)
    assert det.check(Image.open(path)).p_ai == pytest.approx(v.p_ai, abs=1e-4)


def test_hugging_face_call_shape(det, synth_dir):
    out = det(str(next(synth_dir.glob("human/*.png"))))
    assert [d["label"] for d in out] in (["ai", "human"], ["human", "ai"])
    assert out[0]["score"] >= out[1]["score"] and sum(d["score"] for d in out) == pytest.approx(1, abs=1e-3)


def test_strong_provenance_decides_ai(det, synth_dir):
    human = Image.open(next(synth_dir.glob("human/*.png")))
    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    buf = io.BytesIO()
    human.save(buf, format="PNG", pnginfo=info)
    plain = det.check(str(next(synth_dir.glob("human/*.png"))))
    tagged = det.check(buf.getvalue())
    assert plain.verdict != "ai" and tagged.verdict == "ai"
    assert tagged.reason.startswith("AI: Automatic1111")
    assert tagged.p_ai == pytest.approx(plain.p_ai, abs=1e-3)   # the model's own score is kept


def test_threshold_replaces_band(tiny_detector_dir):
    d = load_detector(tiny_detector_dir, threshold=0.5)
    assert d.lo == d.hi == 0.5


def test_bad_inputs_each_get_an_error(det, tmp_path, synth_dir):
    good = next(synth_dir.glob("ai/*.png"))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:200])
    paths = [str(good), str(tmp_path / "empty.png"), str(tmp_path / "text.jpg"), str(tmp_path / "cut.png"),
             str(tmp_path / "missing.png")]
    verdicts = det.check(paths)
    assert [v.path for v in verdicts] == paths
    assert verdicts[0].error is None
    assert all(v.error and v.verdict is None for v in verdicts[1:])
    assert "empty" in verdicts[1].error and "not an image" in verdicts[2].error


def test_cli_check_formats_and_exit_codes(tiny_detector_dir, synth_dir, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, p in enumerate(sorted(synth_dir.glob("*/*.png"))[:6]):
        (folder / f"{i}.png").write_bytes(p.read_bytes())
    assert main(["check", str(folder), "--model", str(tiny_detector_dir), "-f", "json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["checked"] == 6 and len(data["results"]) == 6
    (folder / "notes.txt").write_text("not an image")      # met in a folder: counted as skipped, exit 0
    assert main(["check", str(folder), "--model", str(tiny_detector_dir), "-f", "jsonl", "-q"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6
    (folder / "broken.png").write_text("not an image")     # named like an image: its own error row, exit 1
    assert main(["check", str(folder), "--model", str(tiny_detector_dir), "-f", "jsonl", "-q"]) == 1
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert len(lines) == 7 and sum(l["error"] is not None for l in lines) == 1
    (folder / "broken.png").unlink()
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.png").write_bytes((folder / "0.png").read_bytes())
    assert main(["check", str(folder), "--model", str(tiny_detector_dir), "-q"]) == 0     # the table
    out = capsys.readouterr().out
    # the shared folder once above the table, each file by its name relative to it
    assert f"in{folder}" in "".join(out.split()) and "sub/deep.png" in out and f"{folder}/0.png" not in out
    (folder / "sub" / "deep.png").unlink()
    assert main(["check", str(folder / "*.png"), "--model", str(tiny_detector_dir), "-f", "csv", "-q"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("path,verdict,p_ai")
    assert main(["check", str(folder), "--model", str(tiny_detector_dir), "-f", "xml"]) == 2
    assert main(["check", str(tmp_path / "nothing*.png"), "--model", str(tiny_detector_dir)]) == 2
    assert main(["check", str(tmp_path / "no-such-file.png"), "--model", str(tiny_detector_dir)]) == 2
    assert main(["check", str(folder), "--model", str(tmp_path)]) == 2


def test_feature_cache_hits(tiny_detector_dir, synth_dir, tmp_path):
    from tiny_backbone import NAME

    backbone = get_backbone(NAME)
    paths = [str(p) for p in sorted(synth_dir.glob("ai/*.png"))[:5]]
    cache = FeatureCache(NAME, root=tmp_path)
    first, _, _ = extract(backbone, paths, cache, progress=False)
    assert cache.misses == 5 and cache.hits == 0
    again = FeatureCache(NAME, root=tmp_path)
    second, _, _ = extract(backbone, paths, again, progress=False)
    assert again.hits == 5 and again.misses == 0 and np.allclose(first, second)


def test_unfitted_probe_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearProbe().proba_ai(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="both classes"):
        LinearProbe().fit(np.zeros((4, 2)), np.zeros(4))


def test_dynamic_quantised_backbone_is_batch_invariant(tmp_path):
    """DynamicQuantizeLinear scales over the whole batch: without per-image runs, an image's
    features would change with its batch-mates (seen on the CLIP INT8 model)."""
    import hashlib
    from dataclasses import replace

    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import quantize_dynamic

    from artcheck.detect.backbones import BackboneSpec, OnnxBackbone
    from artcheck.detect.preprocess import PreprocessConfig
    from artcheck.detect.weights import WeightSource

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(3 * 8 * 8, 16)).astype(np.float32), "w")
    nodes = [helper.make_node("Flatten", ["pixel_values"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["out"])]
    graph = helper.make_graph(nodes, "mm", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                                                          ["n", 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 16])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "mm.onnx"))
    quantize_dynamic(str(tmp_path / "mm.onnx"), str(tmp_path / "mm.int8.onnx"))
    sha = hashlib.sha256((tmp_path / "mm.int8.onnx").read_bytes()).hexdigest()
    spec = BackboneSpec("mm-int8", "test", PreprocessConfig((8, 8)), (WeightSource("file", sha, "MIT", "mm.int8.onnx"),),
                        "onnx", 16, arithmetic=("int8-exact",))
    batch = rng.integers(0, 40, (6, 8, 8, 3), dtype=np.uint8)   # dim images ...
    batch[5] = 255   # ... and one bright one that widens the batch's quantisation range
    fixed = OnnxBackbone(spec, tmp_path / "mm.int8.onnx")
    assert np.array_equal(fixed.features(batch)[:1], fixed.features(batch[:1]))
    naive = OnnxBackbone(replace(spec, arithmetic=()), tmp_path / "mm.int8.onnx")
    assert not np.allclose(naive.features(batch)[:1], naive.features(batch[:1]))   # the bug this guards against


def test_unexpected_decoder_and_reader_failures_never_hang_or_crash(det, synth_dir, monkeypatch):
    import artcheck.images as images
    import artcheck.provenance.watermark as watermark

    real_open = images.Image.open
    good = str(next(synth_dir.glob("ai/*.png")))

    def flaky_open(fp, *a, **kw):
        if fp.getbuffer().nbytes == 7:
            raise IndexError("decoder bug")
        return real_open(fp, *a, **kw)

    monkeypatch.setattr(images.Image, "open", flaky_open)
    monkeypatch.setattr(watermark, "read_watermark_evidence", lambda loaded: 1 / 0)
    verdicts = det.check([good, b"1234567"])
    assert verdicts[0].error is None and "IndexError" in verdicts[1].error
    assert any(e.kind == "watermark" and "could not be read" in e.detail for e in verdicts[0].evidence)


def test_producer_failure_is_raised_not_hung(det):
    def broken():
        yield b"x" * 10
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        list(det.check_many(broken(), batch_size=1))


def test_check_on_a_labelled_folder_reports_per_source_and_marks_training_sources(tiny_detector_dir, synth_dir,
                                                                                    tmp_path, capsys):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_detector_dir, model)
    cfg = json.loads((model / "detector.json").read_text())
    cfg["training_data"] = ["synth-ai-0"]
    (model / "detector.json").write_text(json.dumps(cfg))
    # the dataset's own manifest.csv is not an image and not a failure (issue 16)
    assert main(["check", str(synth_dir), "--model", str(model), "-f", "json"]) == 0
    report = capsys.readouterr().err
    lines = {l.split()[0]: l for l in report.splitlines() if l.startswith("synth-")}
    assert set(lines) == {"synth-ai-0", "synth-ai-1", "synth-human-0", "synth-human-1"}
    assert lines["synth-ai-0"].rstrip().endswith("*") and not lines["synth-ai-1"].rstrip().endswith("*")
    assert "in-distribution" in report


def test_check_on_a_folder_of_labelled_datasets_reports_every_source(tiny_detector_dir, synth_dir, tmp_path, capsys):
    import shutil

    parent = tmp_path / "sources"
    for name in ("one", "two"):
        shutil.copytree(synth_dir, parent / name)
    (parent / "one" / "notes.txt").write_text("not an image")       # other non-image files: counted, exit 0
    assert main(["check", str(parent), "--model", str(tiny_detector_dir), "-f", "json"]) == 0
    report = capsys.readouterr().err
    assert "3 files in folders skipped: not images (.txt 1); a dataset's own files" in " ".join(report.split())
    rows = {l.split()[0]: l.split() for l in report.splitlines() if l.startswith("synth-")}
    assert set(rows) == {"synth-ai-0", "synth-ai-1", "synth-human-0", "synth-human-1"}
    n = sum(1 for _ in synth_dir.rglob("*.png"))
    assert sum(int(r[2]) for r in rows.values()) == 2 * n   # both copies counted


def test_per_source_report_says_both_for_a_source_holding_both_labels(tmp_path):
    from types import SimpleNamespace

    from artcheck.cli.output import per_source_report
    from artcheck.data import Manifest, Record

    recs = [Record(str(tmp_path / f"{i}.png"), lab, source=src)
            for i, (lab, src) in enumerate([("ai", "mix"), ("human", "mix"), ("human", "mix"), ("ai", "pure")])]
    verdicts = [SimpleNamespace(path=r.path, verdict=v) for r, v in zip(recs, ["ai", "ai", "human", "ai"])]
    rows = {l.split()[0]: l.split() for l in per_source_report(verdicts, Manifest(recs)).splitlines()[2:]}
    assert rows["mix"][:4] == ["mix", "both", "3", "0.67"] and rows["pure"][:4] == ["pure", "ai", "1", "1.00"]
