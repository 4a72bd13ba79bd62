"""The ``artcheck`` command line: thin Typer shells over the library.

- :mod:`artcheck.cli._common`: the app, consoles, exit codes, error reporting;
- :mod:`artcheck.cli.check`: checking images (core install): check, demo, serve, weights;
- :mod:`artcheck.cli.lab`: training and research (``[train]`` extra);
- :mod:`artcheck.cli.output`: result formats and folder walking for ``check``.
"""

from __future__ import annotations

import logging
import sys

from artcheck.cli import check as _check_commands  # noqa: F401  (registers its commands)
from artcheck.cli import lab as _lab_commands  # noqa: F401
from artcheck.cli._common import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, app, invoke

__all__ = ["app", "main", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE"]


# Options whose value may be left out: the bare flag means this value (issue 16: a bare
# `--robustness` is the default sweep, as the docs always spelled it).
OPTIONAL_VALUE_FLAGS = {"--robustness": "default"}


def _bare_flags(args: list[str]) -> list[str]:
    out = []
    for i, a in enumerate(args):
        out.append(a)
        if a in OPTIONAL_VALUE_FLAGS and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(OPTIONAL_VALUE_FLAGS[a])
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of exiting, so tests can call it."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    return invoke(_bare_flags(list(sys.argv[1:] if argv is None else argv)))
