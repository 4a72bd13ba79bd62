"""FastAPI app: ``POST /v1/check``, ``GET /v1/models``, ``GET /healthz``, the page at ``/``.

Uploads are read into memory under a byte cap and a time limit (never written to disk,
file names never used as paths; a body that has not arrived within ``body_timeout_s`` gets
408). Checking runs in worker processes (``service.workers``) behind a bounded queue:
``503`` with ``Retry-After`` when the queue is full, ``504`` past the request deadline, when
the worker is killed and replaced while the others keep serving. A detector passed in
directly (tests, embedding) runs in a thread instead, where a deadline answers 504 but
cannot stop the work. Every bad input is a 4xx JSON error.
"""

from __future__ import annotations

import asyncio
import functools
import json
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException, MultiPartParser

from artcheck import __version__
from artcheck.detect.detector import summary
from artcheck.service import schema
from artcheck.service.settings import ServiceSettings


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers)


class _Gate:
    """At most ``slots`` requests run inference; at most ``queue`` wait; the rest get 503."""

    def __init__(self, slots: int, queue: int):
        self.sem = asyncio.Semaphore(slots)
        self.limit = slots + queue
        self.inside = 0

    def __enter__(self) -> "_Gate":
        if self.inside >= self.limit:
            raise ApiError(503, "busy", "the server is busy; retry shortly")
        self.inside += 1
        return self

    def __exit__(self, *exc) -> None:
        self.inside -= 1


class _ByteBudget:
    """Request bodies held in memory at once, over all requests: each reserves what it may hold
    (its declared length, or the cap) before its body is read; past the budget it gets 503."""

    def __init__(self, total: int):
        self.total, self.used = total, 0

    def reserve(self, n: int) -> int:
        if self.used and self.used + n > self.total:
            raise ApiError(503, "busy", f"too many large uploads in flight ({self.used:,} bytes held); retry shortly")
        self.used += n
        return n

    def release(self, n: int) -> None:
        self.used -= n


def _declared_length(request: Request, cap: int) -> int | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        if int(declared) > cap:
            raise ApiError(413, "request_too_large", f"request body is {declared} bytes; the limit is {cap}")
        return int(declared)
    return None


async def _capped_body(request: Request, cap: int, timeout: float) -> AsyncIterator[bytes]:
    """The body as it arrives, at most ``cap`` bytes, all of it within ``timeout`` seconds (else 408).
    Streamed into the multipart parser, so the body is never held twice."""
    size = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), max(0.0, deadline - loop.time()))
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError as e:
            raise ApiError(408, "body_timeout", f"the request body did not arrive within {timeout:g} s "
                           f"({size} bytes received); upload it again on a faster connection",
                           {"Connection": "close"}) from e
        size += len(chunk)
        if size > cap:
            raise ApiError(413, "request_too_large", f"request body exceeds the {cap}-byte limit")
        yield chunk


async def _parse_files(request: Request, s: ServiceSettings) -> list[tuple[str, bytes]]:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type",
                       f"expected multipart/form-data with one or more 'files' parts, got {ctype or 'no content type'!r}")

    class InMemoryParser(MultiPartParser):
        spool_max_size = s.max_request_bytes   # keep every part in memory: nothing touches the disk

    try:
        form = await InMemoryParser(request.headers, _capped_body(request, s.max_request_bytes, s.body_timeout_s),
                                    max_files=s.max_files, max_fields=16).parse()
    except MultiPartException as e:
        status = 413 if "Too many files" in e.message else 400
        raise ApiError(status, "bad_multipart", f"{e.message} (at most {s.max_files} files per request)") from e
    uploads = [v for k, v in form.multi_items() if k in ("files", "file") and hasattr(v, "read")]
    if not uploads:
        await form.close()
        raise ApiError(400, "no_files", "no image parts found; send them as multipart fields named 'files'")
    out = []
    try:
        for i, up in enumerate(uploads):
            name = Path(up.filename or f"upload-{i}").name[:200] or f"upload-{i}"   # a label, never a path
            if (up.size or 0) > s.max_file_bytes:
                raise ApiError(413, "file_too_large", f"{name}: {up.size} bytes; the limit is {s.max_file_bytes}")
            out.append((name, await up.read()))
            await up.close()               # each part's spool freed as soon as its bytes are taken
    finally:
        await form.close()
    return out


def _tier_entry(name: str) -> dict:
    """What /v1/models says of a built-in tier the server can also run (``?model=NAME``), from its
    detector.json alone (nothing is loaded until a request asks for it)."""
    from artcheck.detect.detector import detector_config

    try:
        _folder, cfg = detector_config(name)
    except (FileNotFoundError, ValueError) as e:
        return {"name": name, "select": f"?model={name}", "available": False, "error": str(e)}
    m = cfg.get("metrics") or {}
    return {"name": cfg.get("name"), "version": str(cfg.get("version")), "uncertain_band": cfg.get("uncertain_band"),
            "select": f"?model={name}", "available": True,
            "card": {k: cfg.get(k) for k in ("recipe", "backbone", "tokens", "n_images")},
            "held_out_metrics": m.get("loso_clean_at_0.5"), "band_metrics": m.get("band"),
            "cascade": cfg.get("cascade") if name != "default" else None, "explain": False}


def create_app(detector=None, settings: ServiceSettings | None = None, model: str = "default",
               factory: Callable[[], Any] | None = None) -> FastAPI:
    """Build the app. ``detector`` may be given (tests, embedding): it runs in threads.
    Otherwise ``max_concurrency`` worker processes each build one with ``factory`` (default:
    ``load_detector(model)``; it must be picklable), started with the server."""
    s = settings or ServiceSettings()
    state: dict[str, Any] = {"detector": detector, "gate": None, "pool": None, "tiers": {}}
    from artcheck.detect.detector import TIERS

    served = str(model) if detector is None and str(model) in TIERS else None   # a built-in tier by name

    def get_detector():
        if state["detector"] is None:
            from artcheck.detect.detector import load_detector

            state["detector"] = load_detector(model)
        return state["detector"]

    def model_info() -> dict:
        if state["pool"] is not None:
            info = state["pool"].info
            return {**info["model_info"], "uncertain_band": info["band"], "arithmetic": info.get("arithmetic"),
                    "config": info["config"]}
        det = get_detector()
        arith = getattr(det, "arithmetic", None)
        return {**det.model_info, "uncertain_band": [det.lo, det.hi],
                "arithmetic": arith.to_dict() if arith is not None else None, "config": det.config}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["gate"] = _Gate(s.max_concurrency, s.max_queue)   # made inside the server's event loop
        if state["detector"] is None:
            from artcheck.detect.detector import load_detector
            from artcheck.service.workers import WorkerPool

            make = factory or functools.partial(load_detector, model)
            state["pool"] = await run_in_threadpool(WorkerPool, make, s.max_concurrency, 300.0,
                                                    served)   # ready before requests
        try:
            yield
        finally:
            if state["pool"] is not None:
                state["pool"].close()

    from fastapi_offline import FastAPIOffline

    # /docs and /redoc from assets shipped in the fastapi-offline package: they work without internet
    app = FastAPIOffline(title="artcheck", version=__version__, lifespan=lifespan,
                         description="Was this image made by a human or generated by an AI?")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        # 404, 405 and the like in the API's one error shape (FastAPI's default is {"detail": ...})
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return _error(e.status_code, code, str(e.detail), dict(e.headers or {}))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError) -> JSONResponse:
        return _error(e.status, e.code, e.message, e.headers)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, e: Exception) -> JSONResponse:
        # a bug or a worker failure still answers in the API's error shape, never plain text
        return _error(500, "internal_error", f"the server failed on this request ({type(e).__name__}); retry, "
                      "and report it if it persists")

    @app.get("/healthz")
    async def healthz() -> dict:
        pool = state["pool"]
        return {"status": "ok", "model_loaded": state["detector"] is not None or pool is not None,
                "workers": "processes" if pool is not None else "threads",
                "workers_recycled": pool.recycled if pool is not None else 0}

    @app.get("/v1/models")
    async def models() -> dict:
        info = model_info()
        cfg = info.pop("config")
        card = {k: cfg.get(k) for k in ("recipe", "backbone", "tokens", "n_images", "training_data")}
        metrics = (cfg.get("metrics") or {}).get("loso_clean_at_0.5")
        band = (cfg.get("metrics") or {}).get("band")
        entries = [{**info, "card": card, "held_out_metrics": metrics, "band_metrics": band, "explain": False,
                    "select": None}]
        return {"models": entries + [_tier_entry(t) for t in TIERS if t != served]}

    def run_checks(items: list[bytes], tier: str | None = None) -> list:
        from artcheck.detect.detector import Verdict, load_tier
        from artcheck.service.workers import CheckTimeout, WorkerCrashed

        if state["pool"] is None:
            det = get_detector() if tier is None else load_tier(tier, state["tiers"])
            return list(det.check_many(items, max_pixels=s.max_pixels))
        try:
            return [Verdict.from_dict(d) for d in state["pool"].check(items, s.max_pixels, s.request_timeout_s, tier)]
        except CheckTimeout as e:
            raise ApiError(504, "timeout", f"checking took longer than {s.request_timeout_s:g} s; the work was "
                           "stopped. Send fewer or smaller images per request") from e
        except WorkerCrashed as e:
            raise ApiError(503, "worker_crashed", f"the checking worker ended unexpectedly ({e}); it was restarted, "
                           "retry shortly") from e

    @app.post("/v1/check", response_model=schema.CheckResponse, openapi_extra=schema.UPLOAD_BODY,
              responses=schema.ERROR_RESPONSES, summary="Check one or more images")
    async def check(request: Request) -> JSONResponse:
        """Upload images as multipart fields named `files` (one or many); each gets a verdict
        (`ai`, `human` or `uncertain`), a calibrated P(ai) and the reasons. `?model=fast` (or
        `cascade`, `default`) picks a built-in tier; without it, the server's own model."""
        tier = request.query_params.get("model") or None
        if tier is not None and tier not in TIERS:
            raise ApiError(400, "unknown_model", f"model {tier!r}: expected one of {', '.join(TIERS)} "
                           "(GET /v1/models lists them), or no model parameter for the server's own")
        tier = None if tier == served else tier
        gate = state["gate"] or _Gate(s.max_concurrency, s.max_queue)
        budget = state.setdefault("bytes", _ByteBudget(s.max_bytes_in_flight))
        held = 0
        try:
            # the queue limit and the memory budget apply before a byte of the body is read
            with gate:
                declared = _declared_length(request, s.max_request_bytes)
                held = budget.reserve(declared if declared is not None else s.max_request_bytes)
                files = await _parse_files(request, s)
                async with gate.sem:
                    work = run_in_threadpool(run_checks, [d for _, d in files], tier)
                    # process workers enforce the deadline themselves; a thread can only be abandoned
                    grace = 5.0 if state["pool"] is not None else 0.0
                    verdicts = await asyncio.wait_for(work, timeout=s.request_timeout_s + grace)
        except ApiError as e:
            if e.status == 503:
                e.headers = {"Retry-After": str(s.retry_after_s)}
            raise
        except asyncio.TimeoutError as e:
            raise ApiError(504, "timeout", f"checking took longer than {s.request_timeout_s:g} s") from e
        finally:
            budget.release(held)
        for (name, _), v in zip(files, verdicts):
            v.path = name
        results = [v.to_dict() for v in verdicts]
        payload = {"results": results, "summary": summary(verdicts)}
        if all(v.error for v in verdicts):
            reasons = "; ".join(f"{v.path}: {v.error}" for v in verdicts)
            return _error(422, "unreadable_images", f"no upload could be read as an image ({reasons})",
                          results=results)
        return JSONResponse(payload)

    @app.get("/favicon.svg", include_in_schema=False)
    async def favicon() -> Response:
        return Response((resources.files("artcheck") / "service" / "static" / "favicon.svg").read_bytes(),
                        media_type="image/svg+xml")

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        html = (resources.files("artcheck") / "service" / "static" / "index.html").read_text()
        limits = {"max_files": s.max_files, "max_file_bytes": s.max_file_bytes}
        return HTMLResponse(html.replace("/*LIMITS*/{}", json.dumps(limits)))

    return app
