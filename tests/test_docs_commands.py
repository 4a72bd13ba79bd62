"""Every shell command in the README and docs runs as written (issue 16).

Each fenced ``bash`` block is collected, in document order. Its commands run with ``bash`` in a
working folder the test builds, where the docs' placeholders are real paths: ``../shared/data/wild-dev``,
``DATA`` and ``OTHER`` are small synthetic labelled datasets (with wild-dev's source names), ``RUN`` a
one-epoch run, ``photo.jpg``/``image.png``/... real images, ``folder/`` and ``art/`` folders of them. A
training command runs for one epoch (``--epochs 1``); checks use the shipped detector. A command fails
the test on a non-zero exit, a usage error included.

Commands that need a long run, a server, the network or a GPU are marked in the docs, on the block
(```` ```bash long ````, ``setup``, ``server``) or on the line (a comment holding ``[long]``,
``[server]``, ``[network]``, ``[gpu]``). They are parsed only: an ``artcheck`` command through the CLI's
own parser (options, arguments and their types), a script with ``--help`` (every option the docs give
must appear in it), ``pip install`` by its extras. Anything else in an unmarked block fails the test.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

try:      # typer 0.2x vendors its own copy of click; its parser raises that copy's errors
    from types import SimpleNamespace

    from typer._click import core as _core, exceptions as _exc

    click = SimpleNamespace(Command=_core.Command, Group=typer.main.TyperGroup, UsageError=_exc.UsageError,
                            ClickException=_exc.ClickException)
except ImportError:  # pragma: no cover - older typer on click
    import click

from artcheck.cli import _bare_flags, app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "CONTRIBUTING.md",
        ROOT / "src/artcheck/assets/default/MODEL_CARD.md", ROOT / "src/artcheck/assets/fast/MODEL_CARD.md"]
MARKS = ("long", "server", "network", "gpu", "setup")
SOURCES = ("endless-sky", "github-art-sdxl")
BIN = Path(sys.executable).parent


def blocks(path: Path) -> list[tuple[int, set[str], list[str]]]:
    """(line number, block marks, commands) for each ``bash`` block; continuation lines joined."""
    text = path.read_text()
    found = []
    for m in re.finditer(r"^```bash([^\n]*)\n(.*?)^```", text, re.S | re.M):
        marks = set(m.group(1).split()) & set(MARKS)
        commands, pending = [], ""
        for line in m.group(2).splitlines():
            if pending:
                line = pending + " " + line.strip()
                pending = ""
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1]
                continue
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
        found.append((text[:m.start()].count("\n") + 1, marks, commands))
    return found


def _marks(command: str) -> set[str]:
    comment = command.split("#", 1)[1] if "#" in command else ""
    return {k for k in MARKS if f"[{k}]" in comment}


def _words(command: str) -> list[str]:
    return shlex.split(command, comments=True)


# -- parse only ----------------------------------------------------------------------------
def parse_artcheck(args: list[str]) -> None:
    """Run the CLI's parser over ``args`` without running the command (raises click.UsageError)."""
    cmd: click.Command = typer.main.get_command(app)
    ctx = cmd.make_context("artcheck", _bare_flags(list(args)))
    while isinstance(cmd, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            raise click.UsageError("no command given", ctx)
        name, cmd, rest = cmd.resolve_command(ctx, rest)
        ctx = cmd.make_context(name, rest, parent=ctx)


def parse_only(command: str, cwd: Path) -> None:
    words = _words(command)
    for part in _split_chain(words):
        head = part[0].removeprefix(".venv/bin/")
        if head == "artcheck":
            parse_artcheck(part[1:])
        elif head in ("python", "python3") and part[1:2] and part[1].endswith(".py"):
            script = ROOT / part[1]
            assert script.is_file(), f"{command}: no such script {part[1]}"
            res = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                 cwd=ROOT, timeout=120)
            assert res.returncode == 0, f"{part[1]} --help failed: {res.stderr[-2000:]}"
            for opt in (w.split("=")[0] for w in part[2:] if w.startswith("--")):
                assert opt in res.stdout, f"{command}: {part[1]} has no option {opt}"
        elif head == "pip":
            extras = re.findall(r"\[([a-z,]+)\]", " ".join(part))
            declared = set(re.findall(r"^([a-z]+) = \[", (ROOT / "pyproject.toml").read_text(), re.M))
            for extra in ",".join(extras).split(",") if extras else []:
                assert extra in declared, f"{command}: no extra [{extra}] in pyproject.toml"


def _split_chain(words: list[str]) -> list[list[str]]:
    """A chain of commands (``a && b``) as its parts, less the ones that set up or use a
    checkout rather than artcheck (``python3 -m venv``, ``python -m pytest``, ``curl``)."""
    parts, cur = [], []
    for w in words:
        if w in ("&&", "||", ";", "|"):
            parts.append(cur)
            cur = []
        else:
            cur.append(w)
    parts.append(cur)
    return [p for p in parts if p and p[0] != "curl" and not (p[0].endswith(("python", "python3")) and p[1:2] == ["-m"])]


# -- run -------------------------------------------------------------------------------------
def _dataset(root: Path, n: int, seed: int) -> Path:
    from artcheck.data.synthetic import make_dataset

    make_dataset(root, n_per_class=n, size=32, seed=seed, layout="manifest")
    manifest = root / "manifest.csv"
    rows = list(csv.DictReader(manifest.open()))
    for i, r in enumerate(rows):      # two sources, each with both classes (crossval needs 10 per source)
        r["source"] = SOURCES[i % 2]
    with manifest.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def build_workdir(base: Path) -> Path:
    from PIL import Image

    from artcheck.cli import main

    work = base / "work"
    work.mkdir(parents=True)
    wild = _dataset(base / "shared" / "data" / "wild-dev", 20, 1)   # 10 per generator: crossval
    _dataset(work / "DATA", 10, 2)
    _dataset(work / "OTHER", 6, 3)
    _dataset(work / "MORE", 6, 4)
    (work / "configs").symlink_to(ROOT / "configs")
    for name in ("a", "b"):
        _dataset(work / "data" / "reserved" / name, 4, 5)
    pngs = sorted(wild.rglob("*.png"))
    for name in ("photo.jpg", "image.png", "image1.png", "image2.jpg", "img.png", "art.png"):
        Image.open(pngs[0]).convert("RGB").save(work / name)
    for folder, k in (("folder", 1), ("art", 3), ("home/submissions", 3), ("FOLDER", 3)):
        (work / folder).mkdir(parents=True)
        for p in pngs[1:1 + k]:
            shutil.copy(p, work / folder / p.name)
    assert main(["train", "--data", str(wild), "--model", "bird-lotfi", "--epochs", "1", "--out",
                 str(work / "RUN"), "-q"]) == 0
    (work / "RUN_OR_default").symlink_to(work / "RUN")
    (work / "prompts.txt").write_text("a red house by a river\na portrait of a woman\n")
    return work


def runnable(command: str) -> str:
    """The command as the test runs it: one epoch, ``~/`` inside the working folder."""
    words = _words(command)
    if words[:1] == ["artcheck"] and words[1:2] and words[1] in ("train", "crossval", "train-demo"):
        if "--epochs" in command:
            command = re.sub(r"--epochs[ =]\d+", "--epochs 1", command)
        else:
            command = command.split("#", 1)[0].rstrip() + " --epochs 1"
    return command.replace("~/", "home/")


ALL = [(path, line, marks, cmds) for path in DOCS if path.is_file() for line, marks, cmds in blocks(path)]


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    made: dict[Path, Path] = {}

    def get(doc: Path) -> Path:
        if doc not in made:
            made[doc] = build_workdir(tmp_path_factory.mktemp(doc.stem.lower()))
        return made[doc]
    return get


def test_the_docs_have_commands_to_check():
    assert len(ALL) >= 20 and sum(len(c) for *_, c in ALL) >= 60
    assert any("setup" in m for _, _, m, _ in ALL)


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("doc,line,marks,commands", ALL,
                         ids=[f"{p.name}:{line}" for p, line, _, _ in ALL])
def test_documented_commands_run(doc, line, marks, commands, workdirs):
    work = workdirs(doc)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "120",
           "NO_COLOR": "1"}
    for command in commands:
        where = f"{doc.name}:{line}: {command}"
        if marks or _marks(command) or _words(command)[0] == "pip":   # installing is setup: parsed only
            try:
                parse_only(command, work)
            except click.ClickException as e:
                pytest.fail(f"{where}\n  does not parse: {e.format_message()}")
            continue
        words = _words(command)
        script = words[0] in ("python", "python3") and len(words) > 1 and words[1].startswith("scripts/")
        assert words[0] == "artcheck" or script, \
            f"{where}\n  is not an artcheck command or a script: mark it [long], [server], [network] or [gpu]"
        if script:                      # scripts/ run from the checkout, in the working folder
            command = f"{sys.executable} {ROOT / words[1]} " + " ".join(shlex.quote(w) for w in words[2:])
        res = subprocess.run(["bash", "-c", runnable(command)], cwd=work, env=env, capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, f"{where}\n  exit {res.returncode}\n{res.stdout[-1500:]}\n{res.stderr[-3000:]}"


def test_parse_only_catches_a_wrong_option():
    with pytest.raises(click.UsageError):
        parse_artcheck(["evaluate", "RUN", "--no-such-option"])
    with pytest.raises(click.UsageError):
        parse_artcheck(["no-such-command"])
    parse_artcheck(["evaluate", "RUN", "--robustness"])          # bare --robustness means the default sweep
    parse_artcheck(["weights", "fetch", "clip-vit-b16"])


def test_marks_are_read_from_blocks_and_lines(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("```bash long\nartcheck a \\\n  --b c\n```\n\n```bash\nartcheck d   # slow [server]\n# note\n```\n")
    assert blocks(doc) == [(1, {"long"}, ["artcheck a  --b c"]), (6, set(), ["artcheck d   # slow [server]"])]
    assert _marks("artcheck d   # slow [server]") == {"server"}
    assert runnable("artcheck train --data D --epochs 15 --out r") == "artcheck train --data D --epochs 1 --out r"
    assert runnable("artcheck train-demo   # end to end") == "artcheck train-demo --epochs 1"
