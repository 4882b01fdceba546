"""What a from-scratch run of a Designer design depends on: :class:`DesignConfig`.

A :class:`DesignConfig` is a :class:`~playground.finetune.config.TrainConfig` whose model is a
layer spec instead of a pretrained zoo model (``model == "design"``, every layer trains:
``strategy == "full"``), so everything that handles a fine-tuning config (the job folder, the
class caps, the job page, the result object and the model folder) handles it too. The spec
travels inside it as canonical JSON text (hashable, like every other field); ``to_dict`` gives
it back as a dict. The input size is the design's own. No torch here.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from playground.finetune.config import DEVICES, LIMITS, PRECISIONS, Range, TrainConfig, TrainingError
from playground.spec.parse import SpecError, parse_spec

__all__ = ["DESIGN_MODEL", "OPTIMIZERS", "DESIGN_LIMITS", "DESIGN_DEFAULTS", "DesignConfig", "settings_from_dict"]

DESIGN_MODEL = "design"  # TrainConfig.model of a from-scratch run
# Optimizer name -> one line for --help and the page.
OPTIMIZERS: dict[str, str] = {
    "adamw": "AdamW (adapts each weight's step; forgiving about the learning rate)",
    "sgd": "SGD with momentum 0.9 (the classic; wants a larger learning rate, e.g. 0.05)",
}
SGD_MOMENTUM = 0.9
# The design's input side, in pixels: below 8 there is nothing to see, above 512 a CPU run never ends.
DESIGN_LIMITS: dict[str, Range] = dict(LIMITS, image_size=Range(8, 512, whole=True))
# A from-scratch run's starting point (fine-tuning's defaults suit a pretrained model, not random weights).
DESIGN_DEFAULTS: dict[str, Any] = {"epochs": 10, "batch_size": 64, "lr_head": 3e-3, "optimizer": "adamw"}


@dataclass(frozen=True)
class DesignConfig(TrainConfig):
    """A from-scratch training run of a layer spec: the spec (``design``, canonical JSON text), the
    optimizer and every :class:`TrainConfig` setting that applies (``lr_head`` is the learning rate,
    ``image_size`` the design's input side). Checked when built: TrainingError names a bad setting,
    a spec that does not parse, or an input that photos cannot fill."""

    model: str = DESIGN_MODEL
    strategy: str = "full"
    epochs: int = DESIGN_DEFAULTS["epochs"]
    batch_size: int = DESIGN_DEFAULTS["batch_size"]
    lr_head: float = DESIGN_DEFAULTS["lr_head"]
    cache_features: bool = False  # there is no frozen backbone to cache
    design: str = ""  # the spec, canonical JSON (parse_spec(...).to_dict(), sorted keys)
    optimizer: str = DESIGN_DEFAULTS["optimizer"]  # one of OPTIMIZERS

    def __post_init__(self) -> None:
        if self.model != DESIGN_MODEL or self.strategy != "full":
            raise TrainingError("a design trains every layer from scratch (model 'design', strategy 'full')")
        try:
            spec = parse_spec(json.loads(self.design) if isinstance(self.design, str) else self.design)
        except (ValueError, SpecError) as exc:
            raise TrainingError(f"the design cannot be used: {exc}") from None
        c, h, w = spec.input
        if c not in (1, 3):
            raise TrainingError(f"the design's input has {c} channels; pictures have 3 (colour) or 1 (grey): "
                                "set the input to [3, H, W] or [1, H, W]")
        if h != w:
            raise TrainingError(f"the design's input is {h}x{w}; training uses square pictures: make it {h}x{h}")
        # Canonical text and the input side, whatever form they were given in (frozen: set once, here).
        object.__setattr__(self, "design", json.dumps(spec.to_dict(), sort_keys=True))
        object.__setattr__(self, "image_size", h)
        for name, allowed in DESIGN_LIMITS.items():
            value = getattr(self, name)
            if value not in allowed:
                label = {"lr_head": "learning rate", "image_size": "the design's input side",
                         "val_fraction": "validation fraction"}.get(name, name.replace("_", " "))
                raise TrainingError(f"{label} must be {allowed.describe()} (got {value!r})")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r})")
        if self.device not in DEVICES:
            raise TrainingError(f"device must be one of {', '.join(DEVICES)} (got {self.device!r})")
        if self.precision not in PRECISIONS:
            raise TrainingError(f"precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})")

    @property
    def spec(self) -> dict[str, Any]:
        """The design as a spec dict."""
        spec: dict[str, Any] = json.loads(self.design)
        return spec

    @property
    def lr(self) -> float:
        """The learning rate (stored as ``lr_head``, the field every config has)."""
        return self.lr_head

    @property
    def in_channels(self) -> int:
        """1 (grey) or 3 (colour): what the design's first layer takes."""
        return int(self.spec["input"][0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; the design as a dict, not text."""
        return dict(dataclasses.asdict(self), design=self.spec)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesignConfig:
        """Build from a dict (``design`` a spec dict or its JSON text), ignoring unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in known}
        if isinstance(fields.get("design"), dict):
            fields["design"] = json.dumps(fields["design"], sort_keys=True)
        try:
            return cls(**fields)
        except TypeError as exc:
            raise TrainingError(f"bad training settings: {exc}") from None

    @classmethod
    def of(cls, spec: dict[str, Any] | str, **settings: Any) -> DesignConfig:
        """A config for ``spec`` (a dict or JSON text) with ``settings`` (``lr`` is accepted for ``lr_head``)."""
        if "lr" in settings:
            settings["lr_head"] = settings.pop("lr")
        return cls.from_dict(dict(settings, design=spec))


def settings_from_dict(data: dict[str, Any]) -> TrainConfig:
    """A job's training settings: a DesignConfig when ``model`` is "design" (a from-scratch run), else a
    TrainConfig. TrainingError names a bad field."""
    if data.get("model") == DESIGN_MODEL:
        return DesignConfig.from_dict(data)
    return TrainConfig.from_dict(data)
