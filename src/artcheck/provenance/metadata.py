"""Generator metadata left by AI tools: A1111, ComfyUI, NovelAI, InvokeAI, Fooocus; XMP
``DigitalSourceType``. Reads what :func:`artcheck.images.load_image` already parsed
(PNG text chunks, EXIF, XMP); XML goes through defusedxml.
"""

from __future__ import annotations

import json
import re

from artcheck.provenance.evidence import INFO, STRONG, Evidence

EXIF_USER_COMMENT = 0x9286
EXIF_SOFTWARE = 0x0131
EXIF_IFD = 0x8769
# A1111's parameters: "Steps: N" somewhere before "Sampler:". Matched in linear time (one
# rfind, then a pattern anchored on a literal with no unbounded backtracking); never with
# "Steps:.*Sampler:", which is quadratic in the text (a regex bomb, issue 15).
STEPS_RE = re.compile(r"Steps:[ \t]{0,16}\d")
# Generation parameters longer than this are reported as oversized, not scanned. Real ones
# (prompt, negative prompt, settings) run to a few KB; 64 KB leaves room for long prompts.
MAX_PARAMETERS_CHARS = 64 * 1024
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia")
GENERATOR_SOFTWARE = ("NovelAI", "Midjourney", "DALL-E", "DALL·E", "Stable Diffusion", "Firefly", "ComfyUI",
                      "InvokeAI", "Fooocus", "Imagen", "Leonardo.Ai", "Ideogram")


def _text(value) -> str:
    if isinstance(value, bytes):
        if value[:8] in (b"UNICODE\x00", b"ASCII\x00\x00\x00"):
            enc = "utf-16-be" if value[:8].startswith(b"UNICODE") else "ascii"
            body = value[8:]
            if enc == "utf-16-be" and body[:2] and body[0] != 0 and body[1] == 0:
                enc = "utf-16-le"
            return body.decode(enc, "replace").strip("\x00")
        return value.decode("utf-8", "replace")
    return str(value)


def _user_comment(loaded) -> str:
    exif = loaded.image.getexif() if not loaded.info.get("exif") else None
    try:
        from PIL import Image

        raw = loaded.info.get("exif")
        if raw:
            exif = Image.Exif()
            exif.load(raw)
        if exif is None:
            return ""
        ifd = exif.get_ifd(EXIF_IFD)
        return _text(ifd.get(EXIF_USER_COMMENT, "") or exif.get(EXIF_USER_COMMENT, ""))
    except Exception:  # noqa: BLE001 - malformed EXIF is simply not evidence
        return ""


def _software(loaded) -> str:
    raw = loaded.info.get("exif")
    if not raw:
        return str(loaded.info.get("Software", ""))
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(raw)
    except Exception:  # noqa: BLE001
        return ""
    return _text(exif.get(EXIF_SOFTWARE, ""))


MAX_JSON_DEPTH = 64     # ComfyUI graphs nest about 6 deep; '[' * 100_000 would exhaust the recursion limit


def _nesting(text: str) -> int:
    """The deepest bracket nesting in ``text`` (brackets inside strings counted too: an upper bound)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def _json(value) -> dict | list | None:
    """The parsed JSON of one metadata field, or None when it is not JSON or nests too deep."""
    text = _text(value)
    if not text.lstrip().startswith(("{", "[")) or _nesting(text) > MAX_JSON_DEPTH:
        return None
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None


def looks_like_a1111(params: str) -> bool:
    """"Steps: <digit>" before the last "Sampler:", in time linear in ``params``."""
    end = params.rfind("Sampler:")
    return end > 0 and STEPS_RE.search(params, 0, end) is not None


def _a1111_evidence(info: dict, comment: str) -> list[Evidence]:
    out = []
    params = _text(info.get("parameters", "")) or comment
    if len(params) > MAX_PARAMETERS_CHARS:
        out.append(Evidence("metadata", f"a generation-parameters text of {len(params):,} characters is embedded, over "
                                        f"the {MAX_PARAMETERS_CHARS:,}-character limit; not scanned", INFO))
    elif params and looks_like_a1111(params):
        tool = "Fooocus" if "Fooocus" in params else "Automatic1111-style"
        out.append(Evidence("metadata", f"{tool} generation parameters (prompt, steps, sampler) are embedded", STRONG))
    return out


def _comfyui_evidence(info: dict) -> list[Evidence]:
    out = []
    prompt, workflow = _json(info.get("prompt", "")), _json(info.get("workflow", ""))
    if isinstance(prompt, dict) and any(isinstance(v, dict) and "class_type" in v for v in prompt.values()):
        out.append(Evidence("metadata", "a ComfyUI generation graph ('prompt') is embedded", STRONG))
    elif isinstance(workflow, dict) and "nodes" in workflow:
        out.append(Evidence("metadata", "a ComfyUI workflow is embedded", STRONG))
    return out


def _named_tool_evidence(info: dict) -> list[Evidence]:
    out = []
    for key in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "dream"):
        if key in info:
            out.append(Evidence("metadata", f"InvokeAI generation metadata ('{key}') is embedded", STRONG))
            break
    if "fooocus_scheme" in info:
        out.append(Evidence("metadata", "Fooocus generation metadata is embedded", STRONG))
    return out


def _novelai_evidence(info: dict) -> list[Evidence]:
    out = []
    nai = _json(info.get("Comment", ""))
    if _text(info.get("Software", "")).startswith("NovelAI") or (isinstance(nai, dict) and "sampler" in nai and "steps" in nai):
        out.append(Evidence("metadata", "NovelAI generation metadata is embedded", STRONG))
    return out


def _xmp_evidence(info: dict) -> list[Evidence]:
    raw = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if not raw:
        return []
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = ElementTree.fromstring(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        return [Evidence("xmp", "XMP metadata is present but malformed; ignored", INFO)]
    values = []
    for el in root.iter():
        for k, v in list(el.attrib.items()) + [(el.tag, el.text or "")]:
            if k.endswith("DigitalSourceType") or k.endswith("}DigitalSourceType"):
                values.append(v)
            elif isinstance(v, str) and "digitalsourcetype/" in v.lower():
                values.append(v)
    for v in values:
        term = v.rstrip("/").rsplit("/", 1)[-1]
        if term in AI_SOURCE_TYPES:
            return [Evidence("xmp", f"XMP DigitalSourceType declares '{term}' (AI-generated)", STRONG)]
    if values:
        term = values[0].rstrip("/").rsplit("/", 1)[-1]
        return [Evidence("xmp", f"XMP DigitalSourceType declares '{term}'", INFO)]
    return []


def read_metadata_evidence(loaded) -> list[Evidence]:
    """Evidence from text chunks, EXIF and XMP of one decoded image."""
    info = loaded.info
    out: list[Evidence] = []

    def each(what: str, read) -> None:
        # every field on its own: one that cannot be parsed costs only its own finding
        try:
            out.extend(read())
        except Exception as e:  # noqa: BLE001 - untrusted metadata
            out.append(Evidence("metadata", f"the {what} could not be read ({type(e).__name__}); ignored", INFO))

    comment: list[str] = [""]
    each("EXIF UserComment", lambda: comment.__setitem__(0, _user_comment(loaded)) or [])
    if comment[0] and isinstance(info, dict):
        info["artcheck_user_comment"] = comment[0]       # A1111 parameters in a JPEG's EXIF (detect.attribution)
    each("generation parameters", lambda: _a1111_evidence(info, comment[0]))
    each("ComfyUI fields", lambda: _comfyui_evidence(info))
    each("tool metadata", lambda: _named_tool_evidence(info))
    each("NovelAI fields", lambda: _novelai_evidence(info))
    each("XMP packet", lambda: _xmp_evidence(info))
    out += [Evidence("metadata", f"{note}; the pixels were read without it", INFO)
            for note in info.get("artcheck_skipped_chunks", [])]
    software = ""
    try:
        software = _software(loaded)
    except Exception:  # noqa: BLE001
        pass
    if not any(e.weight >= STRONG for e in out) and software and any(g.lower() in software.lower() for g in GENERATOR_SOFTWARE):
        out.append(Evidence("metadata", f"the Software tag names an AI generator ({software[:60]})", STRONG))
    return out
