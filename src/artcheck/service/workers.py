"""Checking in worker processes, where a deadline can actually stop the work.

A thread cannot be interrupted in Python: a CPU-bound check that runs past its deadline
holds the interpreter and every other request waits (issue 15). Here each worker is a
process that loads the detector once; a request past its deadline gets 504, its worker
is killed, and a fresh one is started in the background while the other workers go on
serving. Processes are started with ``spawn`` (no forked ONNX Runtime thread pools).
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from typing import Any, Callable


class CheckTimeout(Exception):
    """The check ran past its deadline; its worker was recycled."""


class WorkerCrashed(Exception):
    """The worker process died (e.g. killed for memory); it was replaced."""


def _worker_main(conn, factory: Callable[[], Any], name: str | None = None) -> None:
    from artcheck.detect.detector import load_tier

    det = factory()
    tiers = {name: det} if name else {}         # other built-in tiers load on first request for them
    arith = getattr(det, "arithmetic", None)
    conn.send(("ready", {"model_info": det.model_info, "band": [det.lo, det.hi],
                         "arithmetic": arith.to_dict() if arith is not None else None,
                         "config": {k: det.config.get(k) for k in ("recipe", "backbone", "n_images", "training_data",
                                                                  "metrics")}}))
    while True:
        try:
            items, max_pixels, model = conn.recv()
        except (EOFError, OSError):
            return
        try:
            target = det if model is None else load_tier(model, tiers)
            conn.send(("ok", [v.to_dict() for v in target.check_many(items, max_pixels=max_pixels)]))
        except Exception as e:  # noqa: BLE001 - reported to the parent, which answers 500-free
            conn.send(("error", f"{type(e).__name__}: {e}"))


class _Worker:
    def __init__(self, ctx, factory, start_timeout: float, name: str | None = None):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, factory, name), daemon=True, name="artcheck-worker")
        self.proc.start()
        child.close()
        if not self.conn.poll(start_timeout):
            self.kill()
            raise RuntimeError(f"a checking worker did not start within {start_timeout:.0f} s")
        kind, self.info = self.conn.recv()
        if kind != "ready":
            raise RuntimeError(f"a checking worker failed to start: {self.info}")

    def run(self, items: list[bytes], max_pixels: int, timeout: float, model: str | None = None) -> list[dict]:
        self.conn.send((items, max_pixels, model))
        try:
            ready = self.conn.poll(timeout)
        except (EOFError, OSError) as e:
            raise WorkerCrashed(str(e)) from e
        if not ready:
            raise CheckTimeout()
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError) as e:
            raise WorkerCrashed("the worker process ended during the check") from e
        if kind != "ok":
            raise RuntimeError(payload)
        return payload

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class WorkerPool:
    """``size`` worker processes; ``check`` blocks the calling thread (run it in a thread pool).
    ``name``: the built-in tier ``factory`` loads, if it is one (``check(model=...)`` reuses it)."""

    def __init__(self, factory: Callable[[], Any], size: int = 1, start_timeout: float = 300.0,
                 name: str | None = None):
        self.factory, self.start_timeout, self.name = factory, start_timeout, name
        self.ctx = multiprocessing.get_context("spawn")
        self.idle: queue.Queue[_Worker] = queue.Queue()
        workers = [_Worker(self.ctx, factory, start_timeout, name) for _ in range(size)]
        self.info = workers[0].info
        for w in workers:
            self.idle.put(w)
        self.recycled = 0
        self.closed = False

    def _replace(self) -> None:
        def start():
            try:
                worker = _Worker(self.ctx, self.factory, self.start_timeout, self.name)
            except (RuntimeError, EOFError, OSError):
                return                       # the pool is closing, or the machine is out of something
            if self.closed:
                worker.kill()
            else:
                self.idle.put(worker)
        threading.Thread(target=start, daemon=True).start()

    def check(self, items: list[bytes], max_pixels: int, timeout: float, model: str | None = None) -> list[dict]:
        """Verdict dicts for ``items`` (by the built-in tier ``model``, or the pool's own); raises
        CheckTimeout past ``timeout`` seconds (waiting for a free worker included) and WorkerCrashed
        when the worker died."""
        try:
            worker = self.idle.get(timeout=timeout)
        except queue.Empty as e:
            raise CheckTimeout() from e
        try:
            out = worker.run(items, max_pixels, timeout, model)
        except (CheckTimeout, WorkerCrashed):
            worker.kill()
            self.recycled += 1
            self._replace()
            raise
        except BaseException:
            self.idle.put(worker)
            raise
        self.idle.put(worker)
        return out

    def close(self) -> None:
        self.closed = True
        while True:
            try:
                self.idle.get_nowait().kill()
            except queue.Empty:
                return
