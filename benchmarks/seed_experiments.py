"""The seed projects' experiments, leave-one-source-out on wild-dev (docs/experiments.md).

    python benchmarks/seed_experiments.py [--configs configs/experiments/*.yaml] [--data ../shared/data/wild-dev]

For each config and each source S: train on the other sources (``artcheck train`` with the
config, val carved from them), then score S's images three ways: as they are, with a visible
text watermark on every image (``text=0.5``), and in grayscale. Metrics are pooled over the
held-out predictions, so every image is scored by a model that never saw its source.
Writes benchmarks/results/seed_experiments.{json,md}.
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import WILD_DEV, fmt, sources_of, write_json  # noqa: E402

from artcheck.lab import perturb, runs  # noqa: E402
from artcheck.lab.config import TrainConfig  # noqa: E402
from artcheck.data import Manifest, read_dataset  # noqa: E402
from artcheck.lab.evaluate import binary_metrics, select_split  # noqa: E402
from artcheck.images import load_image  # noqa: E402
from artcheck.lab.train import train  # noqa: E402

VIEWS = {"clean": None, "text watermark 0.5": ("text", 0.5), "grayscale": ("grayscale", 1.0)}


def score_view(model, manifest: Manifest, view, grayscale: bool) -> tuple[np.ndarray, np.ndarray]:
    y, arrays = [], []
    for k, r in enumerate(manifest):
        img = load_image(r.path).image
        if view:
            img = perturb.apply(img, view[0], view[1], seed=k)
        if grayscale:
            img = img.convert("L").convert("RGB")
        arrays.append(model.preprocess.to_uint8(img))
        y.append(r.target)
    p = np.concatenate([model.predict_arrays(np.stack(arrays[i:i + 64])) for i in range(0, len(arrays), 64)])
    return np.asarray(y), p


def run_config(path: str, data: str, seed: int, work: Path) -> dict:
    values = yaml.safe_load(Path(path).read_text())
    per_view = {v: ([], []) for v in VIEWS}
    per_source: dict[str, float] = {}
    t0 = time.perf_counter()
    for src in sources_of(data):
        cfg = TrainConfig(**{**values, "data": data, "seed": seed, "holdout_by": "source", "holdout": src,
                             "out": str(work / f"{Path(path).stem}-{src}")})
        result = train(cfg, progress=False)
        model = runs.load_model(result.run_dir)
        test = select_split(read_dataset(data), Manifest.from_csv(result.run_dir / runs.SPLIT_FILE), "test")
        for name, view in VIEWS.items():
            y, p = score_view(model, test, view, cfg.grayscale)
            per_view[name][0].append(y)
            per_view[name][1].append(p)
            if name == "clean":
                per_source[src] = float(np.mean((p >= 0.5) == y))
        print(f"  {Path(path).stem} holdout={src}: epochs={len(result.history)} acc={per_source[src]:.3f}", flush=True)
    out = {"config": values, "minutes": (time.perf_counter() - t0) / 60, "per_source_accuracy": per_source}
    for name, (ys, ps) in per_view.items():
        m = binary_metrics(np.concatenate(ys), np.concatenate(ps))
        out[name] = {k: m[k] for k in ("balanced_accuracy", "roc_auc", "human_false_positive_rate")}
    return out


def table(results: dict[str, dict], sources: list[str]) -> str:
    head = ["experiment"] + [f"{v}: bal. acc / AUC" for v in VIEWS] + ["human FPR (clean)"] + \
           [f"acc {s}" for s in sources] + ["minutes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        row = [name] + [f"{fmt(r[v]['balanced_accuracy'])} / {fmt(r[v]['roc_auc'])}" for v in VIEWS]
        row += [fmt(r["clean"]["human_false_positive_rate"])]
        row += [fmt(r["per_source_accuracy"].get(s)) for s in sources] + [f"{r['minutes']:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(WILD_DEV))
    ap.add_argument("--configs", nargs="*", default=sorted(glob.glob("configs/experiments/*.yaml")))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--name", default="seed_experiments", help="results file stem")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for path in args.configs:
            results[Path(path).stem] = run_config(path, args.data, args.seed, Path(work))
            print(Path(path).stem, {v: results[Path(path).stem][v] for v in VIEWS}, flush=True)
    write_json(Path(args.out) / f"{args.name}.json", {"args": vars(args), "results": results})
    text = table(results, sources_of(args.data))
    (Path(args.out) / f"{args.name}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
