"""One validated config per command, loadable from YAML and overridable from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from artcheck.data.splits import parse_subset
from artcheck.labels import parse_classes


def parse_perturb(text: str) -> tuple[str, float]:
    """``"text=0.5"`` -> ("text", 0.5), checked against the perturbation library."""
    from artcheck.lab.perturb import PERTURBATIONS

    name, _, value = text.partition("=")
    try:
        strength = float(value)
    except ValueError:
        strength = None
    if name.strip() not in PERTURBATIONS or strength is None:
        raise ValueError(f"perturb must be NAME=STRENGTH with NAME one of {', '.join(PERTURBATIONS)}, "
                         f"e.g. text=0.5; got {text!r}")
    return name.strip(), strength


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    data: str = Field(description="dataset folder or manifest CSV")
    model: str = "bird-lotfi"
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    epochs: int = Field(10, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["adam", "rmsprop", "sgd", "default"] = "default"
    weight_decay: float = Field(0.0, ge=0)
    scheduler: Literal["none", "step"] = "none"
    step_size: int = Field(7, ge=1)
    gamma: float = Field(0.1, gt=0, le=1)
    patience: int = Field(5, ge=1, description="early stopping: epochs without a better val loss")
    freeze_epochs: int = Field(0, ge=0, description="transfer models: epochs with a frozen backbone first")
    unfrozen_lr: float | None = Field(None, gt=0, description="transfer models: lr once unfrozen (default lr/10)")
    seed: int = 0
    grayscale: bool = False
    classes: str = Field("human,ai", description="human,ai or human,edited,ai (three-class)")
    augment: bool = True
    perturb: str | None = Field(None, description="perturb a random fraction of the images of both classes, "
                                                  "e.g. 'text=0.5' (visible watermark at opacity 0.5)")
    perturb_fraction: float = Field(0.5, ge=0, le=1, description="share of images --perturb applies to")
    subset: str | None = Field(None, description="small | medium | full | N per class")
    layout: str = "auto"
    holdout_by: Literal["source", "generator", "style"] | None = None
    holdout: str | None = None
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    workers: int = Field(2, ge=0)
    out: str | None = None

    @field_validator("subset")
    @classmethod
    def _check_subset(cls, v: str | None) -> str | None:
        parse_subset(v)
        return v

    @field_validator("classes")
    @classmethod
    def _check_classes(cls, v: str) -> str:
        return ",".join(parse_classes(v))

    @field_validator("perturb")
    @classmethod
    def _check_perturb(cls, v: str | None) -> str | None:
        if v:
            parse_perturb(v)
        return v

    def model_post_init(self, __context: Any) -> None:
        if (self.holdout_by is None) != (self.holdout is None):
            raise ValueError("holdout_by and holdout go together, e.g. holdout_by=source holdout=endless-sky")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"{path}: cannot read the config ({e})") from e
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of option: value, got {type(values).__name__}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
