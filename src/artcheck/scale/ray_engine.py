"""``artcheck check --engine ray``: the same check as a Ray Data pipeline (the ``[scale]`` extra).

files (listed by the driver, as the plain engine lists them)
  -> read tasks: each file's bytes under the one decoder's file rules (:func:`artcheck.images.read_image_bytes`)
  -> an actor pool: each actor loads the detector once and runs ``Detector.check_many`` on
     ``(path, bytes)`` pairs, so decoding, provenance, the model and the verdict are the plain
     engine's own code: the same P(ai) for every file
  -> the driver, which writes rows through the same result writer as the plain engine (so
     ``--out`` and ``--resume`` work the same) or prints them.

Bad files become rows with ``error``, never a failed job. ``ray.init()`` starts a local Ray
on this machine unless ``address`` names a cluster to join (the cluster's workers need
artcheck and the model folder at the same path).

On 2 CPUs: an actor pool as large as the CPU count can leave no CPU for the read tasks, which
then never run (the pipeline stalls). Here actors ask for ``ACTOR_CPUS`` each and read tasks
for ``READ_CPUS``, and each actor's ONNX Runtime uses ``cpus // actors`` threads.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Iterator

from artcheck.detect.detector import Verdict

READ_CPUS = 0.25          # a read task is I/O: a quarter CPU, so reads always find room beside the actors
ACTOR_CPUS = 0.5          # per scoring actor (its ONNX Runtime threads are set separately)
OBJECT_STORE_BYTES = 256 * 1024 * 1024    # local clusters only: enough for a few batches of images in flight


def require_ray() -> None:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(f"--engine ray needs Ray Data ({e.name!r} is missing): pip install 'artcheck[scale]'"
                                  ) from e


def _read(batch: dict[str, Any]) -> dict[str, Any]:
    from artcheck.images import ImageError, read_image_bytes

    data, errors = [], []
    for path in batch["path"]:
        try:
            data.append(read_image_bytes(str(path)))
            errors.append("")
        except ImageError as e:
            data.append(b"")
            errors.append(e.reason)
    return {"path": list(batch["path"]), "data": data, "read_error": errors}


class _Scorer:
    """One per actor: the detector is loaded once, in the actor's constructor."""

    def __init__(self, model: str, threshold: float | None, provenance: bool, threads: int, batch_size: int):
        from artcheck.detect.detector import load_detector

        self.detector = load_detector(model, threshold=threshold, provenance=provenance, threads=threads)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        paths = [str(p) for p in batch["path"]]
        good = [(p, bytes(d)) for p, d, e in zip(paths, batch["data"], batch["read_error"]) if not e]
        scored = iter(self.detector.check_many(good, batch_size=self.batch_size, workers=1))
        rows = []
        for p, e in zip(paths, batch["read_error"]):
            v = self.detector._error(p, str(e)) if e else next(scored)
            rows.append(json.dumps(v.to_dict()))
        return {"path": paths, "verdict": rows}


def check_many(files: Iterable[str], *, model: str, threshold: float | None = None, provenance: bool = True,
               actors: int = 1, batch_size: int = 16, address: str | None = None) -> Iterator[Verdict]:
    """Verdicts for ``files``, in input order, computed by a Ray Data pipeline."""
    require_ray()
    import ray

    files = [str(f) for f in files]
    if not files:
        return
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"address": address} if address else {"object_store_memory": OBJECT_STORE_BYTES}
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", **kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    cpus = int(ray.cluster_resources().get("CPU", os.cpu_count() or 1))
    from artcheck.detect.detector import TIERS

    model_path = model if model is None or model in TIERS else os.path.abspath(model)
    ds = (ray.data.from_items([{"path": f} for f in files], override_num_blocks=max(1, len(files) // batch_size))
          .map_batches(_read, batch_size=batch_size, num_cpus=READ_CPUS)
          .map_batches(_Scorer, batch_size=batch_size, num_cpus=ACTOR_CPUS,
                       compute=ray.data.ActorPoolStrategy(size=max(1, actors)),
                       fn_constructor_kwargs={"model": model_path, "threshold": threshold, "provenance": provenance,
                                              "threads": max(1, cpus // max(1, actors)), "batch_size": batch_size}))
    for row in ds.iter_rows():
        yield Verdict.from_dict(json.loads(row["verdict"]))
