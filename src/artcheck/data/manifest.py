"""The explicit manifest every dataset becomes: one :class:`Record` per image."""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Iterator

from artcheck.labels import BINARY_TARGET, normalize_label

MANIFEST_COLUMNS = ("path", "label", "source", "generator", "style", "split", "group")


@dataclass(frozen=True)
class Record:
    path: str            # absolute, or relative to the manifest's directory when written
    label: str           # "ai", "human" or "edited" (a human image with local edits)
    source: str = ""
    generator: str = ""
    style: str = ""
    split: str = ""      # "train" | "val" | "test" | "" (unassigned)
    group: str = ""      # records sharing a group never straddle splits

    @property
    def target(self) -> int:
        """0 (human) or 1 (ai); ``edited`` counts as human."""
        return BINARY_TARGET[self.label]

    def class_index(self, classes: tuple[str, ...]) -> int:
        """Index of this record's label among ``classes`` (edited is human when classes has two)."""
        return classes.index(self.label) if self.label in classes else self.target

    def key(self, by: str) -> str:
        if by not in ("source", "generator", "style", "label"):
            raise ValueError(f"cannot group by {by!r}; expected source, generator, style or label")
        return getattr(self, by)


class Manifest:
    """An ordered list of records with the CSV round trip and a few views."""

    def __init__(self, records: Iterable[Record], root: str | Path | None = None, layout: str = ""):
        self.records: list[Record] = list(records)
        self.root = Path(root) if root else None
        self.layout = layout

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __getitem__(self, i: int) -> Record:
        return self.records[i]

    def where(self, **conditions: str) -> "Manifest":
        keep = [r for r in self.records if all(getattr(r, k) == v for k, v in conditions.items())]
        return Manifest(keep, self.root, self.layout)

    def counts(self, by: str = "label") -> dict[str, int]:
        return dict(sorted(Counter(getattr(r, by) for r in self.records).items()))

    def describe(self) -> str:
        parts = [f"{len(self)} images", "labels " + str(self.counts("label"))]
        if any(r.source for r in self.records):
            parts.append(f"{len(self.counts('source'))} sources")
        return ", ".join(parts)

    def to_csv(self, path: str | Path) -> None:
        """Write the manifest; paths are read back relative to the CSV's folder."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            base = os.path.abspath(path.parent)
            for r in self.records:
                # relative to the CSV when the image lies beneath it (the folder can move), else absolute
                full = os.path.abspath(r.path)
                inside = os.path.commonpath([full, base]) == base
                writer.writerow({**asdict(r), "path": os.path.relpath(full, base) if inside else full})

    @classmethod
    def from_csv(cls, path: str | Path) -> "Manifest":
        path = Path(path)
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in ("path", "label") if c not in header]
            if missing:
                raise ValueError(
                    f"{path}: manifest CSV lacks column(s) {missing}; expected at least 'path,label' "
                    f"and optionally {list(MANIFEST_COLUMNS[2:])}; got columns {header}")
            known = {f.name for f in fields(Record)}
            records = []
            for line_no, row in enumerate(reader, start=2):
                values = {k: (row.get(k) or "").strip() for k in known}
                if not values["style"] and row.get("kind"):   # github-art and wild-dev call it kind
                    values["style"] = row["kind"].strip()
                p = Path(values["path"])
                # absolute, so a split.csv written by one run matches the dataset read from any cwd
                values["path"] = os.path.abspath(p if p.is_absolute() else (path.parent / p))
                values["label"] = normalize_label(values["label"], where=f"{path}:{line_no}")
                records.append(Record(**values))
        return cls(records, path.parent, "manifest")
