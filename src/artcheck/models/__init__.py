"""Models: the registry and its built-in architectures."""

from artcheck.models.registry import (
    create_model,
    list_models,
    model_entry,
    register_model,
)

__all__ = ["create_model", "list_models", "model_entry", "register_model"]
