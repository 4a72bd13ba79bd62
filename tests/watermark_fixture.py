"""The watermark embedder now lives in the library; kept as the tests' import point."""

from artcheck.provenance.watermark import embed  # noqa: F401
