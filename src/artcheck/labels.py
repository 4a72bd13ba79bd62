"""The classes, fixed by name (never by folder order).

Index 0 is ``human`` and index 1 is ``ai`` everywhere: in manifests, model outputs,
``predict_proba`` columns and metrics. Every other module imports these names.

A third label, ``edited`` (a human image changed by local edits), exists for three-class
experiments (``--classes human,edited,ai``). Wherever two classes are used it counts as
``human``: editing a photo does not make it generated, and a detector that calls edited
images AI is wrong in the way that matters (a false accusation).
"""

from __future__ import annotations

CLASSES: tuple[str, str] = ("human", "ai")
HUMAN, AI = CLASSES
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}
EDITED = "edited"
ALL_LABELS: tuple[str, ...] = (HUMAN, AI, EDITED)
BINARY_TARGET: dict[str, int] = {**LABEL_INDEX, EDITED: LABEL_INDEX[HUMAN]}
THREE_CLASSES: tuple[str, str, str] = (HUMAN, EDITED, AI)

# Folder and CSV spellings accepted for each class (compared case-insensitively).
LABEL_ALIASES: dict[str, str] = {
    "ai": AI, "fake": AI, "1_fake": AI, "generated": AI, "synthetic": AI, "1": AI,
    "human": HUMAN, "real": HUMAN, "0_real": HUMAN, "nature": HUMAN, "0": HUMAN,
    "edited": EDITED, "2_edited": EDITED,
}


def normalize_label(value: object, *, where: str = "") -> str:
    """Map a label spelling (``FAKE``, ``0_real``, ``ai`` ...) to ``"ai"`` or ``"human"``."""
    key = str(value).strip().lower()
    if key in LABEL_ALIASES:
        return LABEL_ALIASES[key]
    prefix = f"{where}: " if where else ""
    raise ValueError(
        f"{prefix}unknown label {value!r}; expected one of "
        f"{sorted(set(LABEL_ALIASES))} (meaning 'ai', 'human' or 'edited')."
    )


def parse_classes(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"human,edited,ai"`` -> ("human", "edited", "ai"); human and ai are required."""
    names = [v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    if len(set(names)) != len(names) or not {HUMAN, AI} <= set(names) or not set(names) <= set(ALL_LABELS):
        raise ValueError(f"classes must name human and ai (and optionally edited), each once, e.g. "
                         f"human,ai or human,edited,ai; got {value!r}")
    return CLASSES if len(names) == 2 else tuple(names)
