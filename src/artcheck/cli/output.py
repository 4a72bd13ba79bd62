"""Formatting and path expansion for ``artcheck check`` (the command itself lives in cli.py)."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from artcheck.detect.detector import FAMILY_SENTENCE, Verdict, summary
from artcheck.detect.results import CSV_COLUMNS, csv_cells, csv_row
from artcheck.images import is_image_path

FORMATS = ("table", "json", "jsonl", "csv")
# stdout CSV: the result file's columns less size and mtime_ns (what --resume matches on)
STDOUT_CSV_COLUMNS = CSV_COLUMNS[:-2]


# A labelled dataset's own files, not images: never reported as failed images
DATASET_FILES = frozenset({"manifest.csv", "readme", "readme.md", "readme.txt", "licence", "license", "samples.csv"})


def _listed(path: str) -> bool:
    """Whether a folder entry that is not a regular file of another type gets a row: image names,
    and every special file (FIFO, socket, device, dangling link, link loop, link to a folder),
    so each gets its own error instead of vanishing."""
    return is_image_path(path) or not os.path.isfile(path)


def _walk(root: Path, skipped: Counter) -> list[str]:
    """Every entry under ``root`` that gets a row (``_listed``); links to folders are listed, not
    followed. What is left out is counted in ``skipped`` by why: hidden entries, a dataset's own
    files (manifest.csv, README, licence) and regular files that are not images (by suffix)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        skipped["hidden"] += sum(d.startswith(".") for d in dirnames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                out.append(os.path.join(dirpath, d))
            elif is_image_path(d):      # a directory named like an image: its own row, and walked
                out.append(os.path.join(dirpath, d))
        for f in filenames:
            path = os.path.join(dirpath, f)
            if f.startswith("."):
                skipped["hidden"] += 1
            elif f.lower() in DATASET_FILES:
                skipped["dataset files"] += 1
            elif _listed(path):
                out.append(path)
            else:
                skipped[Path(f).suffix.lower() or "(no suffix)"] += 1
    return sorted(out)


def skipped_line(skipped: Counter) -> str | None:
    """'5 files skipped: not images (.txt 3, .md 1); hidden 1' (None when nothing was skipped)."""
    if not skipped:
        return None
    special = ("hidden", "dataset files")
    kinds = sorted(((k, n) for k, n in skipped.items() if k not in special), key=lambda t: (-t[1], t[0]))
    parts = []
    if kinds:
        parts.append("not images (" + ", ".join(f"{k} {n}" for k, n in kinds) + ")")
    if skipped["hidden"]:
        parts.append(f"hidden {skipped['hidden']}")
    if skipped["dataset files"]:
        parts.append(f"a dataset's own files (manifest.csv, README) {skipped['dataset files']}")
    total = sum(skipped.values())
    return f"{total} file{'s' if total != 1 else ''} in folders skipped: " + "; ".join(parts)


def expand_paths(args: Iterable[str], skipped: Counter | None = None) -> tuple[list[str], list[str]]:
    """Files, folders (recursive) and globs -> (files, args that matched nothing). Special files are
    kept: :func:`artcheck.images.load_image` refuses each with its reason. What folders hold that is
    not checked is counted in ``skipped`` (see ``_walk``). A path the system refuses outright (empty,
    a name too long) raises ValueError naming it."""
    files, missing = [], []
    skipped = Counter() if skipped is None else skipped
    for arg in args:
        if not arg.strip():
            raise ValueError("an empty path was given; name a file, folder or glob (use . for this folder)")
        p = Path(arg)
        try:
            is_dir, exists = p.is_dir(), p.exists() or p.is_symlink()
        except OSError as e:
            raise ValueError(f"{printable(arg[:80])}{'...' if len(arg) > 80 else ''}: not a usable path "
                             f"({e.strerror or e}); check it") from e
        if is_dir:          # a folder named on the command line is walked, even through a link
            files += ([str(p)] if is_image_path(p) else []) + _walk(p, skipped)
        elif exists:
            files.append(str(p))
        elif any(ch in arg for ch in "*?["):
            matched = sorted(glob.glob(arg, recursive=True))
            files += [m for m in matched if not Path(m).is_dir() or is_image_path(m)]   # 'x.png/' gets its error
            if not matched:
                missing.append(arg)
        else:
            missing.append(arg)    # a usage error before the model loads (exit 2)
    return files, missing


def printable(s: str) -> str:
    """``s`` with control and format characters (escape sequences, bidi overrides) shown escaped,
    so a file name or a metadata field cannot drive the terminal."""
    import unicodedata

    return "".join(c if c.isprintable() else (repr(c)[1:-1] if unicodedata.category(c)[0] == "C" else c)
                   for c in s)


def summary_line(s: dict[str, int]) -> str:
    return (f"{s['checked']} checked: {s['ai']} ai, {s['human']} human, {s['uncertain']} uncertain, "
            f"{s['error']} failed")


class Writer:
    """Streams jsonl/csv as results arrive; collects table/json to print at the end."""

    def __init__(self, fmt: str, out=None):
        self.fmt, self.out = fmt, out or sys.stdout
        self.rows: list[Verdict] = []
        if fmt == "csv":
            self.csv = csv.DictWriter(self.out, fieldnames=STDOUT_CSV_COLUMNS)
            self.csv.writeheader()

    def add(self, v: Verdict) -> None:
        self.rows.append(v)
        if self.fmt == "jsonl":
            self.out.write(json.dumps(v.to_dict()) + "\n")
        elif self.fmt == "csv":
            self.csv.writerow(csv_cells(csv_row(v)))

    def finish(self, console: Console) -> dict[str, int]:
        s = summary(self.rows)
        if self.fmt == "json":
            self.out.write(json.dumps({"results": [v.to_dict() for v in self.rows], "summary": s}, indent=2) + "\n")
        elif self.fmt == "table":
            console.print(results_table(self.rows))
        return s


def results_table(rows: list[Verdict]) -> Table:
    """The verdicts as a table: the folder the files share above it, each file by its name below it."""
    base, names = shown_paths([v.path for v in rows])
    # the folder the files share is said once, above the table, so the names get the width
    table = Table(show_lines=False, title=Text(f"in {printable(base)}") if base else None,
                  title_justify="left", expand=True)
    families = any(v.family for v in rows)
    # verdict, P(ai) and family as wide as they need (a family up to 26 characters); image and why
    # share the rest 2 : 3
    ratios = {"image": 2, "why": 3}
    fam_width = min(26, max([len(family_cell(v)) for v in rows] + [6]))
    for col in ("image", "verdict", "P(ai)") + (("family",) if families else ()) + ("why",):
        table.add_column(col, overflow="fold", ratio=ratios.get(col), no_wrap=col in ("verdict", "P(ai)"),
                         min_width=fam_width if col == "family" else None)
    colour = {"ai": "red", "human": "green", "uncertain": "yellow"}
    for v, name in zip(rows, names):
        # text from files and paths is never markup: Text objects, control characters escaped
        verdict = Text(v.verdict or "error", style=colour.get(v.verdict, "magenta"))
        fam = ([family_cell(v)] if families else [])
        # the family has its own column here; the reason's family sentence would say it twice
        why = v.reason.split(FAMILY_SENTENCE)[0] if families else v.reason
        table.add_row(Text(printable(name)), verdict, "" if v.p_ai is None else f"{v.p_ai:.2f}", *fam,
                      Text(printable(why)))
    return table


def shown_paths(paths: list[str]) -> tuple[str | None, list[str]]:
    """(the folder every path is in, or None; each path relative to it): what the table prints."""
    import os

    if not paths:
        return None, []
    try:
        full = [os.path.abspath(p) for p in paths]
        base = os.path.commonpath([os.path.dirname(p) for p in full])
    except ValueError:              # different drives (Windows), mixed kinds of path
        return None, list(paths)
    if base in ("", os.sep):
        return None, list(paths)
    return base, [os.path.relpath(p, base) for p in full]


def family_cell(v: Verdict) -> str:
    """'sdxl 0.62', 'unknown (best flux 0.31)', 'flux (named)' or '' (human verdicts, no head)."""
    if not v.family:
        return ""
    if not v.family_p:
        return f"{v.family} (named)"
    best, p = v.family_p[0]
    return f"{v.family} {p:.2f}" if v.family == best else f"{v.family} (best {best} {p:.2f})"


def per_source_report(verdicts: list[Verdict], manifest, trained_on: set[str] | frozenset = frozenset()) -> str | None:
    """When the checked folder is a labelled dataset: accuracy per source, as text. Sources in
    ``trained_on`` (the model's training data) are marked: their figures are in-distribution."""
    by_path = {str(Path(r.path).resolve()): r for r in manifest}
    rows: dict[str, Counter] = {}
    for v in verdicts:
        r = by_path.get(str(Path(v.path).resolve()))
        if r is None or v.verdict is None:
            continue
        c = rows.setdefault(r.source or "(none)", Counter())
        c["n"] += 1
        c["label_" + r.label] += 1
        c["correct"] += v.verdict == r.label
        c["uncertain"] += v.verdict == "uncertain"
        c["called_ai"] += v.verdict == "ai"
    if not rows:
        return None
    buf = io.StringIO()
    buf.write("per source (labels from the dataset's manifest):\n")
    buf.write(f"{'source':28s} {'label':6s} {'n':>5s} {'correct':>8s} {'uncertain':>9s} {'called ai':>9s}\n")
    for src, c in sorted(rows.items()):
        label = "both" if c["label_ai"] and c["label_human"] else "ai" if c["label_ai"] else "human"
        buf.write(f"{src:28s} {label:6s} {c['n']:5d} {c['correct'] / c['n']:8.2f} {c['uncertain'] / c['n']:9.2f} "
                  f"{c['called_ai'] / c['n']:9.2f}{'  *' if src in trained_on else ''}\n")
    if trained_on & rows.keys():
        buf.write("* in this model's training data: these figures are in-distribution and overstate accuracy on\n"
                  "  new images; the model card gives each source's figure with that source held out.\n")
    return buf.getvalue()


def iter_with_progress(verdicts: Iterator[Verdict], total: int, enabled: bool) -> Iterator[Verdict]:
    from artcheck.progress import track

    yield from track(verdicts, "Checking", total=total, enabled=enabled)
