"""One piece of evidence for or against AI generation."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# weight: how strongly the evidence speaks. STRONG decides the verdict on its own.
STRONG = 1.0
WEAK = 0.3
INFO = 0.0


@dataclass(frozen=True)
class Evidence:
    kind: str          # "c2pa" | "metadata" | "xmp" | "watermark" | "input" (out of scope) | "model"
    detail: str        # one plain sentence
    weight: float      # STRONG, WEAK or INFO; positive means "points to AI"

    def to_dict(self) -> dict:
        return asdict(self)
