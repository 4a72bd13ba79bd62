"""Provenance evidence that needs no model: C2PA, generator metadata, XMP, the SD watermark."""

from artcheck.provenance.evidence import Evidence
from artcheck.provenance.metadata import read_metadata_evidence

__all__ = ["Evidence", "read_metadata_evidence", "collect_evidence"]


def collect_evidence(loaded) -> list[Evidence]:
    """All provenance evidence for one :class:`artcheck.images.LoadedImage`.

    A reader that fails on a strange file contributes a note instead of an exception: the
    bytes are untrusted, and one odd manifest must not stop a folder.
    """
    from artcheck.provenance.c2pa_reader import read_c2pa_evidence
    from artcheck.provenance.evidence import INFO
    from artcheck.provenance.watermark import read_watermark_evidence

    out: list[Evidence] = []
    for kind, reader in (("c2pa", read_c2pa_evidence), ("metadata", read_metadata_evidence),
                         ("watermark", read_watermark_evidence)):
        try:
            out += reader(loaded)
        except Exception as e:  # noqa: BLE001
            out.append(Evidence(kind, f"could not be read ({type(e).__name__}: {str(e)[:100]}); ignored", INFO))
    return out
