"""A cheaper CLIP for a fast tier: the same tower fed a fixed subset of its patch tokens.

    python benchmarks/token_subset.py [--kinds s2 cb]    # about 20 min per kind here; results/token_subset.json

The MobileNetV2 student (``--model fast``) is 0.13 balanced accuracy below the default held out, and
training its last stages does not help (``benchmarks/student_tail.py``). A ViT needs no fixed input
grid: after the patch embedding and the position embeddings, any subset of the 196 patch tokens can go
through the 12 blocks, and the cost of the blocks falls with the token count. Kinds:

- ``s2``: every second row and column of the 14 x 14 patch grid, 49 patches (+ CLS: 50 tokens);
- ``cb``: a checkerboard, 98 patches (99 tokens).

The kept patches see the image at full resolution (unlike a smaller input, which would blur the
traces a detector reads). Features are the detector's layout (``backbones.pool_layers``: unit
embedding, per block unit CLS and unit mean of the kept patch tokens), computed by the torch tower
(``lab.clip_torch``, the shipped weights); the head is the default's recipe, measured exactly as
``artcheck build-detector`` measures the default: leave-one-unit-out over the shipped pool, calibrated
held-out scores, pooled and macro, clean and after JPEG q60 + 0.75x. Forward speed is the torch
tower's, one image per call and in batches of 8 (no ONNX graph of the subset was built).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import shipped_training_data, write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "token_subset.json"
KINDS = {"s2": "quarter", "cb": "checkerboard"}      # this benchmark's names for clip_graph.TOKEN_SUBSETS


def kept_tokens(kind: str) -> np.ndarray:
    """Token indices (0 = CLS) a kind keeps (the library's subsets; "full": all 197)."""
    from artcheck.detect.clip_graph import kept_tokens as subset

    return np.arange(197) if kind == "full" else subset(KINDS[kind])


def tower(kind: str):
    import torch

    from artcheck.detect.backbones import get_backbone
    from artcheck.lab.clip_torch import ClipVision

    m = ClipVision.from_onnx(get_backbone("clip-vit-b16", fetch=True).path)
    m.keep = torch.from_numpy(kept_tokens(kind))
    return m


def forward_speed(kind: str, seconds: float = 6.0) -> dict:
    import torch

    from artcheck.detect.backbones import get_spec

    pre = get_spec("clip-vit-b16").preprocess
    x = torch.from_numpy(pre.normalize(np.random.default_rng(0).integers(0, 256, (8, 224, 224, 3), dtype=np.uint8)))
    m, out = tower(kind), {}
    with torch.no_grad():
        for name, batch in (("one per call", x[:1]), ("batch 8", x)):
            m.features(batch)
            t, n = time.perf_counter(), 0
            while time.perf_counter() - t < seconds:
                m.features(batch)
                n += len(batch)
            out[name] = round(n / (time.perf_counter() - t), 2)
    return out


def features(kind: str, view: str, paths: list[str], cache: Path) -> np.ndarray:
    import torch

    from artcheck.detect.backbones import get_spec
    from artcheck.images import load_image
    from artcheck.lab.pool import _robust
    from artcheck.progress import track

    f = cache / f"clip-{kind}-{view}.npy"
    if f.exists():
        return np.load(f)
    pre, m, out = get_spec("clip-vit-b16").preprocess, tower(kind), []
    for s in track(range(0, len(paths), 16), f"CLIP, {len(kept_tokens(kind))} tokens, {view}"):
        arr = []
        for i in range(s, min(s + 16, len(paths))):
            im = load_image(paths[i]).image.convert("RGB")
            arr.append(pre.to_uint8(_robust(im, i) if view == "robust" else im))
        with torch.no_grad():
            out.append(m.features(torch.from_numpy(pre.normalize(np.stack(arr)))).numpy())
    X = np.concatenate(out).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(f, X)
    return X


def held_out(kind: str, manifest, cache: Path) -> dict:
    """The default's recipe on the kind's features, measured as ``build-detector`` measures the default."""
    from artcheck.detect.probe import _sigmoid
    from artcheck.lab.build_detector import DEFAULT_RECIPE
    from artcheck.lab.calibration import choose_calibration, cross_fitted
    from artcheck.lab.folds import held_out_summary, loso_logits
    from artcheck.lab.pool import ROBUST_VARIANT

    paths = [r.path for r in manifest]
    y = np.array([r.target for r in manifest])
    src = np.array([r.source for r in manifest])
    views = {"clean": features(kind, "clean", paths, cache), ROBUST_VARIANT: features(kind, "robust", paths, cache)}
    lg = loso_logits(views, y, src, DEFAULT_RECIPE, 0, ("clean", ROBUST_VARIANT),
                     groups=np.array([r.group for r in manifest]))
    method, cmap, _ = choose_calibration(lg["clean"], y)
    clean = held_out_summary(y, cross_fitted(method, lg["clean"], y), src)
    robust = held_out_summary(y, _sigmoid(cmap[0] * lg[ROBUST_VARIANT] + cmap[1]), src)
    return {"held_out": clean, "held_out_robust": robust, "calibration": method}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", nargs="+", default=["s2", "cb"], choices=["s2", "cb"])
    ap.add_argument("--cache", default=None, help="folder for the features (default: artcheck's cache)")
    args = ap.parse_args()

    from artcheck.detect.arithmetic import cpu_info
    from artcheck.detect.weights import cache_dir
    from artcheck.lab.pool import training_manifest

    cpu = cpu_info()
    print("CPU:", cpu, flush=True)
    cache = Path(args.cache) if args.cache else cache_dir().parent / "token_subset"
    manifest = training_manifest(shipped_training_data())
    # speeds first, before the long held-out runs, so that nothing else is running beside them
    rows = {kind: {"tokens": len(kept_tokens(kind)), "forward_images_per_s": forward_speed(kind)}
            for kind in ["full", *args.kinds]}
    print("forward images/s:", {k: v["forward_images_per_s"] for k, v in rows.items()}, flush=True)
    for kind in args.kinds:
        t0 = time.perf_counter()
        rows[kind].update(**held_out(kind, manifest, cache), seconds=round(time.perf_counter() - t0))
        print(kind, {k: v for k, v in rows[kind].items() if k != "held_out_robust"}, flush=True)
    write_json(RESULTS, {"cpu": cpu, "n": len(manifest), "kinds": rows,
                         "command": "python benchmarks/token_subset.py " + " ".join(sys.argv[1:])})


if __name__ == "__main__":
    main()
