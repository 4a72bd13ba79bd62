"""Train every seed CNN leave-one-source-out and report pooled held-out metrics.

    python benchmarks/seed_cnns.py [--data ../shared/data/wild-dev] [--epochs 15] [--out benchmarks/results]

With --cv grouped, the folds are stratified 5-fold over near-duplicate groups instead
(sources mixed: the in-distribution figure). For each model and each source S: train on all other sources (val carved from them,
early stopping on it), predict S. Each image is therefore scored by a model that never
saw its source; balanced accuracy and AUC are computed over all held-out predictions,
and per-source accuracy says how each source fared when held out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import WILD_DEV, Timer, grouped_folds, markdown_table, pooled_summary, sources_of, write_json  # noqa: E402

from artcheck.lab import runs  # noqa: E402
from artcheck.lab.config import TrainConfig  # noqa: E402
from artcheck.data import Manifest, read_dataset  # noqa: E402
from artcheck.lab.evaluate import predict_manifest, select_split  # noqa: E402
from artcheck.lab.train import train  # noqa: E402

MODELS = ["bird-lotfi", "bird-lotfi-128", "mai-cnn", "bn-cnn", "plain-cnn"]
LR = {"mai-cnn": 1e-4}


def _folds(data: str, cv: str, work: Path, seed: int) -> list[tuple[str, dict]]:
    """(fold name, TrainConfig fields) for each fold: held-out sources, or grouped k-fold manifests."""
    if cv == "source":
        return [(src, {"data": data, "holdout_by": "source", "holdout": src}) for src in sources_of(data)]
    manifest = read_dataset(data)
    folds = grouped_folds(manifest, seed=seed)
    out = []
    for k in sorted(set(folds.tolist())):
        path = work / f"fold{k}.csv"
        Manifest([replace(r, split="test" if f == k else "") for r, f in zip(manifest, folds)]).to_csv(path)
        out.append((f"fold{k}", {"data": str(path)}))
    return out


def run_model(name: str, data: str, epochs: int, seed: int, work: Path, config: dict | None = None,
              cv: str = "source") -> dict:
    fold_preds, train_s, n_train, infer_s = {}, 0.0, 0, 0.0
    for src, fold in _folds(data, cv, work, seed):
        values = {"model": name, "epochs": epochs, "lr": LR.get(name, 1e-3), **(config or {})}
        values.update(seed=seed, out=str(work / f"{name}-{src}"), **fold)
        cfg = TrainConfig(**values)
        result = train(cfg, progress=False)
        n_ep = len(result.history)
        split = Manifest.from_csv(result.run_dir / runs.SPLIT_FILE)
        n_train_fold = sum(r.split == "train" for r in split)
        train_s += sum(n_train_fold / h["train_images_per_s"] for h in result.history)
        n_train += n_train_fold * n_ep
        test = select_split(read_dataset(cfg.data), split, "test")
        with Timer() as t:
            fold_preds[src] = predict_manifest(runs.load_model(result.run_dir), test, progress=False)
        infer_s += t.seconds
        print(f"  {name} holdout={src}: epochs={n_ep} acc={float(((fold_preds[src].p_ai >= .5) == fold_preds[src].y).mean()):.3f}",
              flush=True)
    return pooled_summary(fold_preds, train_s, n_train, infer_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(WILD_DEV))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--config", help="a train config YAML (e.g. configs/mobilenet-v2-transfer-d.yaml): its model "
                                     "and hyperparameters replace --models/--epochs; data/seed/split come from here")
    ap.add_argument("--name", default="seed_cnns", help="results file stem")
    ap.add_argument("--cv", choices=("source", "grouped"), default="source",
                    help="source: leave-one-source-out; grouped: stratified 5-fold over near-duplicate groups")
    args = ap.parse_args()
    config = None
    if args.config:
        import yaml

        config = {k: v for k, v in yaml.safe_load(Path(args.config).read_text()).items() if k not in ("data", "out")}
        args.models = [config.pop("model")]
        args.epochs = config.pop("epochs", args.epochs)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for name in args.models:
            results[name] = run_model(name, args.data, args.epochs, args.seed, Path(work), config, args.cv)
            print(name, {k: v for k, v in results[name].items() if k != "per_source_accuracy"}, flush=True)
    write_json(Path(args.out) / f"{args.name}.json", {"args": vars(args), "config": config, "results": results})
    table = markdown_table(results, sources_of(args.data) if args.cv == "source" else
                           [f"fold{k}" for k in range(5)])
    (Path(args.out) / f"{args.name}.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
