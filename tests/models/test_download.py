"""Fetching torchvision's weights on request (playground.models.registry.download_weights): never over
the network in tests. The network layer is stubbed: offline, a corrupt file, and a served file."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import threading
import urllib.request
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision

from playground.catalog import load_model, model_status
from playground.models import registry as zoo
from playground.models.registry import download_weights
from playground.models.weights import DownloadError, ModelUnavailable, TorchHubWeights


class FakeResponse(io.BytesIO):
    """What urlopen returns, serving ``data`` with a Content-Length header."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def serve(monkeypatch: pytest.MonkeyPatch, data: bytes) -> list[str]:
    """Stub urllib so that any URL answers ``data``; returns the URLs asked for."""
    asked: list[str] = []

    def urlopen(req: urllib.request.Request, timeout: float | None = None) -> FakeResponse:
        asked.append(req.full_url)
        return FakeResponse(data)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return asked


def state_bytes(model: torch.nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path / "hub" / "checkpoints"


def test_offline_is_one_clear_line_and_leaves_nothing(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*_args: object, **_kwargs: object) -> None:
        raise URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError) as info:
        download_weights("resnet18")
    message = str(info.value)
    assert message.startswith("cannot download resnet18-f37072fd.pth: no connection to download.pytorch.org")
    assert "offline" in message and str(hub) in message and "\n" not in message
    assert not any(hub.iterdir())  # no .partial file left behind
    assert not {r.name: r for r in model_status()}["resnet18"].available


def test_a_corrupt_download_is_refused(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, b"<html>captive portal</html>")
    with pytest.raises(DownloadError, match=r"corrupt \(SHA-256 .*expected f37072fd"):
        download_weights("resnet18")
    assert not any(hub.iterdir())


def test_a_served_file_lands_where_model_status_finds_it(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real (random-weight) resnet18 state dict, named with its own hash prefix as torchvision names its
    files, stands in for the official one: the same code path, no network."""
    data = state_bytes(torchvision.models.resnet18(weights=None))
    digest = hashlib.sha256(data).hexdigest()
    fake = TorchHubWeights(f"https://download.pytorch.org/models/resnet18-{digest[:8]}.pth", "resnet18")
    monkeypatch.setitem(zoo.MODELS, "resnet18", dataclasses.replace(zoo.MODELS["resnet18"], weights=fake))
    asked = serve(monkeypatch, data)
    seen: list[tuple[int, int | None]] = []
    status = download_weights("resnet18", lambda done, total: seen.append((done, total)))
    assert asked == [fake.url]
    assert status.available and status.source == "hub cache" and str(hub) in status.reason
    assert (hub / fake.filename).read_bytes() == data
    assert seen[-1] == (len(data), len(data)) and all(t == len(data) for _, t in seen)
    loaded = load_model("resnet18")
    assert torch.equal(loaded.model.state_dict()["fc.weight"], torch.load(io.BytesIO(data))["fc.weight"])
    # A second request finds the file and fetches nothing.
    asked.clear()
    download_weights("resnet18")
    assert asked == []


def test_a_file_that_does_not_fit_is_deleted(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = state_bytes(torchvision.models.resnet18(weights=None, num_classes=10))
    fake = TorchHubWeights("https://download.pytorch.org/models/resnet18-nohash.pth", "resnet18")  # no hash to check
    monkeypatch.setitem(zoo.MODELS, "resnet18", dataclasses.replace(zoo.MODELS["resnet18"], weights=fake))
    serve(monkeypatch, data)
    with pytest.raises(ModelUnavailable, match=r"do not fit.*wrong shape \(e\.g\. fc\.weight\)"):
        download_weights("resnet18")
    assert not (hub / fake.filename).exists()


def test_only_torchvision_models_can_be_downloaded() -> None:
    with pytest.raises(ModelUnavailable, match="efficientnet_lite0: nothing to download; torchvision models are "
                                               "mobilenet_v2, resnet18"):
        download_weights("efficientnet_lite0")


def test_one_download_per_file_at_a_time(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sessions clicking at once: the second waits for the first and then finds the file."""
    data = state_bytes(torchvision.models.resnet18(weights=None))
    fake = TorchHubWeights(f"https://x.example/resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth", "resnet18")
    calls: list[int] = []
    fetching, gate = threading.Event(), threading.Event()

    def urlopen(req: urllib.request.Request, timeout: float | None = None) -> FakeResponse:
        calls.append(1)
        fetching.set()
        gate.wait()
        return FakeResponse(data)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    first, second = (threading.Thread(target=fake.download) for _ in range(2))
    first.start()
    fetching.wait()  # the first download is under way, holding the file's lock
    second.start()  # it waits for the file's lock, or finds the file if it starts late
    gate.set()
    first.join()
    second.join()
    assert calls == [1] and (hub / fake.filename).read_bytes() == data
