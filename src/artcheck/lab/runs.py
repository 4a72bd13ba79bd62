"""Run directories: what training writes and what evaluation, prediction and export read.

Weights are safetensors plus a JSON description (never pickle)."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

WEIGHTS_FILE = "model.safetensors"
MODEL_FILE = "model.json"
CONFIG_FILE = "config.json"
HISTORY_FILE = "metrics.jsonl"
SPLIT_FILE = "split.csv"
SKIPPED_FILE = "skipped.csv"
SUMMARY_FILE = "summary.json"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("artcheck", "torch", "torchvision", "numpy", "Pillow", "scikit-learn", "onnxruntime"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_sha() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n")


def save_model(run_dir: Path, model: Any) -> None:
    """model.json (what it is) plus its weights: safetensors for torch, skops for scikit-learn."""
    kind = getattr(model, "family", "torch")
    if kind in ("classical", "vlm"):        # skops pipeline / LoRA adapter: the model saves itself
        model.save(run_dir)
    else:
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(run_dir / WEIGHTS_FILE))
    write_json(run_dir / MODEL_FILE, {
        "name": model.registry_name, "kwargs": model.registry_kwargs, "kind": kind,
        "preprocess": model.preprocess.to_dict(), "num_outputs": model.num_outputs,
        "classes": list(model.classes),
    })


def load_model(run_dir: str | Path) -> Any:
    """Rebuild a trained model from a run directory."""
    from safetensors.torch import load_file

    from artcheck.models import create_model

    run_dir = Path(run_dir)
    if not (run_dir / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{run_dir}: no {MODEL_FILE}; expected a run directory written by 'artcheck train'")
    info = json.loads((run_dir / MODEL_FILE).read_text())
    model = create_model(info["name"], **info.get("kwargs", {}))
    if info.get("kind") in ("classical", "vlm"):
        return model.load_fitted(run_dir)
    if not (run_dir / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{run_dir}: no {WEIGHTS_FILE}; expected a run directory written by 'artcheck train'")
    if len(info.get("classes", ())) > 2:
        model.set_classes(tuple(info["classes"]))
    model.load_state_dict(load_file(str(run_dir / WEIGHTS_FILE)))
    model.eval()
    return model
