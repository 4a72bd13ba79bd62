"""C2PA manifests, read offline with c2pa-python: validation state, claim generator and
``digitalSourceType``. Remote manifests and OCSP are never fetched."""

from __future__ import annotations

import io
import json
import logging
from functools import lru_cache

from artcheck.provenance.evidence import INFO, STRONG, WEAK, Evidence

log = logging.getLogger(__name__)
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
OFFLINE_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "TIFF": "image/tiff",
        "GIF": "image/gif", "AVIF": "image/avif", "HEIF": "image/heif"}


@lru_cache(maxsize=1)
def _context():
    import c2pa

    try:
        return c2pa.Context.from_dict(OFFLINE_SETTINGS)
    except Exception as e:  # noqa: BLE001 - an SDK without these settings still reads embedded manifests
        log.debug("c2pa offline settings not accepted (%s); using defaults", e)
        return None


def _source_types(manifest: dict) -> list[str]:
    found = []
    for assertion in manifest.get("assertions", []):
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions", []):
            dst = action.get("digitalSourceType") or (action.get("parameters") or {}).get("digitalSourceType")
            if dst:
                found.append(str(dst).rstrip("/").rsplit("/", 1)[-1])
    return found


def _claim_generator(manifest: dict) -> str:
    info = manifest.get("claim_generator_info") or []
    if info and isinstance(info, list) and isinstance(info[0], dict) and info[0].get("name"):
        return " ".join(str(info[0].get(k, "")) for k in ("name", "version")).strip()
    return str(manifest.get("claim_generator", "unknown"))


def read_manifest_store(data: bytes, fmt: str | None) -> dict | None:
    """The manifest store as a dict, or None when the file carries no C2PA data."""
    try:
        import c2pa
    except ImportError:  # pragma: no cover - core dependency; guarded for partial installs
        log.warning("c2pa-python is not installed: C2PA manifests are not read")
        return None
    mime = MIME.get((fmt or "").upper())
    if not data or not mime:
        return None
    ctx = _context()
    try:
        reader = (c2pa.Reader.try_create(mime, io.BytesIO(data), None, ctx) if ctx is not None
                  else c2pa.Reader.try_create(mime, io.BytesIO(data)))
    except Exception as e:  # noqa: BLE001 - a broken manifest is reported, never fatal
        return {"error": str(e)}
    if reader is None:
        return None
    try:
        return json.loads(reader.json())
    finally:
        reader.close() if hasattr(reader, "close") else None


def read_c2pa_evidence(loaded) -> list[Evidence]:
    store = read_manifest_store(loaded.data, loaded.format)
    if not store:
        return []
    if "error" in store:
        return [Evidence("c2pa", f"a C2PA manifest is present but unreadable ({store['error'][:120]})", INFO)]
    active = (store.get("manifests") or {}).get(store.get("active_manifest", ""), {})
    state = store.get("validation_state") or ("Invalid" if store.get("validation_status") else "Valid")
    generator = _claim_generator(active)
    types = _source_types(active)
    ai_types = [t for t in types if t in AI_SOURCE_TYPES]
    valid = state in ("Valid", "Trusted")
    codes = {str(s.get("code", "")) for s in store.get("validation_status") or []}
    trust = "; its signer is not on a trust list" if "signingCredential.untrusted" in codes else ""
    if ai_types and isinstance(getattr(loaded, "info", None), dict):
        # the generator of a manifest that declares AI generation names the model family (detect.attribution)
        loaded.info["artcheck_c2pa_generator"] = generator
    if ai_types and valid:
        # declaring AI generation incriminates only the declarer, so even an untrusted signer counts
        return [Evidence("c2pa", f"a {state.lower()} C2PA manifest from '{generator}' declares "
                                 f"digitalSourceType '{ai_types[0]}' (AI-generated){trust}", STRONG)]
    if ai_types:
        return [Evidence("c2pa", f"a C2PA manifest from '{generator}' declares '{ai_types[0]}' "
                                 f"but fails validation ({state})", WEAK)]
    what = f"declares '{types[0]}'" if types else "declares no AI generation"
    return [Evidence("c2pa", f"a {state.lower()} C2PA manifest from '{generator}' {what}", INFO)]
