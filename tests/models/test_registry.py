"""playground.models.registry and .weights: entries that fit their architectures, weights found (never
downloaded) or explained."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from playground.catalog import load_model, model_status
from playground.models.registry import DEFAULT_MODEL, MODELS, hub_weights, replace_head
from playground.models.weights import ModelUnavailable, TorchHubWeights

# -- registry data ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MODELS))
def test_registry_paths_exist_in_each_architecture(name: str) -> None:
    entry = MODELS[name]
    with torch.device("meta"):  # build without allocating or initialising weights
        model = entry.builder()
    head = model.get_submodule(entry.head)
    assert isinstance(head, nn.Linear) and head.out_features == len(entry.categories) == 1000
    for path in (entry.last_block, entry.cam_layer, *entry.feature_layers):
        model.get_submodule(path)
    replace_head(model, entry, 3)
    assert model.get_submodule(entry.head).out_features == 3
    assert model.get_submodule(entry.head) is not head


# -- torchvision weights from the hub cache -----------------------------------------------------

def test_torchvision_model_loads_from_torch_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    status = {s.name: s for s in model_status()}
    assert status[DEFAULT_MODEL].available
    assert not status["resnet18"].available
    assert "resnet18-f37072fd.pth" in status["resnet18"].reason and str(folder) in status["resnet18"].reason
    with pytest.raises(ModelUnavailable, match=r"resnet18-f37072fd\.pth.*--download resnet18"):
        load_model("resnet18")

    folder.mkdir(parents=True)
    saved = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(saved, folder / "resnet18-f37072fd.pth")
    row = {s.name: s for s in model_status()}["resnet18"]
    assert row.available and row.source == "hub cache" and row.licence == "BSD-3-Clause (torchvision)"
    loaded = load_model("resnet18")
    assert torch.equal(loaded.model.state_dict()["fc.weight"], saved["fc.weight"])
    assert loaded.categories[0] == "tench" and loaded.preprocess.resize == 256 and not loaded.model.training

    (folder / "resnet18-f37072fd.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelUnavailable, match="cannot read"):
        load_model("resnet18")
    torch.save({"conv1.weight": torch.zeros(1)}, folder / "resnet18-f37072fd.pth")
    with pytest.raises(ModelUnavailable, match="do not fit"):
        load_model("resnet18")


def test_hub_weights_names_match_torchvision_urls() -> None:
    for name in ("resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "mobilenet_v2"):
        w = hub_weights(name)
        assert isinstance(w, TorchHubWeights) and w.filename.endswith(".pth") and w.filename in w.url
        assert w.hash_prefix and len(w.hash_prefix) >= 8 and w.hash_prefix in w.filename
    # MobileNet-V2 is torchvision's IMAGENET1K_V1 file, the one the offline package ships, not DEFAULT (V2)
    assert hub_weights("mobilenet_v2").url == torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.url
    assert MODELS["mobilenet_v2"].preprocess.resize == 256
    assert hub_weights("efficientnet_lite1") is None and hub_weights("vgg99") is None
