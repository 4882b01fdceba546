"""The effective receptive field (Luo et al. 2016) against the theoretical one, with PyTorch's gradients."""
from __future__ import annotations

import pytest
import torch

from playground.design.analysis import analyze
from playground.design.build import build_model
from playground.design.erf import ERFError, effective_receptive_field, mass_side
from playground.design.workload import spec_workload

CONV = {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}


def stack(n: int, side: int = 48) -> dict:
    return {"input": [3, side, side], "layers": [CONV] * n}


def test_single_conv_equals_its_kernel() -> None:
    r = effective_receptive_field(stack(1), samples=2)
    assert r.theoretical == (3, 3)
    assert abs(r.effective[0] - 3) <= 1 and abs(r.effective[1] - 3) <= 1


def test_effective_within_theoretical_for_every_layer() -> None:
    spec = {"input": [3, 40, 40], "layers": [CONV, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
                                             {"type": "conv2d", "out_channels": 8, "kernel_size": 3,
                                              "padding": 2, "dilation": 2},
                                             {"type": "residual", "out_channels": 8}, {"type": "global_avgpool"},
                                             {"type": "flatten"}, {"type": "linear", "out_features": 3}]}
    for layer in range(6):
        r = effective_receptive_field(spec, layer, samples=2)
        assert r.effective[0] <= r.theoretical[0] and r.effective[1] <= r.theoretical[1], r


def test_sub_linear_growth_over_depth() -> None:
    sides = {n: effective_receptive_field(stack(n, 40), samples=3).effective[0] for n in (2, 4, 8, 16)}
    theory = {n: analyze(stack(n, 40)).layers[-1].receptive_field[0] for n in sides}  # type: ignore[index]
    assert theory == {2: 5, 4: 9, 8: 17, 16: 33}
    assert sides[2] <= sides[4] <= sides[8] <= sides[16]
    assert sides[16] < theory[16] - 6  # well inside: the gradient concentrates in the middle
    # Doubling the depth from 8 to 16 grows the effective side by much less than the theoretical 2×.
    assert (sides[16] - 1) / (sides[8] - 1) < 1.7


def test_deterministic_for_a_seed_and_caller_rng_untouched() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = effective_receptive_field(stack(4), samples=2, seed=5)
    after = torch.rand(1)
    b = effective_receptive_field(stack(4), samples=2, seed=5)
    assert a == b and before == after
    assert a != effective_receptive_field(stack(4), samples=2, seed=6)


def test_map_is_pytorchs_gradient() -> None:
    """One sample: the map is |∂ centre unit / ∂ input|, channel-summed, normalised, for the same seeded model."""
    spec = stack(2, 20)
    r = effective_receptive_field(spec, samples=1, seed=0)
    cropped = {**spec, "input": [3, *r.input_hw]}
    torch.manual_seed(0)
    model = build_model(cropped).eval()
    x = torch.randn(1, 3, *r.input_hw, requires_grad=True)
    out = model(x)
    out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()
    assert x.grad is not None
    g = x.grad[0].abs().sum(0).double()
    assert torch.allclose(torch.tensor(r.grad, dtype=torch.float64), g / g.sum(), atol=1e-9)


def test_mass_side_on_known_maps() -> None:
    flat = [[1 / 25] * 5 for _ in range(5)]
    assert mass_side(flat, (2.0, 2.0), (5.0, 5.0), 0.95) == (5, 5)
    peak = [[0.0] * 5 for _ in range(5)]
    peak[2][2] = 1.0
    assert mass_side(peak, (2.0, 2.0), (5.0, 5.0), 0.95) == (1, 1)
    even = [[0.25 if 1 <= i <= 2 and 1 <= j <= 2 else 0.0 for j in range(4)] for i in range(4)]
    assert mass_side(even, (1.5, 1.5), (4.0, 4.0), 0.95) == (2, 2)


def test_bad_choices_have_clear_messages() -> None:
    spec = {"input": [3, 8, 8], "layers": [CONV, {"type": "flatten"}, {"type": "linear", "out_features": 2}]}
    with pytest.raises(ERFError, match="layer 2 .*no spatial output"):
        effective_receptive_field(spec, 2)
    with pytest.raises(ERFError, match="layer 7 does not exist"):
        effective_receptive_field(spec, 7)
    big = {"input": [3, 224, 224], "layers": [{"type": "conv2d", "out_channels": 1024, "kernel_size": 3,
                                               "padding": 1}] * 4}
    with pytest.raises(ERFError, match="operations and .* per sample .*over what this tool spends"):
        effective_receptive_field(big)


def test_a_costly_net_is_averaged_over_fewer_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    from playground.design import erf

    spec = stack(2)
    cropped = {**spec, "input": [3, 9, 9]}  # 5 px field + 2 jumps each side
    assert effective_receptive_field(spec, samples=4).input_hw == (9, 9)
    monkeypatch.setattr(erf, "MAX_ERF_OPS", 2 * spec_workload(cropped).ops)
    assert effective_receptive_field(spec, samples=4).samples == 2
