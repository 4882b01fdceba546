"""Fixtures of the fine-tuning tests."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from playground.finetune.data import Dataset
from tests.support.finetune_data import tiny_digits


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """30 small digit images in 3 classes (one copy per test module)."""
    return tiny_digits(tmp_path_factory.mktemp("tiny"), classes=3, per_class=10)


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """One PyTorch thread: the same arithmetic whatever the machine, and no oversubscribed cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
