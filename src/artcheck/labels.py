"""The two classes, fixed by name (never by folder order).

Index 0 is ``human`` and index 1 is ``ai`` everywhere: in manifests, model outputs,
``predict_proba`` columns and metrics. Every other module imports these names.
"""

from __future__ import annotations

CLASSES: tuple[str, str] = ("human", "ai")
HUMAN, AI = CLASSES
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

# Folder and CSV spellings accepted for each class (compared case-insensitively).
LABEL_ALIASES: dict[str, str] = {
    "ai": AI, "fake": AI, "1_fake": AI, "generated": AI, "synthetic": AI, "1": AI,
    "human": HUMAN, "real": HUMAN, "0_real": HUMAN, "nature": HUMAN, "0": HUMAN,
}


def normalize_label(value: object, *, where: str = "") -> str:
    """Map a label spelling (``FAKE``, ``0_real``, ``ai`` ...) to ``"ai"`` or ``"human"``."""
    key = str(value).strip().lower()
    if key in LABEL_ALIASES:
        return LABEL_ALIASES[key]
    prefix = f"{where}: " if where else ""
    raise ValueError(
        f"{prefix}unknown label {value!r}; expected one of "
        f"{sorted(set(LABEL_ALIASES))} (meaning 'ai' or 'human')."
    )
