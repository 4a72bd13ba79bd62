"""Model registry (after timm): ``@register_model``, ``create_model``, ``list_models``.

The registry itself imports nothing heavy; built-in model modules (which need torch,
from the ``[train]`` extra) are imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

_BUILTIN_MODULES = ("artcheck.models.cnn", "artcheck.models.transfer", "artcheck.models.classical", "artcheck.models.vlm")
_REGISTRY: dict[str, "ModelEntry"] = {}
_loaded = False


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., Any]
    family: str
    summary: str


def register_model(name: str, family: str = "cnn", summary: str = "") -> Callable:
    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, factory, family, summary or (factory.__doc__ or "").strip().split("\n")[0])
        return factory
    return wrap


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(
                f"the built-in models need {e.name!r}, which is not installed; "
                "install the training extra: pip install 'artcheck[train]'") from e
    _loaded = True


def list_models(family: str | None = None) -> list[str]:
    _load_builtins()
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def model_entry(name: str) -> ModelEntry:
    _load_builtins()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs: Any) -> Any:
    """Build a registered model by name; ``kwargs`` go to its constructor."""
    model = model_entry(name).factory(**kwargs)
    model.registry_name = name
    model.registry_kwargs = dict(kwargs)
    return model
