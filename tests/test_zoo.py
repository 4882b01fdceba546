"""playground.models.registry and playground.models.efficientnet_lite: weights, architecture and preprocessing together."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from torch import nn
from torchvision.transforms import InterpolationMode

from playground.models.efficientnet_lite import Conv2dSame, efficientnet_lite0
from playground.samples import load_sample
from playground.models.registry import (
    DEFAULT_MODEL,
    FINETUNED_FORMAT,
    MODELS,
    ModelUnavailable,
    Preprocess,
    TorchHubWeights,
    load_model,
    model_status,
    replace_head,
)

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat", "lynx"}


@pytest.fixture(scope="module")
def lite0():
    return load_model(DEFAULT_MODEL)


def top5(loaded, img, preprocess=None) -> list[tuple[str, float]]:
    x = (preprocess or loaded.preprocess)(img)[None]
    with torch.inference_mode():
        probs = loaded.model(x).softmax(1)[0]
    values, indices = probs.topk(5)
    return [(loaded.categories[i], float(v)) for v, i in zip(values, indices)]


# -- EfficientNet-Lite0 -------------------------------------------------------------------------

def test_every_checkpoint_key_is_consumed(lite0) -> None:
    checkpoint = MODELS[DEFAULT_MODEL].weights.load_state_dict()
    own = lite0.model.state_dict()
    assert set(own) == set(checkpoint) and len(own) == 296
    for key, value in checkpoint.items():
        assert torch.equal(own[key], value), key
    assert sum(p.numel() for p in lite0.model.parameters()) == 4_652_008
    assert not lite0.model.training


def test_real_photos_get_sensible_labels(lite0) -> None:
    coffee = [label for label, _ in top5(lite0, load_sample("Coffee cup"))]
    assert {"espresso", "cup"} & set(coffee), coffee
    cat = top5(lite0, load_sample("Cat (Chelsea)"))
    assert cat[0][0] in CAT_CLASSES and sum(p for label, p in cat if label in CAT_CLASSES) > 0.8, cat


def test_tf_lite_normalisation_beats_imagenet_statistics(lite0) -> None:
    """Why the entry uses (x - 127) / 128: it makes the converted TF-Lite weights confident."""
    imagenet = Preprocess(256, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bicubic")
    for name, label in (("Coffee cup", "espresso"), ("Motorcycle (left view)", "moped")):
        ours = dict(top5(lite0, load_sample(name)))
        theirs = dict(top5(lite0, load_sample(name), imagenet))
        assert ours[label] > theirs.get(label, 0.0) + 0.1, (name, ours, theirs)


def test_tensorflow_same_padding_by_hand() -> None:
    conv = Conv2dSame(1, 1, 3, stride=2)
    x = torch.randn(1, 1, 8, 8)
    # Even input, stride 2: TF pads 0 before and 1 after, so output (0, 0) sees x[0:3, 0:3].
    assert torch.allclose(conv(x)[0, 0, 0, 0], (x[0, 0, :3, :3] * conv.weight[0, 0]).sum(), atol=1e-6)
    assert conv(x).shape[-2:] == (4, 4)
    # Odd input, stride 2: symmetric 1/1, so output (0, 0) is centred on x[0, 0].
    x = torch.randn(1, 1, 9, 9)
    assert torch.allclose(conv(x)[0, 0, 0, 0], (x[0, 0, :2, :2] * conv.weight[0, 0, 1:, 1:]).sum(), atol=1e-6)
    assert conv(x).shape[-2:] == (5, 5)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 2, 3, 4, 5]), st.sampled_from([1, 2, 3]))
def test_same_padding_output_size_and_stride1_matches_pytorch_same(h: int, w: int, k: int, s: int) -> None:
    conv = Conv2dSame(2, 3, k, stride=s)
    y = conv(torch.randn(1, 2, h, w))
    assert y.shape == (1, 3, -(-h // s), -(-w // s))
    if s == 1:  # PyTorch's own "same" puts the extra pixel right/bottom too: an independent oracle
        x = torch.randn(1, 2, h, w)
        assert torch.allclose(conv(x), F.conv2d(x, conv.weight, padding="same"), atol=1e-5)


def test_lite0_structure_and_any_input_size() -> None:
    model = efficientnet_lite0(num_classes=7).eval()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)
    assert not any(isinstance(m, (nn.SiLU, nn.Sigmoid)) for m in model.modules())  # ReLU6, no squeeze-excite
    with torch.no_grad():
        assert model.extract_features(torch.randn(1, 3, 225, 193)).shape == (1, 1280, 8, 7)
        assert model(torch.randn(2, 3, 97, 130)).shape == (2, 7)


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


@pytest.mark.parametrize("name", ["resnet50", "efficientnet_b0", "convnext_tiny", DEFAULT_MODEL])
@pytest.mark.parametrize("photo, size", [("Astronaut", None), ("Rocket", None), ("Coffee cup", (97, 300)),
                                         ("Cat (Chelsea)", (150, 120))])
def test_preprocess_matches_torchvision_transforms(name: str, photo: str, size) -> None:
    """Our one-step crop+resize against torchvision's Resize + CenterCrop + Normalize (the oracle)."""
    entry = MODELS[name]
    p = entry.preprocess
    img = load_sample(photo) if size is None else load_sample(photo).resize(size)
    want = torchvision.transforms.Compose([
        torchvision.transforms.Resize(p.resize, interpolation=InterpolationMode(p.interpolation)),
        torchvision.transforms.CenterCrop(p.crop), torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize(p.mean, p.std)])(img)
    got = p(img)
    assert got.shape == want.shape == (3, p.crop, p.crop)
    step = 1 / 255 / min(p.std) + 1e-5  # one grey level after normalising
    diff = (got - want).abs()
    assert diff.max() <= step and (diff > 1e-5).float().mean() < 0.01
    if name != DEFAULT_MODEL:  # and the registry's numbers are the weights' own transforms
        weights = getattr(torchvision.models, {"resnet50": "ResNet50_Weights", "efficientnet_b0":
                          "EfficientNet_B0_Weights", "convnext_tiny": "ConvNeXt_Tiny_Weights"}[name]).DEFAULT
        assert (got - weights.transforms()(img)).abs().max() <= step


def test_preprocess_round_trip_and_validation() -> None:
    p = MODELS[DEFAULT_MODEL].preprocess
    assert Preprocess.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    for bad, word in (({"crop": 224}, "resize"), ({**p.to_dict(), "std": [1, 0, 1]}, "std"),
                      ({**p.to_dict(), "interpolation": "lanczos9"}, "interpolation")):
        with pytest.raises(ValueError, match=word):
            Preprocess.from_dict(bad)


# -- torchvision weights from the hub cache -----------------------------------------------------

def test_torchvision_model_loads_from_torch_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    status = {s.name: s for s in model_status()}
    assert status[DEFAULT_MODEL].available
    assert not status["resnet18"].available
    assert "resnet18-f37072fd.pth" in status["resnet18"].reason and str(folder) in status["resnet18"].reason
    with pytest.raises(ModelUnavailable, match=r"resnet18-f37072fd\.pth.*weights='DEFAULT'"):
        load_model("resnet18")

    folder.mkdir(parents=True)
    saved = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(saved, folder / "resnet18-f37072fd.pth")
    assert {s.name: s for s in model_status()}["resnet18"].available
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
    for name in ("resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny"):
        w = MODELS[name].weights
        assert isinstance(w, TorchHubWeights) and w.filename.endswith(".pth") and w.filename in w.url


# -- fine-tuned model folders -------------------------------------------------------------------

def write_finetuned(folder, classes=("apple", "pear", "plum"), arch=DEFAULT_MODEL, **meta_overrides):
    entry = MODELS[arch]
    model = replace_head(entry.builder(), entry, len(classes))
    folder.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(folder / "model.safetensors"))
    meta = {"format": FINETUNED_FORMAT, "architecture": arch, "classes": list(classes),
            "num_classes": len(classes), "preprocess": entry.preprocess.to_dict(), "metrics": {},
            "strategy": "head", "created": "2025-01-01T00:00:00Z", **meta_overrides}
    (folder / "meta.json").write_text(json.dumps(meta))
    return model


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
