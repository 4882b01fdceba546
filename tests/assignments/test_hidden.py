"""The hidden test split of an accuracy criterion: never part of what a student's design trains or validates
on, the same images every time, and measured like an image-by-image PyTorch oracle."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from playground.assignments import hidden
from playground.assignments.model import AssignmentError, parse_assignment
from playground.finetune.shapes import render_shapes
from playground.images import load_image
from playground.models.designed import design_entry
from tests.support.strategies import one_torch_thread

_ = one_torch_thread

TINY = {"input": [3, 16, 16], "layers": [
    {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def test_digits_hidden_images_are_never_in_the_training_set_and_are_fixed() -> None:
    train, test = hidden.training_set("digits"), hidden.hidden_set("digits")
    train_paths, test_paths = {it.path for it in train.items}, {it.path for it in test.items}
    assert train_paths.isdisjoint(test_paths)
    assert len(train_paths) + len(test_paths) == 1797  # every digit is on exactly one side
    assert abs(len(test_paths) - 1797 * hidden.DIGITS_HIDDEN_FRACTION) <= 10
    assert set(test.counts().values()) and min(test.counts().values()) >= 30  # every class is tested
    assert {it.path for it in hidden.hidden_set("digits").items} == test_paths  # the same images every time
    pixels = {hashlib.sha256(np.asarray(Image.open(train.path(it))).tobytes()).hexdigest() for it in train.items}
    shared = [it.path for it in test.items
              if hashlib.sha256(np.asarray(Image.open(test.path(it))).tobytes()).hexdigest() in pixels]
    assert len(shared) <= 2  # scanned digits: at most a freak identical pair, never a copied file


def test_hidden_shapes_are_a_separate_draw_of_the_generated_set() -> None:
    test = hidden.hidden_set("shapes")
    assert len(test.items) == 5 * hidden.HIDDEN_PER_CLASS and test.classes == list(hidden_classes())
    trained = render_shapes(image_size=32, seed=0)  # exactly what bundled "shapes" writes (seed 0, 1,000 a class)
    seen = {img.tobytes() for img in trained.images}
    drawn = [np.asarray(Image.open(test.path(it)).convert("RGB")) for it in test.items]
    assert not any(img.tobytes() in seen for img in drawn)
    again = render_shapes(hidden.HIDDEN_PER_CLASS, image_size=32, seed=hidden.HIDDEN_SEED)
    assert {img.tobytes() for img in again.images} == {img.tobytes() for img in drawn}  # deterministic


def hidden_classes() -> tuple[str, ...]:
    from playground.finetune.shapes import SHAPE_CLASSES

    return SHAPE_CLASSES


def test_hidden_accuracy_matches_an_image_by_image_oracle() -> None:
    test = hidden.hidden_set("digits")
    classes = [str(d) for d in range(10)]
    torch.manual_seed(3)
    entry = design_entry(TINY, classes)
    model = entry.builder().eval()
    measured = hidden.hidden_accuracy(model, classes, entry.preprocess, "digits")
    right = 0
    with torch.no_grad():
        for item in test.items:
            x = entry.preprocess(load_image(test.path(item), name=item.path)).unsqueeze(0)  # (1, 3, 16, 16)
            right += int(model(x).argmax(1).item() == classes.index(test.classes[item.label]))
    assert measured == pytest.approx(right / len(test.items), abs=1e-9)
    flipped = torch.nn.Sequential(model, Flip())  # the same model with its outputs in the reverse class order
    assert hidden.hidden_accuracy(flipped, classes[::-1], entry.preprocess, "digits") == measured


class Flip(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1)


def test_datasets_without_a_hidden_split_are_refused() -> None:
    with pytest.raises(AssignmentError, match="digits, shapes, shapes64"):
        hidden.training_set("shapes-shift")
    with pytest.raises(AssignmentError, match=r"criteria\[0\]\.dataset must be one of digits, shapes, shapes64"):
        parse_assignment({"title": "t", "input": [3, 16, 16], "criteria": [
            {"metric": "val_accuracy", "at_least": 0.5, "dataset": "my-photos"}]})
