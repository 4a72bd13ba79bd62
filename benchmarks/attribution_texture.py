"""Family attribution from the spread of the patch tokens, not only their mean (issue 27).

    python benchmarks/attribution_texture.py    # about 10 minutes here; results/attribution_texture.json

The shipped family head reads, per block of the CLIP tower, the CLS token and the mean of the
patch tokens: what an image shows and its overall style. Held out by source it mostly names the
subject (anime-style images as SD 1.x, whoever made them). A generator's own traces are local
texture, which a mean over 196 patches averages away but their per-channel standard deviation
keeps (the diagonal of a Gram matrix, as in style transfer; the fast tier reads its CNN the same
way). This adds, per block, the per-channel std of the patch tokens (12 x 768 values) and
measures the head on them alone, beside the shipped features, and from the first six blocks only
(the less semantic ones), with the shipped head's protocol (``lab.attribution``: 5 folds over
hold-out units, temperature-calibrated, macro over families with at least 3 sources).

The tower is ``lab.clip_torch`` with the shipped weights, float32; the statistics are cached in
artcheck's cache folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from attribution_alternatives import detector_columns, row  # noqa: E402
from common import shipped_training_data, write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "attribution_texture.json"


def token_std(paths: list[str], file: Path) -> np.ndarray:
    """(N, 12 x 768) per block the per-channel standard deviation of the 196 patch tokens."""
    if file.is_file():
        S = np.load(file)
        if len(S) == len(paths):
            return S
    import torch

    from artcheck.detect.backbones import get_backbone, get_spec
    from artcheck.images import load_image
    from artcheck.lab.clip_torch import ClipVision
    from artcheck.progress import track

    pre = get_spec("clip-vit-b16").preprocess
    model = ClipVision.from_onnx(get_backbone("clip-vit-b16", fetch=True).path)
    out = []
    for s in track(range(0, len(paths), 16), "patch-token statistics"):
        x = np.stack([pre.to_uint8(load_image(p).image.convert("RGB")) for p in paths[s:s + 16]])
        with torch.inference_mode():
            _, blocks = model(torch.from_numpy(pre.normalize(x)))
        out.append(torch.cat([h[:, 1:].std(1) for h in blocks], 1).numpy())
    S = np.concatenate(out)
    file.parent.mkdir(parents=True, exist_ok=True)
    np.save(file, S)
    return S


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    from artcheck.detect.arithmetic import cpu_info
    from artcheck.detect.weights import cache_dir
    from artcheck.lab.attribution import attribution_pool, attribution_rows, head_fit, heldout_logits, heldout_metrics

    data = shipped_training_data()
    X, fam, src, units = attribution_pool(data)
    X = X[:, detector_columns()]
    S = token_std([r.path for r in attribution_rows(data)], cache_dir().parent / "attribution_texture" / "std.npy")
    classes = sorted(set(fam))
    out = {}
    variants = {
        "the shipped head (CLS + mean patch of all blocks)": X,
        "patch-token std of all blocks alone": S,
        "patch-token std of blocks 1-6 alone": S[:, :6 * 768],
        "shipped features + patch-token std of all blocks": np.concatenate([X, S], 1),
        "shipped features + patch-token std of blocks 1-6": np.concatenate([X, S[:, :6 * 768]], 1),
    }
    print("| features | macro top-1 | macro top-3 | pooled top-1 | pooled top-3 | ECE |\n|---|---|---|---|---|---|")
    for name, F in variants.items():
        m = heldout_metrics(heldout_logits(F, fam, units, head_fit(F, fam, src), classes, progress=False), fam, src)
        out[name] = {**row(m), "per_family_top1": {c: v["top1"] for c, v in m["per_family"].items()}}
        print(f"| {name} | {m['macro_top1']:.3f} | {m['macro_top3']:.3f} | {m['pooled_top1']:.3f} | "
              f"{m['pooled_top3']:.3f} | {m['ece_top']:.3f} |", flush=True)
    write_json(RESULTS, {"cpu": cpu_info(), "n": len(fam), "rows": out,
                         "command": "python benchmarks/attribution_texture.py"})


if __name__ == "__main__":
    main()
