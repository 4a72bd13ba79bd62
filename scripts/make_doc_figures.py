"""The pictures in docs/evaluation.md, from the bundled samples (licences in src/artcheck/assets/SAMPLES.csv).

    python scripts/make_doc_figures.py          # writes docs/perturbations.png
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from artcheck.lab import perturb
from artcheck.images import load_image
from artcheck.lab.robustness import DEFAULT_SPEC

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "artcheck" / "assets" / "samples"
TILE = 192


def main() -> None:
    img = load_image(SAMPLES / "human-photo-coffee.jpg").image
    img = img.resize((384, round(384 * img.height / img.width)))
    tiles = [("original", img)]
    for name, strengths in DEFAULT_SPEC.items():
        s = strengths[-1]
        tiles.append((f"{name}={s:g}", perturb.apply(img, name, s, seed=3)))
    cols = 6
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * TILE, rows * (TILE + 18)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for k, (label, t) in enumerate(tiles):
        t = t.copy()
        t.thumbnail((TILE, TILE))
        x, y = (k % cols) * TILE, (k // cols) * (TILE + 18)
        sheet.paste(t, (x + (TILE - t.width) // 2, y))
        draw.text((x + 4, y + TILE + 2), label, fill="black", font=font)
    out = Path(__file__).resolve().parents[1] / "docs" / "perturbations.png"
    sheet.save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
