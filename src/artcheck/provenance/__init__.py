"""Provenance evidence that needs no model: C2PA, generator metadata, XMP, the SD watermark."""

from artcheck.provenance.evidence import Evidence
from artcheck.provenance.metadata import read_metadata_evidence

__all__ = ["Evidence", "read_metadata_evidence", "collect_evidence"]


def collect_evidence(loaded) -> list[Evidence]:
    """All provenance evidence for one :class:`artcheck.images.LoadedImage`."""
    from artcheck.provenance.c2pa_reader import read_c2pa_evidence
    from artcheck.provenance.watermark import read_watermark_evidence

    return read_c2pa_evidence(loaded) + read_metadata_evidence(loaded) + read_watermark_evidence(loaded)
