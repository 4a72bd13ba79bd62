"""Real screenshots of programs, for the input check that answers `uncertain` on screenshots
(issue 26, point 5). Fetched by package name from Debian with apt, kept byte for byte.

    python scripts/screenshot_sources.py [--out data/screenshots]

Three suites, each the screenshots of one desktop's manuals, so that a check fitted on two can
be measured on the third (leave-one-suite-out):

- ``gimp``: the GIMP 2.10 manual (gimp-help-en, GFDL-1.2+): its dialog, menu, preference and
  tool-option pictures only (the manual's other folders hold filter examples and diagrams).
  About one picture in ten there is still an example rather than a window: label noise, kept.
- ``kde``: the English handbooks of Dolphin, Okular, Gwenview, Kdenlive, Spectacle and Konsole
  (KDE documentation, GFDL-1.2+).
- ``gnome``: the GNOME help's original-language figures (gnome-user-docs, CC-BY-SA-3.0).

Pictures under 96 px on the short side (icons, buttons) are left out. ``manifest.csv`` records
each file's suite, package, path in the package and licence. These images never train the
detector's verdict; they teach only the screenshot check (``artcheck build-screenshot-check``).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extra_sources import debian_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MIN_SIDE = 96
# suite -> [(Debian package, path pattern, licence)]
SUITES = {
    "gimp": [("gimp-help-en", re.compile(r"help/en/images/(dialogs|menus|preferences|tool-options)/.*\.png$"),
              "GFDL-1.2+")],
    "kde": [(p, re.compile(r"doc/HTML/en/.*\.png$"), "GFDL-1.2+")
            for p in ("dolphin", "okular", "gwenview", "kdenlive-data", "kde-spectacle", "konsole")],
    "gnome": [("gnome-user-docs", re.compile(r"help/C/gnome-help/figures/.*\.(png|jpg)$"), "CC-BY-SA-3.0")],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "data" / "screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    rows = []
    for suite, packages in SUITES.items():
        (out / suite).mkdir(parents=True, exist_ok=True)
        for package, pattern, licence in packages:
            with tempfile.TemporaryDirectory() as tmp:
                for path, rel in debian_files(Path(tmp), package, pattern):
                    try:
                        with Image.open(path) as im:
                            if min(im.size) < MIN_SIDE:
                                continue
                    except OSError:
                        continue
                    name = f"{package}-" + re.sub(r"[^A-Za-z0-9.-]+", "-", rel.split("/en/")[-1].split("/C/")[-1])
                    (out / suite / name).write_bytes(path.read_bytes())
                    rows.append({"path": f"{suite}/{name}", "suite": suite, "package": package,
                                 "origin": f"debian:{package}:{rel}", "licence": licence})
        print(f"{suite}: {sum(r['suite'] == suite for r in rows)} screenshots")
    with (out / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} files and manifest.csv under {out}")


if __name__ == "__main__":
    main()
