"""The research commands: ``train``, ``evaluate``, ``predict``, ``models``, ``train-demo``, ``export``,
``build-detector``, ``build-fast``, ``explain``, ``crossval``, ``make-edited`` and ``report`` (the ``[train]`` extra).

Thin shells over :mod:`artcheck.lab.explain`, :mod:`artcheck.lab.crossval`,
:mod:`artcheck.data.edited` and :mod:`artcheck.lab.report`; registered on the main app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from rich.table import Table

from artcheck.cli._common import (
    EXIT_SOME_FAILED,
    SHARED_DATA,
    UsageFailure,
    _evaluable,
    _fail,
    _print_metrics,
    _warn_skipped,
    app,
    needs,
    styled,
    err,
    invoke,
    out,
)

HEAVY_ERRORS = (ValueError, FileNotFoundError, FileExistsError, ModuleNotFoundError, UsageFailure)


@app.command()
def train(
    data: Optional[str] = typer.Option(None, "--data", help="dataset folder or manifest CSV"),
    model: Optional[str] = typer.Option(None, "--model", help="registered model name (artcheck models)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config; CLI options override it"),
    epochs: Optional[int] = typer.Option(None), lr: Optional[float] = typer.Option(None),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    optimizer: Optional[str] = typer.Option(None, help="adam | rmsprop | sgd (default: the model's own)"),
    scheduler: Optional[str] = typer.Option(None, help="none | step"),
    step_size: Optional[int] = typer.Option(None, "--step-size"), gamma: Optional[float] = typer.Option(None),
    patience: Optional[int] = typer.Option(None, help="early stopping patience in epochs"),
    freeze_epochs: Optional[int] = typer.Option(None, "--freeze-epochs",
                                                help="transfer models: epochs with a frozen backbone first"),
    unfrozen_lr: Optional[float] = typer.Option(None, "--unfrozen-lr", help="transfer models: lr once unfrozen"),
    seed: Optional[int] = typer.Option(None), grayscale: Optional[bool] = typer.Option(None, "--grayscale/--color"),
    classes: Optional[str] = typer.Option(None, help="human,ai (default) or human,edited,ai (see make-edited)"),
    perturb: Optional[str] = typer.Option(None, help="perturb a random share of both classes, e.g. text=0.5"),
    perturb_fraction: Optional[float] = typer.Option(None, "--perturb-fraction", help="share for --perturb (0.5)"),
    subset: Optional[str] = typer.Option(None, help="small | medium | full | N images per class"),
    holdout_by: Optional[str] = typer.Option(None, "--holdout-by", help="source | generator | style"),
    holdout: Optional[str] = typer.Option(None, help="the held-out value: it becomes the test set"),
    workers: Optional[int] = typer.Option(None), out_dir: Optional[str] = typer.Option(None, "--out"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress output"),
    ddp: int = typer.Option(1, "--ddp", help="train torch models in N processes (torch.distributed, gloo); "
                            "rank 0 writes the run directory"),
    base: Optional[str] = typer.Option(None, "--base", help="vlm-lora: the vision-language model (hub id or folder)"),
    lora_rank: Optional[int] = typer.Option(None, "--lora-rank", help="vlm-lora: rank of the LoRA adapters"),
) -> None:
    """Train a model; writes weights, config, curves and per-epoch metrics to a run directory."""
    needs("train", "'artcheck train'")
    from artcheck.lab.config import TrainConfig

    overrides: dict[str, Any] = dict(
        data=data, model=model, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
        scheduler=scheduler, step_size=step_size, gamma=gamma, patience=patience, freeze_epochs=freeze_epochs,
        unfrozen_lr=unfrozen_lr, seed=seed, grayscale=grayscale, classes=classes, perturb=perturb,
        perturb_fraction=perturb_fraction,
        subset=subset, holdout_by=holdout_by, holdout=holdout, workers=workers, out=out_dir)
    kwargs = _vlm_kwargs(base, lora_rank)
    try:
        if kwargs:
            overrides["model_kwargs"] = kwargs
        if config:
            cfg = TrainConfig.from_yaml(config, **overrides)
        else:
            if data is None:
                raise UsageFailure("--data is required (a dataset folder or manifest CSV), or pass --config")
            cfg = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
        from artcheck.lab.train import train as run_training

        result = run_training(cfg, progress=False if quiet else None, ddp=ddp)
    except Exception as e:  # noqa: BLE001 - any failure here is reported plainly
        from artcheck.detect.weights import WeightsError

        if isinstance(e, (ValueError, FileNotFoundError, FileExistsError, ModuleNotFoundError, UsageFailure,
                          WeightsError)):
            _fail(e)
        raise
    _warn_skipped(result.skipped)
    state = " (interrupted)" if result.interrupted else ""
    out.print(f"trained {cfg.model}{state}: best epoch {result.best_epoch}, val loss {result.best_val_loss:.4f}")
    out.print(f"run directory: {result.run_dir}")


def _vlm_kwargs(base: str | None, lora_rank: int | None) -> dict:
    """vlm-lora's model_kwargs from --base and --lora-rank; a local folder made absolute, so the run loads anywhere."""
    if base is not None and Path(base).expanduser().is_dir():
        base = str(Path(base).expanduser().resolve())
    return {k: v for k, v in (("base", base), ("lora_rank", lora_rank)) if v is not None}


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="a run directory written by 'artcheck train'"),
    data: Optional[str] = typer.Option(None, "--data", help="dataset (default: the run's own)"),
    split: str = typer.Option("test", help="train | val | test | all (images the run never saw count as test)"),
    threshold: float = typer.Option(0.5, help="P(ai) at or above which an image is called AI"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="where to write metrics (default RUN_DIR/eval-SPLIT)"),
    robustness: Optional[str] = typer.Option(None, "--robustness", help="sweep perturbations: 'default' or e.g. "
                                             "'jpeg=90,50;blur=1,2' (writes robustness.json and robustness.png)"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Evaluate a trained run (or 'default', the shipped detector): metrics, confusion matrix, predictions.

    RUN_DIR 'default' or a folder holding detector.json evaluates a detector's model score;
    --data is then required.
    """
    needs("train", "'artcheck evaluate'")
    import json

    from artcheck.data import Manifest, read_dataset
    from artcheck.lab import runs
    from artcheck.lab.evaluate import evaluate as run_eval
    from artcheck.lab.evaluate import select_split, write_report

    try:
        written = json.loads((run_dir / runs.CONFIG_FILE).read_text()) if (run_dir / runs.CONFIG_FILE).is_file() else {}
        cfg = written.get("config", {})
        if written.get("data_abspath"):
            cfg["data"] = written["data_abspath"]
        model = _evaluable(run_dir)
        run_split = Manifest.from_csv(run_dir / runs.SPLIT_FILE) if (run_dir / runs.SPLIT_FILE).is_file() else None
        source = data or cfg.get("data")
        if not source:
            raise UsageFailure("pass --data: the run does not record its dataset")
        manifest = select_split(read_dataset(source), run_split, split)
        report = run_eval(model, manifest, threshold=threshold, grayscale=cfg.get("grayscale", False),
                          progress=False if quiet else None)
    except (ValueError, FileNotFoundError, ModuleNotFoundError, UsageFailure) as e:
        _fail(e)
    report.meta = {"run": str(run_dir), "data": str(source), "split": split, "model": cfg.get("model")}
    target = write_report(report, out_dir or run_dir / f"eval-{split}")
    _print_metrics(f"{run_dir} on {split}", report)
    _warn_skipped(report.predictions.errors)
    out.print(f"wrote {target}/metrics.json, metrics.md, confusion_matrix.png, predictions.csv")
    if robustness:
        from artcheck.lab.robustness import parse_spec, sweep, write

        try:
            spec = parse_spec(None if robustness == "default" else robustness)
        except ValueError as e:
            _fail(e)
        to_p = (lambda imgs: model.predict_arrays(np.stack([model.preprocess.to_uint8(i) for i in imgs])))
        result = sweep(to_p, manifest, spec, progress=False if quiet else None)
        write(result, target, f"{cfg.get('model') or run_dir} on {split}")
        out.print(f"wrote {target}/robustness.json and robustness.png")
    if report.predictions.errors:
        raise typer.Exit(EXIT_SOME_FAILED)


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="a run directory written by 'artcheck train'"),
    images: list[Path] = typer.Argument(..., metavar="IMAGES", help="image files"),
) -> None:
    """Print P(human) and P(ai) for each image."""
    needs("train", "'artcheck predict'")
    from artcheck.images import ImageError, load_image
    from artcheck.lab import runs

    try:
        model = runs.load_model(run_dir)
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as e:
        _fail(e)
    table = Table()
    for col in ("image", "P(human)", "P(ai)", "error"):
        table.add_column(col)
    failed = 0
    for path in images:
        try:
            arr = model.preprocess.to_uint8(load_image(path).image)
        except ImageError as e:
            failed += 1
            table.add_row(str(path), "", "", e.reason)
            continue
        p = float(model.predict_arrays(arr[None])[0])
        table.add_row(str(path), f"{1 - p:.4f}", f"{p:.4f}", "")
    out.print(table)
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


@app.command()
def models() -> None:
    """List the registered models."""
    needs("train", "'artcheck models'")
    from artcheck.models import list_models, model_entry

    try:
        names = list_models()
    except ModuleNotFoundError as e:
        _fail(e)
    table = Table()
    for col in ("name", "family", "summary"):
        table.add_column(col)
    for name in names:
        e = model_entry(name)
        table.add_row(name, e.family, e.summary)
    out.print(table)


@app.command("train-demo")
def train_demo(
    data: Optional[str] = typer.Option(None, "--data", help=f"dataset (default: {SHARED_DATA} if present, "
                                       "else generated sample data)"),
    model: str = typer.Option("bird-lotfi", "--model"),
    epochs: int = typer.Option(15),
    out_dir: Optional[str] = typer.Option(None, "--out"),
) -> None:
    """Train and evaluate a seed CNN on the built-in default data, end to end."""
    needs("train", "'artcheck train-demo'")
    from datetime import datetime, timezone

    from artcheck.data import Manifest, read_dataset
    from artcheck.lab import runs
    from artcheck.lab.config import TrainConfig
    from artcheck.lab.evaluate import evaluate as run_eval
    from artcheck.lab.evaluate import select_split, write_report
    from artcheck.lab.train import train as run_training

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run = Path(out_dir or f"runs/demo-{stamp}")
    if data is None:
        if SHARED_DATA.is_dir():
            data = str(SHARED_DATA)
        else:
            from artcheck.data.synthetic import make_dataset

            data = str(run.parent / f"demo-data-{stamp}")
            make_dataset(data, n_per_class=150, size=64, layout="manifest")
            err.print(f"{SHARED_DATA} not found: generated sample data in {data}")
    out.print(styled(("artcheck demo", "bold"), f": training {model} on {data}"))
    try:
        result = run_training(TrainConfig(data=data, model=model, epochs=epochs, out=str(run)))
        split = Manifest.from_csv(run / "split.csv")
        report = run_eval(runs.load_model(run), select_split(read_dataset(data), split, "test"))
    except (ValueError, FileNotFoundError, FileExistsError, ModuleNotFoundError) as e:
        _fail(e)
    report.meta = {"run": str(run), "data": data, "split": "test", "model": model}
    write_report(report, run / "eval-test")
    _warn_skipped(result.skipped)
    _print_metrics(f"{model} on the held-out test split of {data}", report)
    out.print("Per-source numbers on a random split say little about new generators; "
              "see docs/benchmarks.md for leave-one-source-out results.")
    out.print(f"run directory: {run} (curves.png, eval-test/metrics.md)")


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="a run directory written by 'artcheck train'"),
    out_dir: Path = typer.Option(..., "--out", help="folder for detector.json and the graph (or head.json)"),
    force: bool = typer.Option(False, "--force", help="overwrite a non-empty --out"),
) -> None:
    """Export a trained run as a detector folder for 'check --model DIR' and 'serve --model DIR' (core install).

    Torch models become one ONNX graph with their preprocessing; logreg-clip and probe-clip a NumPy
    linear head on the CLIP features. P(ai) equals 'artcheck predict RUN'."""
    needs("train", "'artcheck export'")
    from artcheck.lab.export import export as run_export

    try:
        folder = run_export(run_dir, out_dir, overwrite=force)
    except HEAVY_ERRORS as e:
        _fail(e)
    out.print(f"wrote {folder}/detector.json; check images with: artcheck check --model {folder} IMAGES")


GENERATE_ERRORS = HEAVY_ERRORS + (ImportError,)


def _counter(label: str, quiet: bool):
    """A progress callback: one line per finished item (these models take seconds per image)."""
    done = [0]

    def tick() -> None:
        done[0] += 1
        if not quiet:
            err.print(f"{label}: {done[0]} done", highlight=False)
    return tick


@app.command()
def generate(
    model: str = typer.Option(..., "--model", help="a diffusers text-to-image model: hub id or local folder"),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="a text file, one prompt per line"),
    titles_from: Optional[str] = typer.Option(None, "--titles-from", help="a dataset: one prompt per human image "
                                              "from its title, 'a painting titled ..., in the style of ...'"),
    out_dir: Path = typer.Option(..., "--out", help="folder for the images and manifest.csv (label ai)"),
    n_per_prompt: int = typer.Option(1, "--n-per-prompt"),
    steps: int = typer.Option(25, "--steps"),
    guidance: float = typer.Option(7.0, "--guidance"),
    size: str = typer.Option("512", "--size", help="N or WxH"),
    seed: int = typer.Option(0, "--seed", help="image k gets seed + k"),
    batch_size: int = typer.Option(1, "--batch-size"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Generate AI images with diffusers into a labelled dataset; a rerun skips images already written."""
    needs("train", "'artcheck generate'")
    needs("generate", "'artcheck generate'")
    from artcheck.lab.generate import generate as run_generate, titles_from as titles

    try:
        if (prompts is None) == (titles_from is None):
            raise UsageFailure("pass --prompts FILE or --titles-from DATA (one of them)")
        if prompts is not None:
            lines = [x.strip() for x in prompts.read_text().splitlines()]
            texts = [x for x in lines if x and not x.startswith("#")]
        else:
            texts = titles(titles_from)
        manifest, made, skipped = run_generate(model, texts, out_dir, n_per_prompt, steps, guidance, size, seed,
                                               batch_size, device, on_image=_counter("generated", quiet))
    except GENERATE_ERRORS as e:
        _fail(e)
    out.print(f"{made} images generated, {skipped} already there; {manifest} (train with: artcheck train --data "
              f"{manifest.parent} ...)")


@app.command()
def caption(
    data: str = typer.Argument(..., help="a dataset or folder of images"),
    model: str = typer.Option(..., "--model", help="a captioning or vision-language model: hub id or local folder"),
    out_csv: Path = typer.Option(..., "--out", help="captions CSV (path, caption, model)"),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="instruction or caption prefix for the model"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Caption each image (image-to-prompt); a rerun skips images already captioned."""
    needs("train", "'artcheck caption'")
    needs("generate", "'artcheck caption'")
    from artcheck.lab.generate import caption as run_caption

    try:
        path, made, skipped, failed = run_caption(data, model, out_csv, prompt, device,
                                                  on_image=_counter("captioned", quiet))
    except GENERATE_ERRORS as e:
        _fail(e)
    _warn_skipped(failed)
    out.print(f"{made} captions written, {skipped} already there: {path}")
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


@app.command()
def pair(
    data: str = typer.Argument(..., help="a dataset whose human images get AI twins"),
    captioner: str = typer.Option(..., "--captioner", help="captioning model (hub id or folder)"),
    generator: str = typer.Option(..., "--generator", help="diffusers text-to-image model (hub id or folder)"),
    out_dir: Path = typer.Option(..., "--out", help="folder for human/, ai/ and manifest.csv (pairs share a group)"),
    img2img: Optional[float] = typer.Option(None, "--img2img", help="regenerate from the image itself at this "
                                            "strength (0-1, SDEdit-style) instead of from the caption alone"),
    steps: int = typer.Option(25, "--steps"),
    guidance: float = typer.Option(7.0, "--guidance"),
    max_size: int = typer.Option(512, "--max-size", help="longest side of a twin (same aspect ratio as its original)"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Caption each human image and generate its AI twin; both go into one manifest, paired by group."""
    needs("train", "'artcheck pair'")
    needs("generate", "'artcheck pair'")
    from artcheck.lab.generate import pair as run_pair

    try:
        manifest, made, skipped = run_pair(data, captioner, generator, out_dir, img2img, steps, guidance, max_size,
                                           seed, device, on_image=_counter("paired", quiet))
    except GENERATE_ERRORS as e:
        _fail(e)
    out.print(f"{made} pairs made, {skipped} already there: {manifest}")


@app.command("build-detector")
def build_detector_cmd(
    data: list[str] = typer.Option(..., "--data", help="labelled datasets (repeatable); reserved sources are refused"),
    out_dir: Path = typer.Option(..., "--out", help="folder for detector.json, head.json and MODEL_CARD.md"),
    backbone: str = typer.Option("clip-vit-b16"),
    features: Optional[str] = typer.Option(None, "--features", help="feature set (default: the recipe chosen by "
                                           "benchmarks/recipes.py); one of build_detector.FEATURE_SETS"),
    c: Optional[float] = typer.Option(None, "--C", help="regularisation of the logistic head (default: the chosen "
                                      "recipe's)"),
    augment_copies: Optional[int] = typer.Option(None, "--augment-copies", help="processed copies of each training "
                                                 "image; 0: no augmentation (default: the chosen recipe's)"),
    no_lofo: bool = typer.Option(False, "--no-lofo", help="skip leave-one-generator-family-out (faster)"),
    tokens: Optional[str] = typer.Option(None, "--tokens", help="feed CLIP only a subset of its patch tokens: "
                                         "'checkerboard' (half, about 2x faster; the half tier) or 'quarter'"),
    name: str = typer.Option("artcheck-default", "--name", help="the detector's name in detector.json and its card"),
    version: str = typer.Option("0.5.0", "--version", help="the detector's version"),
    no_attribution: bool = typer.Option(False, "--no-attribution", help="skip the family-attribution head"),
    attribution_data: list[str] = typer.Option([], "--attribution-data", help="more labelled datasets "
                                               "(repeatable) for the family-attribution head only; they never "
                                               "train the verdict's head"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Build a calibrated detector and measure it held out by source (model card included)."""
    needs("train", "'artcheck build-detector'")
    from dataclasses import replace

    from artcheck.detect.weights import WeightsError

    try:
        from artcheck.lab.build_detector import DEFAULT_N_AUG, DEFAULT_RECIPE, build
        from artcheck.lab.pool import FEATURE_SETS

        recipe = DEFAULT_RECIPE
        if features is not None:
            if features not in FEATURE_SETS:
                raise ValueError(f"unknown feature set {features!r}; expected one of {sorted(FEATURE_SETS)}")
            recipe = replace(recipe, features=features)
        if c is not None:
            recipe = replace(recipe, C=c)
        n_aug = DEFAULT_N_AUG if augment_copies is None else augment_copies
        recipe = replace(recipe, augment=n_aug > 0) if augment_copies is not None else recipe
        cfg = build(data, out_dir, backbone, max(n_aug, 1), progress=False if quiet else None, recipe=recipe,
                    lofo=not no_lofo, attribution_data=attribution_data, tokens=tokens, name=name, version=version,
                    attribution=not no_attribution)
    except (ValueError, FileNotFoundError, ModuleNotFoundError, WeightsError) as e:
        _fail(e)
    m = cfg["metrics"]["held_out"]
    out.print(f"recipe: {cfg['recipe']}; held out by source, pooled: balanced accuracy "
              f"{m['pooled']['balanced_accuracy']:.3f}, AUC {m['pooled']['roc_auc']:.3f}; macro over sources: "
              f"{m['macro']['balanced_accuracy']:.3f}, {m['macro']['roc_auc']:.3f}; band {cfg['uncertain_band']}")
    out.print(f"wrote {out_dir}/detector.json, head.json, MODEL_CARD.md")


@app.command("build-fast")
def build_fast_cmd(
    out_dir: Path = typer.Option(Path("src/artcheck/assets/fast"), "--out", help="folder for student.onnx, "
                                 "detector.json, head.json and MODEL_CARD.md"),
    data: list[str] = typer.Option([], "--data", help="labelled datasets (repeatable; default: the teacher's own "
                                   "training folders, as its detector.json lists them)"),
    teacher: str = typer.Option("default", "--teacher", help="the detector whose scores the student learns from"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Build the fast tier (a MobileNetV2 student of the default) and the cascade, measured held out by source."""
    needs("train", "'artcheck build-fast'")
    from artcheck.detect.weights import WeightsError

    try:
        from artcheck.lab.fast import build_fast

        cfg = build_fast(data or None, out_dir, teacher, progress=False if quiet else None)
    except (ValueError, FileNotFoundError, ModuleNotFoundError, WeightsError) as e:
        _fail(e)
    m, d, c = cfg["metrics"]["held_out"], cfg["default_on_same_folds"]["held_out"], cfg["cascade"]
    out.print(f"held out by source, pooled / macro: fast balanced accuracy {m['pooled']['balanced_accuracy']:.3f} / "
              f"{m['macro']['balanced_accuracy']:.3f}, AUC {m['pooled']['roc_auc']:.3f} / {m['macro']['roc_auc']:.3f}; "
              f"{teacher} {d['pooled']['balanced_accuracy']:.3f} / {d['macro']['balanced_accuracy']:.3f}, "
              f"{d['pooled']['roc_auc']:.3f} / {d['macro']['roc_auc']:.3f}; band {cfg['uncertain_band']}")
    out.print(f"cascade: {c['escalated_share']:.1%} escalated, balanced accuracy {c['balanced_accuracy']['pooled']:.3f} "
              f"/ {c['balanced_accuracy']['macro']:.3f}")
    out.print(f"wrote {out_dir}/student.onnx, detector.json, head.json, MODEL_CARD.md")


@app.command("build-attribution")
def build_attribution_cmd(
    model_dir: Path = typer.Option(..., "--model", help="a detector folder (detector.json), e.g. one written by "
                                   "'artcheck build-detector'; attribution.npz is added to it"),
    data: list[str] = typer.Option(..., "--data", help="labelled datasets (repeatable) whose AI rows name their "
                                   "generator; reserved sources are refused"),
    figure: Optional[Path] = typer.Option(None, "--figure", help="also write the held-out confusion matrix here (PNG)"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Add a generator-family attribution head to a detector, measured held out by source."""
    needs("train", "'artcheck build-attribution'")
    from artcheck.detect.weights import WeightsError

    try:
        from artcheck.lab.attribution import build_attribution

        m = build_attribution(model_dir, data, progress=False if quiet else None, figure=figure)
    except (ValueError, FileNotFoundError, ModuleNotFoundError, WeightsError) as e:
        _fail(e)
    out.print(f"held out by source, macro over the {len(m['measured_families'])} families with at least 3 sources: "
              f"top-1 {m['macro_top1']:.3f}, top-3 {m['macro_top3']:.3f}; a family never seen answered 'unknown' "
              f"{m['lofo_unknown_macro']:.0%} of the time (open-set rule {m['open_rule']}, threshold {m['open_threshold']:.2f})")
    out.print(f"wrote {model_dir}/attribution.npz; figures in detector.json and MODEL_CARD.md")


@app.command("build-screenshot-check")
def build_screenshot_check_cmd(
    model_dir: Path = typer.Option(..., "--model", help="a detector folder (detector.json); screenshot.npz is added"),
    screenshots: Path = typer.Option(Path("data/screenshots"), "--screenshots", help="screenshots and their "
                                     "manifest.csv, as 'python scripts/screenshot_sources.py' writes them"),
    data: list[str] = typer.Option(..., "--data", help="the detector's training datasets (repeatable): the images "
                                   "that must not be called screenshots"),
    eval_data: list[str] = typer.Option([], "--eval-data", help="more labelled datasets (repeatable), only counted: "
                                        "how many of them the shipped check calls screenshots"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Add the screenshot check to a detector: screenshots of programs get `uncertain`, measured held out."""
    needs("train", "'artcheck build-screenshot-check'")
    from artcheck.detect.weights import WeightsError

    try:
        from artcheck.lab.screenshots import build_screenshot_check

        m = build_screenshot_check(model_dir, screenshots, data, eval_data, progress=False if quiet else None)
    except (ValueError, FileNotFoundError, ModuleNotFoundError, WeightsError) as e:
        _fail(e)
    caught = ", ".join(f"{s} {r['caught']:.0%} of {r['n']}" for s, r in m["per_suite_held_out"].items())
    flagged = sum(len(r["flagged"]) for r in m["unseen"].values())
    out.print(f"screenshots caught, each desktop held out: {caught}; training-pool images called screenshots: 0 "
              f"of {m['n_pool']} held out (threshold {m['threshold']:.2f}); images it never saw called screenshots: "
              f"{flagged} of {sum(r['n'] for r in m['unseen'].values())}")
    out.print(f"wrote {model_dir}/screenshot.npz; figures in detector.json and MODEL_CARD.md")


@app.command()
def explain(
    target: str = typer.Argument(..., help="a run directory, 'default' or a folder holding detector.json"),
    image: Path = typer.Argument(..., help="the image to explain"),
    out_path: Path = typer.Option(Path("heat.png"), "--out", help="where to write the picture"),
    method: str = typer.Option("auto", help="auto (Grad-CAM for CNNs, else occlusion) | gradcam | occlusion"),
    grid: int = typer.Option(8, help="occlusion grid (grid x grid cells, grid**2 + 1 forward passes)"),
) -> None:
    """Write IMAGE with a heat map of what pushed the model towards 'ai', and the scores in the corner."""
    needs("train", "'artcheck explain'")
    from artcheck.detect.weights import WeightsError
    from artcheck.images import ImageError, load_image
    from artcheck.lab.explain import explain as run_explain
    from artcheck.lab.explain import load_explainable, write_explanation

    try:
        img = load_image(image).image
        model, name = load_explainable(target)
        e = run_explain(model, img, method, grid, name)
    except ImageError as e:
        err.print(styled(("error:", "red"), f" {e}"))
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
    base: Optional[str] = typer.Option(None, "--base", help="vlm-lora: the vision-language model (hub id or folder)"),
    lora_rank: Optional[int] = typer.Option(None, "--lora-rank", help="vlm-lora: rank of the LoRA adapters"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Train on each group and test on every other: the cross-generator / cross-source matrix.

    Groups holding one class are completed with the other class from outside the cell
    (see docs/evaluation.md); train and test never share an image.
    """
    needs("train", "'artcheck crossval'")
    from artcheck.data import read_dataset
    from artcheck.lab import crossval as cv

    try:
        manifest = read_dataset(data)
        kwargs = _vlm_kwargs(base, lora_rank)
        fit = cv.train_fitter(model, epochs, seed, {"model_kwargs": kwargs} if kwargs else None)
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
        err.print(styled(("cell skipped", "yellow"), f" {line}"))
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
    needs("train", "'artcheck make-edited'")
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
    needs("train", "'artcheck report'")
    from artcheck.lab.report import write_report_html

    if eval_dir is None and not (run_dir / "eval-test" / "metrics.json").is_file() and (run_dir / "config.json").is_file():
        err.print(f"no evaluation in {run_dir}/eval-test yet: running artcheck evaluate {run_dir}", highlight=False)
        code = invoke(["evaluate", str(run_dir), "-q"])
        if code not in (0, EXIT_SOME_FAILED):
            raise typer.Exit(code)
    try:
        path = write_report_html(run_dir, out_path, eval_dir)
    except HEAVY_ERRORS as e:
        _fail(e)
    out.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained)")
