"""Scores on this CPU kind: does the shipped code give the cards' sample scores here, and how far
is each arithmetic path from the float64 reference? One entry per CPU kind in each detector's
``cpu_checks`` (replacing an earlier entry for the same CPU model and flags), shown in its card.

    python benchmarks/cpu_kinds.py [--seconds 10] [--card src/artcheck/assets/default src/artcheck/assets/half src/artcheck/assets/fast]

For each detector folder: every bundled sample scored with the path the load-time probe chose,
the largest drift from the scores the card records, and (for a backbone with several paths) each
path's largest P(ai) deviation from the float64 reference and its forward-only images/s. Speeds
differ between CPUs; the scores must not (issue 23).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from artcheck.data.synthetic import make_image
from artcheck.detect.arithmetic import P_AI_TOLERANCE, cpu_info
from artcheck.detect.detector import DETECTOR_FILE, load_detector
from artcheck.lab.card import bundled_sample_scores, store_in_card
from check_speed import forward_speed  # benchmarks/, run as a script


def forward_images_per_s(det, seconds: float, batch: int = 16) -> float:
    """check_speed's forward-only figure, on the same generated arrays."""
    arrays = np.stack([det.backbone.preprocess.to_uint8(make_image("ai", i, size=512)) for i in range(batch)])
    return round(forward_speed(det, arrays, batch, seconds), 2)


def check_folder(folder: Path, seconds: float) -> dict:
    cfg = json.loads((folder / DETECTOR_FILE).read_text())
    recorded = {s["file"]: s["p_ai_exact"] for s in cfg["bundled_samples"]}
    rows = bundled_sample_scores(folder)
    drift = max(abs(r["p_ai_exact"] - recorded[r["file"]]) for r in rows)
    entry = {"cpu": cpu_info(), "samples": len(rows), "largest_drift_from_card": drift,
             "within_tolerance": drift <= P_AI_TOLERANCE, "command": "python benchmarks/cpu_kinds.py"}
    if "p_ai_reference" in rows[0]:
        entry["shipped_path_deviation_from_reference"] = max(abs(r["p_ai_exact"] - r["p_ai_reference"]) for r in rows)
    det = load_detector(folder, fetch=False)
    if det.arithmetic is not None:
        entry["path"], entry["deviation"] = det.arithmetic.path, det.arithmetic.deviation
        entry["forward_images_per_s"] = {}
        for name in det.backbone.spec.arithmetic:
            det.backbone = det.backbone.with_arithmetic(name)
            entry["forward_images_per_s"][name] = forward_images_per_s(det, seconds)
    else:
        entry["forward_images_per_s"] = {"as stored": forward_images_per_s(det, seconds)}
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--card", nargs="*", default=["src/artcheck/assets/default", "src/artcheck/assets/half",
                                                  "src/artcheck/assets/fast"],
                    help="detector folders to check (each card gets this CPU's entry)")
    ap.add_argument("--seconds", type=float, default=10.0, help="forward-only: seconds per path")
    ap.add_argument("--dry-run", action="store_true", help="print, do not store in the cards")
    args = ap.parse_args()
    print("CPU:", json.dumps(cpu_info()), flush=True)
    for folder in map(Path, args.card):
        entry = check_folder(folder, args.seconds)
        print(folder.name, json.dumps(entry), flush=True)
        if args.dry_run:
            continue
        cfg = json.loads((folder / DETECTOR_FILE).read_text())
        same = (entry["cpu"]["model"], entry["cpu"]["flags"])
        checks = [c for c in cfg.get("cpu_checks", []) if (c["cpu"]["model"], c["cpu"]["flags"]) != same]
        store_in_card(folder, "cpu_checks", checks + [entry])


if __name__ == "__main__":
    main()
