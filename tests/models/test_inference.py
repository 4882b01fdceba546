"""playground.models.inference against PyTorch computing the same thing by hand."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from playground.catalog import load_model
from playground.models.inference import (
    LayerError,
    capture_activation,
    feature_maps,
    first_layer_filters,
    grad_cam,
    layer_names,
    predict,
)
from playground.models.registry import DEFAULT_MODEL, MODELS, LoadedModel
from playground.samples import load_sample


@pytest.fixture(scope="module")
def lite0() -> LoadedModel:
    return load_model(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def coffee():
    return load_sample("Coffee cup")


def hooks_left(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_predict_is_the_softmax_top_k(lite0, coffee) -> None:
    pred = predict(lite0, coffee, top_k=5)
    with torch.no_grad():
        probs = lite0.model(lite0.preprocess(coffee)[None]).softmax(1)[0]
    want = probs.topk(5)
    assert [i for _, i, _ in pred.top] == want.indices.tolist()
    assert np.allclose([p for _, _, p in pred.top], want.values.tolist(), atol=1e-6)
    assert pred.top[0][0] == "espresso" and pred.top[0][0] == lite0.categories[pred.top[0][1]]
    assert set(pred.timings) == {"preprocess_ms", "forward_ms", "total_ms"}
    assert 0 < pred.timings["forward_ms"] <= pred.timings["total_ms"]
    assert pred.to_dicts()[0] == {"label": "espresso", "class_index": 967, "probability": pred.top[0][2]}
    assert len(predict(lite0, coffee, top_k=5000).top) == 1000


def test_grad_cam_equals_class_activation_mapping(lite0, coffee) -> None:
    """Behind global average pooling and one Linear, Grad-CAM's channel weights are fc.weight[c] / (h*w):
    so at the head it must equal Zhou et al.'s CAM, computed here without any hook or autograd."""
    cam = grad_cam(lite0, coffee, class_index=967)  # espresso
    with torch.no_grad():
        feats = lite0.model.extract_features(lite0.preprocess(coffee)[None])  # (1, 1280, 7, 7)
        ref = F.relu(torch.einsum("c,bchw->bhw", lite0.model._fc.weight[967], feats))[None]  # (1, 1, 7, 7)
        ref = F.interpolate(ref, size=(224, 224), mode="bilinear", align_corners=False)[0, 0]
        ref = (ref / ref.max()).numpy()
    assert cam.layer == "_head_act" and cam.label == "espresso" and cam.heatmap.shape == (224, 224)
    assert np.allclose(cam.heatmap, ref, atol=1e-4)
    assert cam.heatmap.max() == pytest.approx(1.0) and cam.heatmap.min() >= 0
    assert cam.overlay.size == cam.image.size == (224, 224)
    # The espresso evidence is in the cup (the middle of the photo), not in the corners.
    assert cam.heatmap[56:168, 56:168].mean() > 2 * cam.heatmap[:40, :40].mean()


def test_grad_cam_leaves_no_hooks_and_no_gradients(lite0, coffee) -> None:
    with torch.no_grad():  # works under a caller's no_grad, and leaves it in force
        assert grad_cam(lite0, coffee, layer="_blocks.10").heatmap.max() == pytest.approx(1.0)
        assert not torch.is_grad_enabled()
    with pytest.raises(LayerError, match="outside"):
        grad_cam(lite0, coffee, class_index=5000)  # fails after the hook is attached
    with pytest.raises(LayerError, match="does not exist"):
        grad_cam(lite0, coffee, layer="_blocks.99")
    assert hooks_left(lite0.model) == 0
    assert all(p.grad is None for p in lite0.model.parameters())


def test_grad_cam_on_a_torchvision_architecture(coffee) -> None:
    entry = MODELS["resnet18"]
    torch.manual_seed(0)
    loaded = LoadedModel("resnet18", entry.builder().eval(), entry.preprocess, list(entry.categories), entry)
    cam = grad_cam(loaded, coffee, class_index=3)
    assert cam.layer == "layer4" and cam.heatmap.shape == (224, 224) and hooks_left(loaded.model) == 0


def test_capture_ignores_forward_passes_from_other_threads(lite0) -> None:
    x = torch.zeros(1, 3, 64, 64)
    with capture_activation(lite0.model, "_blocks.0") as store, torch.inference_mode():
        worker = threading.Thread(target=lambda: lite0.model(x))
        worker.start()
        worker.join()
        assert "output" not in store  # another session's forward pass is not ours
        lite0.model(x)
        assert store["output"].shape == (1, 16, 32, 32)
    assert hooks_left(lite0.model) == 0


def test_feature_maps_are_the_layer_output(lite0, coffee) -> None:
    fm = feature_maps(lite0, coffee, "_blocks.2", count=6)
    m = lite0.model
    with torch.no_grad():  # the same activation computed by walking the network by hand
        x = m._stem_act(m._bn0(m._conv_stem(lite0.preprocess(coffee)[None])))
        for block in m._blocks[:3]:
            x = block(x)
    act = x[0]  # (24, 56, 56)
    strength = act.clamp(min=0).mean((1, 2))
    assert fm.shape == (24, 56, 56) and fm.channels == strength.argsort(descending=True)[:6].tolist()
    assert np.allclose(fm.maps, act[fm.channels].numpy(), atol=1e-5)
    assert fm.strengths == sorted(fm.strengths, reverse=True)
    assert fm.grid.size == (3 * 112 + 2 * 2, 2 * 112 + 2)  # 3x2 tiles of 56 px doubled, 2 px gaps
    assert hooks_left(m) == 0
    assert layer_names(lite0)[0] == "_stem_act" and layer_names(lite0)[-1] == "_head_act"
    with pytest.raises(LayerError):
        feature_maps(lite0, coffee, "_fc")  # a vector, not a feature map


def test_first_layer_filters(lite0) -> None:
    filters = first_layer_filters(lite0)
    assert filters.layer == "_conv_stem" and filters.shape == (32, 3, 3, 3)
    tile = 39  # 3x3 kernels scaled 13x to about 40 px
    assert filters.grid.size == (8 * tile + 7 * 2, 4 * tile + 3 * 2)
    # Tile 0 shows kernel 0 scaled to [0, 1]: its top-left pixel is kernel 0's value at (0, 0).
    k = lite0.model._conv_stem.weight[0].detach()
    want = ((k[:, 0, 0] - k.min()) / (k.max() - k.min()) * 255).round()
    assert np.allclose(filters.grid.getpixel((0, 0)), want.numpy(), atol=1)
