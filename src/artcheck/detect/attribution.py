"""Which generator family an image looks like: evidence beside the verdict, never a verdict.

A multinomial logistic head on the detector's own features (the same backbone pass), trained
on AI images only (``lab.attribution``), answers a probability per family of
``artcheck.families`` with an open-set rule: when the head's evidence for every family it knows is
low the answer is ``unknown``, so a family it never saw is not forced into a wrong name. The
evidence (``open_rule``) is whichever of two scores the build measured to answer a family left out
of training ``unknown`` more often at the same cost to the known families (``lab.attribution``,
nested leave-one-family-out): the top calibrated probability (the default's head: 27% against 16%)
or the energy score, T log sum exp(z / T) over the families' logits z (Liu et al. 2020,
"Energy-based out-of-distribution detection"). Where
provenance names the model (``family_from_provenance``), the family comes from that and is
marked certain.

Core install only (NumPy): the head is a small ``.npz`` of arrays beside ``head.json``, read
with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artcheck.families import FAMILIES

UNKNOWN = "unknown"
TOP = 3                    # family_p lists this many


@dataclass
class FamilyHead:
    classes: list[str]
    coef: np.ndarray          # (K, D) on standardised features
    intercept: np.ndarray     # (K,)
    mean: np.ndarray          # (D,)
    scale: np.ndarray         # (D,)
    temperature: float = 1.0  # calibration: softmax(logits / temperature)
    open_threshold: float = 0.0   # below this open-set score the answer is "unknown"
    open_rule: str = "energy"     # the open-set score: "energy" or "top_p" (the top probability)

    def logits(self, X: np.ndarray) -> np.ndarray:
        """(N, K) logits, before the temperature."""
        return ((np.asarray(X, np.float64) - self.mean) / self.scale) @ self.coef.T + self.intercept

    def proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self.logits(X) / self.temperature)

    def answer(self, z: np.ndarray) -> tuple[str, list[tuple[str, float]], float]:
        """(family or 'unknown', the top families with their probabilities, the open-set score) for
        one row of ``logits``."""
        p = softmax(z[None] / self.temperature)[0]
        order = np.argsort(-p)[:TOP]
        top = [(self.classes[i], round(float(p[i]), 3)) for i in order]
        score = float(open_score(z[None], self.temperature, self.open_rule)[0])
        return (top[0][0] if score >= self.open_threshold else UNKNOWN), top, score

    def save(self, path: str | Path) -> None:
        np.savez(path, coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32),
                 mean=self.mean.astype(np.float32), scale=self.scale.astype(np.float32),
                 meta=np.frombuffer(json.dumps({"classes": self.classes, "temperature": self.temperature,
                                                "open_threshold": self.open_threshold,
                                                "open_rule": self.open_rule}).encode(), np.uint8))

    @classmethod
    def load(cls, path: str | Path) -> "FamilyHead":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            unknown = [c for c in meta["classes"] if c not in FAMILIES]
            if unknown:
                raise ValueError(f"{path}: families {unknown} are not in artcheck.families; rebuild the head")
            return cls(meta["classes"], z["coef"].astype(np.float64), z["intercept"].astype(np.float64),
                       z["mean"].astype(np.float64), z["scale"].astype(np.float64),
                       float(meta["temperature"]), float(meta["open_threshold"]), meta.get("open_rule", "top_p"))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


OPEN_RULES = ("energy", "top_p")


def open_score(z: np.ndarray, temperature: float, rule: str) -> np.ndarray:
    """Per row of logits ``z``: how much the head's evidence says "a family I know" (higher: more).
    ``energy``: T log sum exp(z / T); ``top_p``: the top calibrated probability. Logits of
    -inf or below -1e8 (a family a fold's head lacks) count as absent."""
    if rule not in OPEN_RULES:
        raise ValueError(f"open_rule must be one of {OPEN_RULES}, got {rule!r}; rebuild the head")
    z = np.where(np.isfinite(z) & (z > -1e8), z, -np.inf) / temperature
    top = z.max(1, keepdims=True)
    if rule == "top_p":
        return 1.0 / np.exp(z - top).sum(1)
    return temperature * (top[:, 0] + np.log(np.exp(z - top).sum(1)))


# Provenance that names the model. Patterns are matched in lower case against the named
# checkpoint, model or generator; the first that matches gives the family. A name none of them
# matches ("dreamshaper_8") is reported as named but its family is left to the model.
PROVENANCE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"flux", "flux"),
    (r"\bsd3|sd_?3[._]5|stable[-_ ]?diffusion[-_ ]?3", "sd3"),
    (r"sdxl|sd_xl|\bxl\b|_xl|xl_|-xl|pony|illustrious|noob|juggernautxl|playground[-_ ]?v2", "sdxl"),
    (r"v1-5|v1-4|sd-?v?1[._-]?[45]|sd15|sd_?1\.5|v2-1|sd-?2[._]?1|sd21|stable[-_ ]?diffusion[-_ ]?(v)?[12]", "sd1-2"),
    (r"novelai|nai[-_ ]diffusion|anything[-_ ]?v|abyssorange|meinamix|waifu", "novelai-anime"),
    (r"dall[-·. ]?e[- ]?2", "dalle-2"),
    (r"dall[-·. ]?e|gpt[-_ ]?image|chatgpt|openai", "dalle-3"),
    (r"midjourney", "midjourney"),
    (r"imagen|gemini|nano[-_ ]?banana|google", "gemini-imagen"),
    (r"qwen[-_ ]?image|hidream|hunyuan|kolors|kandinsky|pixart|\bsana\b|lumina|cogview|z[-_]?image|omnigen|stable[-_ ]?cascade",
     "open-dit"),
    (r"firefly|ideogram|recraft|seedream|runway|leonardo", "api-other"),
)
A1111_MODEL_RE = re.compile(r"(?:^|,\s*)Model:\s*([^,\n]{1,120})")
A1111_HASH_RE = re.compile(r"(?:^|,\s*)Model hash:\s*([0-9a-fA-F]{8,12})\b")
# Automatic1111's short model hashes (the first 10 hex digits of the file's SHA-256) of the base
# checkpoints, each seen beside its file name in public infotexts: a renamed file ("Model: base")
# is still named by its hash. A hash not here names nothing.
MODEL_HASHES = {"6ce0161689": "v1-5-pruned-emaonly", "fe4efff1e1": "sd-v1-4", "ad2a33c361": "v2-1_768-ema-pruned",
                "31e35c80fc": "sd_xl_base_1.0", "67ab2fd8ec": "ponyDiffusionV6XL_v6StartWithThisOne"}
MAX_NAMED = 200            # characters of a named model kept


def family_of_name(name: str) -> str | None:
    """The family a model name from provenance belongs to, or None when no rule knows it."""
    low = name.lower()
    for pattern, family in PROVENANCE_PATTERNS:
        if re.search(pattern, low):
            return family
    return None


def named_models(info: dict) -> list[tuple[str, str]]:
    """(where, name) of each model the metadata names: A1111 ``Model:`` and a known ``Model hash:``
    (PNG text or a JPEG's EXIF UserComment), ComfyUI checkpoint loaders' ``ckpt_name``/``unet_name``, NovelAI's ``Software``,
    and the claim generator of a C2PA manifest that declares AI generation (``loaded.info`` as the
    provenance readers leave it)."""
    out: list[tuple[str, str]] = []
    params = info.get("parameters") if isinstance(info.get("parameters"), str) else info.get("artcheck_user_comment")
    if isinstance(params, str) and (m := A1111_MODEL_RE.search(params[:100_000])):
        out.append(("A1111 Model:", m.group(1).strip()[:MAX_NAMED]))
    if isinstance(params, str) and (m := A1111_HASH_RE.search(params[:100_000])) and m.group(1).lower() in MODEL_HASHES:
        out.append((f"A1111 Model hash: {m.group(1).lower()} =", MODEL_HASHES[m.group(1).lower()]))
    prompt = info.get("prompt")
    if isinstance(prompt, str) and len(prompt) < 2_000_000 and "class_type" in prompt:
        try:
            graph = json.loads(prompt)
        except ValueError:
            graph = None
        if isinstance(graph, dict):
            for node in graph.values():
                inputs = node.get("inputs") if isinstance(node, dict) else None
                if isinstance(inputs, dict):
                    for key in ("ckpt_name", "unet_name", "model_name"):
                        if isinstance(inputs.get(key), str):
                            out.append((f"ComfyUI {key}", inputs[key][:MAX_NAMED]))
    software = info.get("Software")
    if isinstance(software, str) and software.startswith("NovelAI"):
        out.append(("Software", software[:MAX_NAMED]))
    if isinstance(info.get("artcheck_c2pa_generator"), str):
        out.append(("C2PA claim generator", info["artcheck_c2pa_generator"][:MAX_NAMED]))
    return out


def family_from_provenance(info: dict) -> tuple[str, str] | None:
    """(family, 'where: name') from the first named model a rule knows, else None."""
    for where, name in named_models(info):
        fam = "novelai-anime" if where == "Software" else family_of_name(name)
        if fam:
            return fam, f"{where} {name}"
    return None
