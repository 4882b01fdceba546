"""What a fine-tuning run depends on: :class:`TrainConfig`, its defaults, limits and strategies.

The one place these are stated: the command line's arguments and the page's
widget bounds are generated from :data:`LIMITS`, :data:`STRATEGIES` and the
dataclass defaults, and a :class:`TrainConfig` is checked once, when it is
built. This module never imports torch, so the CLI's ``--help`` and the job
manager stay light.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

from playground.errors import PlaygroundError

__all__ = [
    "STRATEGIES",
    "LIMITS",
    "Range",
    "DEVICES",
    "PRECISIONS",
    "DEFAULT_MODEL",
    "MODEL_NAMES",
    "DEFAULTS",
    "LEARNING_RATES",
    "VAL_FRACTION_CHOICES",
    "TrainingError",
    "TrainConfig",
]

# Strategy name -> one line for the page and --help (cheapest first).
STRATEGIES: dict[str, str] = {
    "head": "freeze the pretrained backbone, train only a new final layer (fastest; best for small datasets)",
    "last-block": "also fine-tune the last feature block at a lower learning rate (AdamW parameter groups)",
    "full": "train every layer; the backbone at the lower learning rate (slowest; needs the most data)",
}


class Range(NamedTuple):
    """The allowed values of a numeric setting; an open end excludes that bound itself."""

    lo: float
    hi: float
    whole: bool = False  # a whole number (then both ends are included)
    open_lo: bool = False
    open_hi: bool = False

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int if self.whole else (int, float)):
            return False
        above = value > self.lo if self.open_lo else value >= self.lo
        below = value < self.hi if self.open_hi else value <= self.hi
        return above and below  # NaN is neither, so it fails

    def describe(self) -> str:
        """The range in words, e.g. "a whole number from 1 to 500", "above 0 and at most 1"."""
        if self.whole:
            return f"a whole number from {self.lo:g} to {self.hi:g}"
        if self.open_lo and self.open_hi:
            return f"between {self.lo:g} and {self.hi:g}"
        low = f"above {self.lo:g}" if self.open_lo else f"at least {self.lo:g}"
        high = f"below {self.hi:g}" if self.open_hi else f"at most {self.hi:g}"
        return f"{low} and {high}"


# Every numeric setting's range (what TrainConfig accepts, what the CLI and the page offer).
LIMITS: dict[str, Range] = {
    "epochs": Range(1, 500, whole=True),
    "batch_size": Range(1, 1024, whole=True),
    "image_size": Range(32, 640, whole=True),
    "lr_head": Range(0.0, 1.0, open_lo=True),
    "lr_backbone": Range(0.0, 1.0, open_lo=True),
    "weight_decay": Range(0.0, 1.0, open_hi=True),
    "val_fraction": Range(0.0, 1.0, open_lo=True, open_hi=True),
    "seed": Range(0, 2**31 - 1, whole=True),
}
# Said after a bad value, to suggest a good one.
_HINTS = {"lr_head": "; try 1e-3 or 1e-4", "lr_backbone": "; try 1e-3 or 1e-4", "val_fraction": "; 0.2 is usual"}
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "mixed")  # auto: mixed on CUDA, fp32 on CPU
# The zoo's default and its names in its order (playground.models.registry's DEFAULT_MODEL and MODELS, which
# import torch): stated here so that a config is checked without loading the zoo; a test keeps them equal.
DEFAULT_MODEL = "efficientnet_lite0"
MODEL_NAMES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2", "resnet18",
               "resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny")
# The page's choices within LIMITS: learning rates on a log scale, and a teaching range of validation shares.
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
VAL_FRACTION_CHOICES = (0.1, 0.5, 0.05)  # (lowest, highest, step)


class TrainingError(PlaygroundError):
    """A training setting or run that cannot work, with what to change."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a fine-tuning run depends on; a run is a pure function of this and the data.

    Checked when built: a bad setting raises :class:`TrainingError` naming it.
    """

    model: str = DEFAULT_MODEL
    strategy: str = "head"
    epochs: int = 5
    batch_size: int = 32
    image_size: int = 224
    lr_head: float = 1e-3
    lr_backbone: float = 1e-4  # last block (last-block) or every pretrained layer (full)
    weight_decay: float = 0.01  # AdamW's default
    augment: bool = False
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"  # one of DEVICES
    precision: str = "auto"  # one of PRECISIONS
    cache_features: bool = True  # with head + no augmentation: train the head on cached features

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise TrainingError(f"unknown model {self.model!r}; choose one of: {', '.join(MODEL_NAMES)}")
        if self.strategy not in STRATEGIES:
            raise TrainingError(f"unknown strategy {self.strategy!r}; choose one of: {', '.join(STRATEGIES)}")
        for name, allowed in LIMITS.items():
            value = getattr(self, name)
            if value not in allowed:
                label = "validation fraction" if name == "val_fraction" else name.replace("_", " ")
                raise TrainingError(f"{label} must be {allowed.describe()} (got {value!r}){_HINTS.get(name, '')}")
        if self.device not in DEVICES:
            raise TrainingError(f"device must be {_either(DEVICES)} (got {self.device!r})")
        if self.precision not in PRECISIONS:
            raise TrainingError(f"precision must be {_either(PRECISIONS)} (got {self.precision!r})")

    @property
    def uses_feature_cache(self) -> bool:
        """Whether this run trains the head on backbone features computed once."""
        return self.strategy == "head" and not self.augment and self.cache_features

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring unknown keys; raises TrainingError on a bad field.

        (A job's settings may be a from-scratch run's: read those with
        :func:`playground.finetune.design_config.settings_from_dict`.)"""
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise TrainingError(f"bad training settings: {exc}") from None


# Every field's default, for the CLI's arguments and the page's widgets.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _either(options: tuple[str, ...]) -> str:
    return ", ".join(options[:-1]) + " or " + options[-1]

