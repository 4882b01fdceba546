"""A unit's field in a pretrained model: the theoretical square, its gradient, trained vs at init."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from playground.catalog import load_model
from playground.errors import PlaygroundError
from playground.models.erf_trained import init_model, trained_vs_init
from playground.models.inference import LayerError, capture_activation
from playground.models.registry import DEFAULT_MODEL, LoadedModel
from playground.models.unit_fields import _BOX, draw_unit, layer_field, layer_fields, model_input, unit_gradient
from playground.samples import load_sample


@pytest.fixture(scope="module")
def lite() -> LoadedModel:
    return load_model(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return load_sample("Coffee cup")


def _support(grad: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the nonzero pixels."""
    rows, cols = np.nonzero(grad)
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


@pytest.mark.parametrize(("name", "layer"), [(DEFAULT_MODEL, "_stem_act"), (DEFAULT_MODEL, "_blocks.1"),
                                             ("mobilenet_v2", "features.2")])
def test_the_theoretical_field_is_exactly_where_the_gradient_reaches(name: str, layer: str, photo: Image.Image) -> None:
    # The walk's field against PyTorch: the pixels a unit's gradient reaches are its field, clipped to
    # the image. The corner unit checks the start, i.e. TF "same" padding (none top/left at 224 px, stride 2).
    loaded = load_model(name)
    lf = layer_field(loaded.entry, layer)
    x = model_input(loaded.preprocess, photo)
    with torch.inference_mode(), capture_activation(loaded.model, layer) as store:
        loaded.model(x)
    assert tuple(store["output"].shape[-2:]) == lf.output_hw
    for unit in (lf.centre_unit, (0, 0), (lf.output_hw[0] - 1, 1)):
        box = lf.unit(*unit)
        assert _support(unit_gradient(loaded.model, x, layer, unit)) == box.clipped, unit
    centre = lf.unit(*lf.centre_unit)
    assert centre.size == lf.receptive_field and centre.clipped == (centre.top, centre.left, centre.bottom,
                                                                    centre.right)  # all inside


def test_fields_grow_through_the_layers_and_lite0_ends_at_851_px(lite: LoadedModel) -> None:
    fields = layer_fields(lite.entry)
    assert list(fields) == list(lite.entry.feature_layers)
    sides = [f.receptive_field[0] for f in fields.values()]
    assert sides == sorted(sides) and sides[0] == 3
    last = fields["_head_act"]
    assert (last.receptive_field, last.jump, last.output_hw) == ((851, 851), (32, 32), (7, 7))


def test_gradient_map_equals_a_direct_autograd_computation(lite: LoadedModel, photo: Image.Image) -> None:
    layer, unit = "_blocks.4", (10, 17)
    x = model_input(lite.preprocess, photo)
    for channel in (None, 5):
        ours = unit_gradient(lite.model, x, layer, unit, channel)
        direct_x = x.clone().requires_grad_(True)
        with capture_activation(lite.model, layer) as store:
            lite.model(direct_x)  # the whole network, unlike unit_gradient's early stop
        out = store["output"]
        (out[0, :, 10, 17].sum() if channel is None else out[0, channel, 10, 17]).backward()
        assert direct_x.grad is not None
        g = direct_x.grad[0].abs().sum(0).double().numpy()
        np.testing.assert_allclose(ours, g / g.sum(), rtol=1e-5, atol=1e-12)
        assert ours.sum() == pytest.approx(1.0)
    lite.model.zero_grad(set_to_none=True)  # the direct check's backward filled parameter grads


def test_unit_gradient_leaves_no_gradient_on_the_shared_model(photo: Image.Image) -> None:
    loaded = load_model(DEFAULT_MODEL)
    unit_gradient(loaded.model, model_input(loaded.preprocess, photo), "_blocks.3", (4, 4))
    assert all(p.grad is None for p in loaded.model.parameters())
    assert not loaded.model.get_submodule("_blocks.3")._forward_hooks  # the hook is gone


def test_trained_and_init_maps_differ_and_each_fits_in_the_theoretical_field(lite: LoadedModel,
                                                                            photo: Image.Image) -> None:
    for layer in ("_blocks.5", "_blocks.10"):
        r = trained_vs_init(lite, photo, layer)
        assert r.unit == layer_field(lite.entry, layer).centre_unit
        assert np.abs(r.trained.grad - r.init.grad).sum() > 0.2  # L1 distance of two maps summing to 1
        for erf in (r.trained, r.init):
            assert erf.grad.shape == (224, 224) and erf.grad.sum() == pytest.approx(1.0)
            assert all(1 <= e <= t for e, t in zip(erf.effective, r.theoretical))
            top, left, bottom, right = r.box.clipped
            outside = erf.grad.sum() - erf.grad[top:bottom + 1, left:right + 1].sum()
            assert outside == pytest.approx(0.0, abs=1e-12)  # no gradient outside the field
        assert r.to_dict()["theoretical"] == list(r.theoretical) and "px at init (seed 0)" in str(r)


def test_init_is_deterministic_for_a_seed(lite: LoadedModel, photo: Image.Image) -> None:
    a = trained_vs_init(lite, photo, "_blocks.3", seed=3)
    b = trained_vs_init(lite, photo, "_blocks.3", seed=3)
    c = trained_vs_init(lite, photo, "_blocks.3", seed=4)
    np.testing.assert_array_equal(a.init.grad, b.init.grad)
    np.testing.assert_array_equal(a.trained.grad, c.trained.grad)  # the trained weights are the weights
    assert not np.allclose(a.init.grad, c.init.grad)
    before = torch.random.get_rng_state()
    init_model(lite.entry, seed=3)
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's random state is untouched


def test_bad_layer_unit_and_mass_are_refused_with_a_message(lite: LoadedModel, photo: Image.Image) -> None:
    with pytest.raises(LayerError, match="choose one of _stem_act"):
        trained_vs_init(lite, photo, "_fc")
    with pytest.raises(LayerError, match="outside the 7×7 map"):
        layer_field(lite.entry, "_head_act").unit(7, 0)
    with pytest.raises(PlaygroundError, match="between 0 and 1"):
        trained_vs_init(lite, photo, "_blocks.3", mass=1.5)


def test_drawing_outlines_the_clipped_field_on_the_enlarged_crop(lite: LoadedModel, photo: Image.Image) -> None:
    lf = layer_field(lite.entry, "_blocks.5")
    box = lf.unit(0, 0)  # reaches past the top-left corner: the outline is clipped to the image
    crop = lite.preprocess.crop_image(photo)
    heat = np.zeros((224, 224))
    heat[5, 5] = 1.0
    img = draw_unit(crop, box, heat=heat, mass_hw=(9, 9), scale=2)
    assert img.size == (448, 448)
    _, _, bottom, right = box.clipped  # type: ignore[misc]
    assert img.getpixel((0, 20)) == _BOX  # left edge of the image
    assert img.getpixel(((right + 1) * 2 - 1, 20)) == _BOX  # the field's right side
    assert bottom < 100 and img.getpixel((300, 300)) != _BOX  # far outside the field
