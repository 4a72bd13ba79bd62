"""Which arithmetic computes the backbone on this machine: chosen by measurement, not by CPU name.

A backbone may offer several paths (``BackboneSpec.arithmetic``: "float32", "int8-exact").
At load the detector runs a short probe: each candidate path scores the probe images and is
compared with the float64 reference (``clip_reference``); the first candidate whose P(ai)
stays within ``P_AI_TOLERANCE`` of the reference on every probe image is used. Candidates are
tried fastest first. The answer is cached per (graph, head, runtime version, CPU flags), so
later loads on the same machine skip the probe; a cache copied to another CPU re-probes.

``ARTCHECK_ARITHMETIC=<path>`` forces a path (the probe still runs and its figures are reported).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from artcheck.detect.weights import cache_dir

P_AI_TOLERANCE = 1e-4           # the most P(ai) may differ from the float64 reference (the card states it)
FORCE_ENV = "ARTCHECK_ARITHMETIC"
SPEED_ORDER = ("int8-exact", "float32")      # candidates are tried in this order: fastest first
PROBE_FILES = ("human-photo-astronaut.jpg", "ai-anime-illustration.png")   # bundled samples


@dataclass
class PathChoice:
    """What the probe found: the path used, and each candidate's largest P(ai) deviation."""

    path: str
    tolerance: float = P_AI_TOLERANCE
    deviation: dict[str, float] = field(default_factory=dict)     # candidate -> max |P(ai) - reference|
    forced: bool = False
    cached: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        devs = ", ".join(f"{k} {v:.1e}" for k, v in self.deviation.items())
        how = "forced by " + FORCE_ENV if self.forced else "chosen by the load-time probe"
        return (f"arithmetic: {self.path} ({how}{', cached' if self.cached else ''}); largest P(ai) deviation "
                f"from the float64 reference: {devs} (tolerance {self.tolerance:g})")


def probe_images() -> np.ndarray:
    """uint8 (N, 224, 224, 3): bundled samples at the CLIP input size, and one seeded noise image."""
    from artcheck.detect.backbones import get_spec
    from artcheck.images import load_image

    pre = get_spec("clip-vit-b16").preprocess
    folder = Path(str(resources.files("artcheck") / "assets" / "samples"))
    arrays = [pre.to_uint8(load_image(folder / f).image) for f in PROBE_FILES]
    arrays.append(np.random.default_rng(0).integers(0, 256, arrays[0].shape, dtype=np.uint8))
    return np.stack(arrays)


def reference_features(weights_path: str | Path, batch_uint8: np.ndarray, spec=None,
                       tokens: str | None = None) -> np.ndarray:
    """The layered features the backbone should give (on the token subset ``tokens``, if any),
    computed by the float64 reference."""
    from artcheck.detect.backbones import get_spec, pool_layers
    from artcheck.detect.clip_reference import ClipReference

    spec = spec or get_spec("clip-vit-b16")
    x = spec.preprocess.normalize(batch_uint8).astype(np.float64)
    emb, blocks = ClipReference.from_onnx(weights_path).blocks(x, tokens)
    return pool_layers(emb, blocks).astype(np.float64)


FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
                     "asimd", "sve")


def _cpuinfo(field_names: tuple[str, ...]) -> str:
    """The first /proc/cpuinfo value whose field starts with one of ``field_names`` ("" if none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field_names):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_info() -> dict:
    """The CPU's model name and the instruction-set flags that change ONNX Runtime's kernels
    (printed with every speed figure; the choice of path never looks at them)."""
    import platform

    import onnxruntime

    model = _cpuinfo(("model name",)) or platform.processor() or platform.machine()
    flags = set(_cpu_flags().split())
    return {"model": model, "flags": sorted(flags & set(FLAGS_OF_INTEREST)), "cpus": os.cpu_count(),
            "onnxruntime": onnxruntime.__version__}


def _cpu_flags() -> str:
    import platform

    return _cpuinfo(("flags", "Features")) or platform.processor() or platform.machine()


def _key(weights_path: Path, head_id: str, tokens: str | None = None) -> str:
    import onnxruntime

    st = weights_path.stat()
    parts = [str(weights_path), str(st.st_size), str(st.st_mtime_ns), head_id, onnxruntime.__version__, _cpu_flags()]
    parts += [tokens] if tokens else []
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _cache_file() -> Path:
    return cache_dir().parent / "arithmetic.json"


def _load_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _store(key: str, choice: PathChoice) -> None:
    data = _load_cache()
    data[key] = {"path": choice.path, "deviation": choice.deviation}
    f = _cache_file()
    try:
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(f)
    except OSError:
        pass                                    # a read-only cache only costs the probe next time


def measure(make_backbone: Callable[[str], object], candidates: tuple[str, ...], weights_path: str | Path,
            score: Callable[[np.ndarray], np.ndarray], tokens: str | None = None) -> dict[str, float]:
    """Each candidate's largest |P(ai) - reference P(ai)| over the probe images (the backbones
    ``make_backbone`` builds run on the token subset ``tokens``, and so does the reference)."""
    images = probe_images()
    ref = score(reference_features(weights_path, images, tokens=tokens))
    return {c: float(np.abs(score(make_backbone(c).features(images).astype(np.float64)) - ref).max())
            for c in candidates}


def choose(make_backbone: Callable[[str], object], candidates: tuple[str, ...], weights_path: str | Path,
           score: Callable[[np.ndarray], np.ndarray], head_id: str, tokens: str | None = None) -> PathChoice:
    """The fastest candidate within tolerance (see the module docstring); raises ValueError when a
    forced path is not a candidate, and when no candidate is within tolerance."""
    forced = os.environ.get(FORCE_ENV, "").strip()
    if forced and forced not in candidates:
        raise ValueError(f"{FORCE_ENV}={forced!r}: expected one of {', '.join(candidates)}")
    ordered = tuple(c for c in SPEED_ORDER if c in candidates) + tuple(c for c in candidates if c not in SPEED_ORDER)
    key = _key(Path(weights_path), head_id, tokens)
    hit = _load_cache().get(key)
    if hit and hit.get("path") in candidates and set(hit.get("deviation", {})) == set(candidates):
        devs = hit["deviation"]
        path = forced or hit["path"]
        return PathChoice(path, deviation=devs, forced=bool(forced), cached=True)
    devs = measure(make_backbone, ordered, weights_path, score, tokens)
    within = [c for c in ordered if devs[c] <= P_AI_TOLERANCE]
    if not within and not forced:
        raise ValueError(f"no arithmetic path stays within {P_AI_TOLERANCE:g} of the float64 reference on this "
                         f"machine (largest deviations: {devs}); set {FORCE_ENV} to one of {', '.join(ordered)} "
                         "to run anyway, and report the figures")
    if within:
        _store(key, PathChoice(within[0], deviation=devs))
    return PathChoice(forced or within[0], deviation=devs, forced=bool(forced))
