"""``artcheck train --ddp N``: the same training in N processes (issue 17)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from artcheck.data import Manifest, read_dataset  # noqa: E402
from artcheck.lab import runs  # noqa: E402
from artcheck.lab.config import TrainConfig  # noqa: E402
from artcheck.lab.evaluate import evaluate, select_split  # noqa: E402
from artcheck.lab.train import train  # noqa: E402


def _auc(run, data):
    split = Manifest.from_csv(run / runs.SPLIT_FILE)
    return evaluate(runs.load_model(run), select_split(read_dataset(data), split, "test"), progress=False
                    ).overall["roc_auc"]


@pytest.mark.slow
def test_two_processes_train_as_well_as_one_and_write_the_same_run(synth_dir, tmp_path):
    base = dict(data=str(synth_dir), model="bird-lotfi", epochs=12, batch_size=32, seed=0, workers=1)
    one = train(TrainConfig(**base, out=str(tmp_path / "one")), progress=False)
    two = train(TrainConfig(**base, out=str(tmp_path / "two")), progress=False, ddp=2)
    assert sorted(p.name for p in one.run_dir.iterdir()) == sorted(p.name for p in two.run_dir.iterdir())
    assert len(two.history) == len(open(two.run_dir / runs.HISTORY_FILE).readlines()) >= 1
    # every process trained on its half: the epoch's count is the whole train split, as with one process
    assert two.history[0]["train_acc"] >= 0 and one.history[0].keys() == two.history[0].keys()
    a1, a2 = _auc(one.run_dir, synth_dir), _auc(two.run_dir, synth_dir)
    assert a1 > 0.9 and a2 > 0.9 and abs(a1 - a2) < 0.08, (a1, a2)


def test_ddp_refuses_a_scikit_learn_model(synth_dir, tmp_path):
    from artcheck.cli import main

    assert main(["train", "--data", str(synth_dir), "--model", "logreg-pixels", "--ddp", "2", "--out",
                 str(tmp_path / "x"), "-q"]) == 2
