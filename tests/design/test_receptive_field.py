"""The one receptive-field step (Distill recurrences) on single windows and short chains."""
from __future__ import annotations

import pytest

from playground.design.receptive_field import INPUT_RF_STATE, window_field
from playground.spec.window import Window


@pytest.mark.parametrize("window, expected", [
    (Window((3, 3), pad_l=(1, 1)), ((3, 3), (1, 1), (0.0, 0.0))),  # 'same'-style 3×3: centred on pixel 0
    (Window((3, 3)), ((3, 3), (1, 1), (1.0, 1.0))),  # no padding: the first unit is centred on pixel 1
    (Window((3, 5), (2, 1), (0, 2)), ((3, 5), (2, 1), (1.0, 0.0))),
    (Window((3, 3), dilation=(2, 1)), ((5, 3), (1, 1), (2.0, 1.0))),  # k_eff = d·(k − 1) + 1
    (Window((1, 1), (2, 2)), ((1, 1), (2, 2), (0.0, 0.0))),
    (Window((2, 2), (2, 2)), ((2, 2), (2, 2), (0.5, 0.5))),  # even kernel: the centre falls between pixels
    (Window((3, 3), pad_l=(3, 3)), ((3, 3), (1, 1), (-2.0, -2.0))),  # padding reaching outside the image
])
def test_one_window_from_the_input(window: Window, expected: tuple) -> None:
    assert window_field(INPUT_RF_STATE, window) == expected


def test_a_chain_grows_by_the_jump_so_far() -> None:
    state = window_field(INPUT_RF_STATE, Window((3, 3), (2, 2), (1, 1), (1, 1)))  # 3×3 /2, padding 1
    state = window_field(state, Window((2, 2), (2, 2)))  # 2×2 max-pool /2
    state = window_field(state, Window((3, 3), pad_l=(1, 1)))  # 3×3, padding 1
    (r, j, start) = state
    assert r == (3 + 1 * 2 + 2 * 4,) * 2 and j == (4, 4)
    assert start == (0.0 + 0.5 * 2 + 0.0,) * 2
