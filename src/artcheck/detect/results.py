"""Result files that survive being killed: ``artcheck check ... --out results.jsonl|.csv|.parquet``.

Rows are written in batches; each batch is flushed and fsynced before the next starts, so a
crash loses at most the batch in flight. ``--resume`` reads what is there, repairs a last line
cut short by a kill in the middle of a write, and skips every file already in it: a file is the
same file when its path, size and modification time match. A sidecar (``OUT.artcheck.json``,
or ``_artcheck.json`` inside a Parquet folder) records the model and the options; resuming with
different ones is refused, saying what differs.

JSONL and CSV are appended in place. Parquet cannot be appended to, so ``OUT.parquet`` is a
folder of part files (one per batch, written to a temporary name, fsynced, then renamed), which
pandas, pyarrow, DuckDB, Spark and Ray Data all read as one table. Parquet needs ``pyarrow``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from artcheck.detect.detector import Verdict

FORMAT_OF_SUFFIX = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
SIDECAR_SUFFIX = ".artcheck.json"          # beside OUT.jsonl / OUT.csv
PARQUET_SIDECAR = "_artcheck.json"         # inside OUT.parquet/
FLUSH_ROWS = 64                            # rows per fsynced batch (--flush-every)
FLUSH_SECONDS = 5.0                        # ... or fewer rows, once this long has passed
CSV_COLUMNS = ("path", "verdict", "p_ai", "reason", "error", "sha256", "width", "height", "format", "evidence",
               "model", "family", "family_p", "size", "mtime_ns")
# What must match to resume: a row written under other settings would not be comparable
RESUME_KEYS = ("model", "threshold", "uncertain_band", "provenance", "format")


class ResumeError(ValueError):
    """The output cannot be continued: it exists without --resume, or with other settings."""


def file_key(path: str) -> tuple[str, int, int]:
    """(path, size, mtime_ns): what makes a file 'the same file' for --resume. Files that cannot
    be stat'ed (dangling links, permissions) get size -1, so their error row is kept once."""
    try:
        st = os.stat(path)
    except OSError:
        try:
            st = os.lstat(path)
        except OSError:
            return (path, -1, -1)
    return (path, int(st.st_size), int(st.st_mtime_ns))


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or a tab or CR before
    one) gets a leading apostrophe, as OWASP advises. Numbers are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def spreadsheet_unsafe(value: str) -> str:
    """The cell as it was before :func:`spreadsheet_safe` (for reading our own CSV back)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES) else value


def csv_cells(row: dict[str, Any]) -> dict[str, Any]:
    return {k: spreadsheet_safe(v) for k, v in row.items()}


def csv_row(v: Verdict) -> dict[str, Any]:
    """The flat row (CSV, Parquet): evidence joined into one string."""
    img = v.image or {}
    return {"path": v.path, "verdict": v.verdict or "", "p_ai": "" if v.p_ai is None else v.p_ai,
            "reason": v.reason, "error": v.error or "", "sha256": img.get("sha256", ""),
            "width": img.get("width", ""), "height": img.get("height", ""), "format": img.get("format", ""),
            "evidence": " | ".join(f"{e.kind}: {e.detail}" for e in v.evidence),
            "model": f"{v.model.get('name', '')} {v.model.get('version', '')}".strip(),
            "family": v.family or "", "family_p": "; ".join(f"{f} {q:.3f}" for f, q in v.family_p or [])}


def _parquet_row(v: Verdict, key: tuple[str, int, int]) -> dict[str, Any]:
    row = csv_row(v)
    img = v.image or {}
    row.update(p_ai=v.p_ai, width=img.get("width"), height=img.get("height"), size=key[1], mtime_ns=key[2])
    return row


def format_of(path: str | Path) -> str:
    fmt = FORMAT_OF_SUFFIX.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"--out {path}: expected a name ending in {', '.join(FORMAT_OF_SUFFIX)} (the format follows "
                         "the suffix); got " + (repr(Path(path).suffix) if Path(path).suffix else "no suffix"))
    return fmt


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class ResultFile:
    """An append-only result file, batched and fsynced. ``settings`` is what the sidecar records."""

    def __init__(self, path: str | Path, settings: dict[str, Any], resume: bool = False,
                 flush_rows: int = FLUSH_ROWS, flush_seconds: float = FLUSH_SECONDS, retry_errors: bool = False):
        self.path, self.fmt = Path(path), format_of(path)
        self.settings = {**settings, "format": self.fmt}
        self.flush_rows, self.flush_seconds = max(1, int(flush_rows)), float(flush_seconds)
        self._buffer: list[str | dict] = []
        self._last_flush = time.monotonic()
        self.done: set[tuple[str, int, int]] = set()
        self.repaired = 0                 # bytes cut from a last line left half-written
        self.existing_rows = 0
        self.failed: set[tuple[str, int, int]] = set()   # keys of rows already in the file whose check failed
        self.retried = 0
        if self.fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ModuleNotFoundError as e:
                raise ModuleNotFoundError("--out *.parquet needs pyarrow: pip install 'artcheck[scale]' (or pyarrow); "
                                          "or write .jsonl or .csv") from e
        self.sidecar = self.path / PARQUET_SIDECAR if self.fmt == "parquet" else Path(str(self.path) + SIDECAR_SUFFIX)
        if self._has_rows():
            if not resume:
                raise ResumeError(f"{self.path} already holds results; pass --resume to continue it (files already in "
                                  "it are skipped), or choose another --out")
            self._check_settings()
            self._read_existing()
            if retry_errors and self.failed:
                self._drop_failed()
        elif resume and not self.path.exists():
            pass                          # --resume on a first run simply starts it
        self._start()

    # -- resuming ------------------------------------------------------------------------
    def _has_rows(self) -> bool:
        if self.fmt == "parquet":
            return self.path.is_dir() and any(self.path.glob("part-*.parquet"))
        return self.path.is_file() and self.path.stat().st_size > 0

    def _check_settings(self) -> None:
        if not self.sidecar.is_file():
            raise ResumeError(f"{self.path}: no {self.sidecar.name} beside it, so the model and options it was written "
                              "with are unknown; resume only files written by 'artcheck check --out', or start a new one")
        before = json.loads(self.sidecar.read_text())
        diffs = [f"{k}: {before.get(k)!r} in the file, {self.settings.get(k)!r} now" for k in RESUME_KEYS
                 if before.get(k) != self.settings.get(k)]
        if diffs:
            raise ResumeError(f"cannot resume {self.path}: it was written with other settings ({'; '.join(diffs)}). "
                              "Resume with the same model and options, or write to another --out")

    def _read_existing(self) -> None:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            for part in sorted(self.path.glob("part-*.parquet")):
                t = pq.read_table(part, columns=["path", "size", "mtime_ns", "error"]).to_pydict()
                keys = list(zip(t["path"], t["size"], t["mtime_ns"]))
                self.done.update(keys)
                self.failed.update(k for k, e in zip(keys, t["error"]) if e)
                self.existing_rows += len(t["path"])
            return
        self._repair_tail()
        with open(self.path, newline="", encoding="utf-8") as f:
            if self.fmt == "jsonl":
                for n, line in enumerate(f, 1):
                    try:
                        key = _jsonl_key(line)
                        self.done.add(key)
                        if json.loads(line).get("error"):
                            self.failed.add(key)
                    except (ValueError, KeyError, TypeError) as e:
                        raise ResumeError(f"{self.path}, line {n}: not a result row written by artcheck ({e}); "
                                          "fix or remove that line, or write to another --out") from e
                    self.existing_rows += 1
            else:
                reader = csv.DictReader(f)
                if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
                    raise ResumeError(f"{self.path}: expected the columns {', '.join(CSV_COLUMNS)}; got "
                                      f"{', '.join(reader.fieldnames or ())}")
                for r in reader:
                    key = _csv_key(r)
                    self.done.add(key)
                    if r.get("error"):
                        self.failed.add(key)
                    self.existing_rows += 1

    def _drop_failed(self) -> None:
        """--retry-errors: rewrite the file without its failed rows (atomically), so they are checked
        again and each file keeps one row."""
        if self.fmt == "parquet":
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            for part in sorted(self.path.glob("part-*.parquet")):
                t = pq.read_table(part)
                keep = pc.invert(pc.is_valid(t["error"]) & pc.not_equal(t["error"], ""))
                kept = t.filter(pc.fill_null(keep, True))
                if kept.num_rows != t.num_rows:
                    tmp = part.with_name(f".{part.name}.tmp")
                    pq.write_table(kept, tmp)
                    os.replace(tmp, part)
        else:
            with open(self.path, newline="", encoding="utf-8") as f:
                if self.fmt == "jsonl":
                    text = "".join(ln for ln in f if _jsonl_key(ln) not in self.failed)
                else:            # parsed as CSV, not by lines: a quoted cell may hold a newline
                    reader = csv.DictReader(f)
                    buf = io.StringIO()
                    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
                    writer.writeheader()
                    writer.writerows(r for r in reader if _csv_key(r) not in self.failed)
                    text = buf.getvalue()
            _atomic_write(self.path, text.encode("utf-8"))
        self.retried = len(self.failed)
        self.existing_rows -= self.retried
        self.done -= self.failed
        self.failed = set()

    def _repair_tail(self) -> None:
        """Cut a last line that a kill left without its newline (every row we write ends in one)."""
        with open(self.path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            pos, chunk = size, 1 << 16
            while pos > 0:
                start = max(0, pos - chunk)
                f.seek(start)
                nl = f.read(pos - start).rfind(b"\n")
                if nl >= 0:
                    keep = start + nl + 1
                    break
                pos = start
            else:
                keep = 0
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
            self.repaired = size - keep

    # -- writing -------------------------------------------------------------------------
    def _start(self) -> None:
        if self.fmt == "parquet":
            self.path.mkdir(parents=True, exist_ok=True)
            self._part = len(list(self.path.glob("part-*.parquet")))
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.sidecar.is_file():
            _atomic_write(self.sidecar, (json.dumps(self.settings, indent=2) + "\n").encode())
        if self.fmt == "csv" and (not self.path.is_file() or self.path.stat().st_size == 0):
            self._append(",".join(CSV_COLUMNS) + "\r\n")

    def seen(self, key: tuple[str, int, int]) -> bool:
        return key in self.done

    def add(self, v: Verdict, key: tuple[str, int, int]) -> None:
        if self.fmt == "jsonl":
            self._buffer.append(json.dumps({**v.to_dict(), "size": key[1], "mtime_ns": key[2]}) + "\n")
        elif self.fmt == "csv":
            buf = io.StringIO()
            csv.DictWriter(buf, fieldnames=CSV_COLUMNS).writerow(csv_cells({**csv_row(v), "size": key[1], "mtime_ns": key[2]}))
            self._buffer.append(buf.getvalue())
        else:
            self._buffer.append(_parquet_row(v, key))
        self.done.add(key)
        if len(self._buffer) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def _append(self, text: str) -> None:
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            sink = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pylist(rows, schema=_parquet_schema()), sink)
            _atomic_write(self.path / f"part-{self._part:06d}.parquet", sink.getvalue().to_pybytes())
            self._part += 1
        else:
            self._append("".join(rows))

    def close(self) -> None:
        self.flush()


def _jsonl_key(line: str) -> tuple[str, int, int]:
    d = json.loads(line)
    return d["path"], int(d["size"]), int(d["mtime_ns"])


def _csv_key(row: dict[str, str]) -> tuple[str, int, int]:
    return spreadsheet_unsafe(row["path"]), int(row["size"]), int(row["mtime_ns"])


def _parquet_schema():
    import pyarrow as pa

    types = {"p_ai": pa.float64(), "width": pa.int64(), "height": pa.int64(), "size": pa.int64(),
             "mtime_ns": pa.int64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in CSV_COLUMNS])


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a result file or Parquet folder, as dicts (tests, and users' own scripts)."""
    path, fmt = Path(path), format_of(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return [r for part in sorted(path.glob("part-*.parquet")) for r in pq.read_table(part).to_pylist()]
    with open(path, newline="", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.endswith("\n")] if fmt == "jsonl" else list(csv.DictReader(f))
