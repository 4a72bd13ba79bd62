"""The research commands: ``explain``, ``crossval``, ``make-edited`` and ``report``.

Thin shells over :mod:`artcheck.explain`, :mod:`artcheck.crossval`,
:mod:`artcheck.data.edited` and :mod:`artcheck.report`; registered on the main app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from artcheck.cli import EXIT_SOME_FAILED, UsageFailure, _fail, app, err, out

HEAVY_ERRORS = (ValueError, FileNotFoundError, FileExistsError, ModuleNotFoundError, UsageFailure)


@app.command()
def explain(
    target: str = typer.Argument(..., help="a run directory, 'default' or a folder holding detector.json"),
    image: Path = typer.Argument(..., help="the image to explain"),
    out_path: Path = typer.Option(Path("heat.png"), "--out", help="where to write the picture"),
    method: str = typer.Option("auto", help="auto (Grad-CAM for CNNs, else occlusion) | gradcam | occlusion"),
    grid: int = typer.Option(8, help="occlusion grid (grid x grid cells, grid**2 + 1 forward passes)"),
) -> None:
    """Write IMAGE with a heat map of what pushed the model towards 'ai', and the scores in the corner."""
    from artcheck.explain import explain as run_explain, load_explainable, write_explanation
    from artcheck.images import ImageError, load_image
    from artcheck.weights import WeightsError

    try:
        img = load_image(image).image
        model, name = load_explainable(target)
        e = run_explain(model, img, method, grid, name)
    except ImageError as e:
        err.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(EXIT_SOME_FAILED)
    except (*HEAVY_ERRORS, WeightsError) as e:
        _fail(e)
    write_explanation(img, e, out_path)
    out.print(f"{image}: {e.caption()}")
    out.print(f"wrote {out_path}")


@app.command()
def crossval(
    data: str = typer.Option(..., "--data", help="dataset folder or manifest CSV with source/generator columns"),
    by: str = typer.Option("generator", help="generator | source | style"),
    model: str = typer.Option("bird-lotfi", help="registered model name (artcheck models)"),
    mode: str = typer.Option("matrix", help="matrix (train on one, test on each) | all-but-one"),
    epochs: int = typer.Option(10, help="training epochs per cell (early stopping on a val split)"),
    seed: int = typer.Option(0),
    min_group: int = typer.Option(10, "--min-group", help="groups with fewer images get no row or column"),
    out_dir: Path = typer.Option(Path("crossval"), "--out", help="folder for crossval.json and crossval.png"),
    keep_runs: bool = typer.Option(False, "--keep-runs", help="keep each cell's run directory under OUT/cells"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Train on each group and test on every other: the cross-generator / cross-source matrix.

    Groups holding one class are completed with the other class from outside the cell
    (see docs/evaluation.md); train and test never share an image.
    """
    from artcheck import crossval as cv
    from artcheck.data import read_dataset

    try:
        manifest = read_dataset(data)
        fit = cv.train_fitter(model, epochs, seed)
        result = cv.crossval(manifest, by, fit, mode, seed, out_dir / "cells" if keep_runs else None,
                             progress=False if quiet else None, min_group=min_group)
    except HEAVY_ERRORS as e:
        _fail(e)
    result.update(model=model, data=data, epochs=epochs)
    cv.write(result, out_dir, model)
    if result["too_small"]:
        out.print(f"left out (fewer than {min_group} images): " + ", ".join(f"{g} ({n})" for g, n in result["too_small"].items()))
    skipped = [f"{r} -> {c}: {v['skipped']}" for r, row in result["cells"].items() for c, v in row.items() if "skipped" in v]
    for line in skipped:
        err.print(f"[yellow]cell skipped[/] {line}", highlight=False)
    for metric, means in result["means"].items():
        out.print(f"{metric}: " + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} –" for k, v in means.items()))
    out.print(f"wrote {out_dir}/crossval.json and crossval.png")


@app.command("make-edited")
def make_edited(
    data: str = typer.Option(..., "--data", help="dataset folder or manifest CSV"),
    out_dir: Path = typer.Option(..., "--out", help="new dataset folder (manifest.csv, edited/, edits.csv)"),
    fraction: float = typer.Option(1.0, help="share of the human images that get an edited copy"),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Derive an 'edited' class from the human images with local edits (blur, clone, fill).

    Train three classes on the result with: artcheck train --data OUT/manifest.csv --classes human,edited,ai
    """
    from artcheck.data import read_dataset
    from artcheck.data.edited import build_edited

    try:
        manifest = build_edited(read_dataset(data), out_dir, fraction, seed, progress=False if quiet else None)
    except HEAVY_ERRORS as e:
        _fail(e)
    out.print(f"wrote {out_dir}/manifest.csv: {manifest.describe()}")
    out.print(f"next: artcheck train --data {out_dir}/manifest.csv --classes human,edited,ai")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="a run directory written by 'artcheck train'"),
    out_path: Path = typer.Option(Path("report.html"), "--out"),
    eval_dir: Optional[Path] = typer.Option(None, "--eval", help="evaluation folder (default RUN_DIR/eval-test; "
                                                                 "made with 'artcheck evaluate' when missing)"),
) -> None:
    """One self-contained HTML page: config, metrics, curves, robustness, cross matrix, examples with heat maps."""
    from artcheck.cli import main
    from artcheck.report import write_report_html

    if eval_dir is None and not (run_dir / "eval-test" / "metrics.json").is_file() and (run_dir / "config.json").is_file():
        err.print(f"no evaluation in {run_dir}/eval-test yet: running artcheck evaluate {run_dir}", highlight=False)
        code = main(["evaluate", str(run_dir), "-q"])
        if code not in (0, EXIT_SOME_FAILED):
            raise typer.Exit(code)
    try:
        path = write_report_html(run_dir, out_path, eval_dir)
    except HEAVY_ERRORS as e:
        _fail(e)
    out.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained)")
