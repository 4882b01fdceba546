"""The hidden test split of an accuracy criterion: images the student's training never sees, and the one
function that measures a trained design on them (:func:`hidden_accuracy`).

Why not the training job's own validation split? Because the student has seen it and the run chose with it:

- the job page shows that split's accuracy after every epoch and thumbnails of its misclassified images;
- the run keeps its *best validation epoch*, so the validation accuracy is the maximum over epochs of a
  noisy figure: selected on that split, hence optimistic;
- a student who resubmits until the validation figure clears the target tunes the design to those images.

So the server measures on a separate, deterministic set that is never put in a job folder, never shown and
never downloadable:

- ``shapes`` / ``shapes64``: a fresh draw of the generated set with a seed the bundled sets never use
  (:data:`HIDDEN_SEED`), :data:`HIDDEN_PER_CLASS` images per class, written once under the data directory;
- ``digits``: a fixed, seeded, stratified :data:`DIGITS_HIDDEN_FRACTION` of scikit-learn's 1,797 digits,
  which :func:`training_set` removes from what a job trains and validates on.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from playground.assignments.model import ACCURACY_DATASETS, AssignmentError
from playground.paths import home_dir

if TYPE_CHECKING:
    from torch import nn

    from playground.finetune.data import Dataset
    from playground.models.preprocess import Preprocess

__all__ = ["ACCURACY_DATASETS", "HIDDEN_SEED", "HIDDEN_PER_CLASS", "DIGITS_HIDDEN_FRACTION", "HIDDEN_DIR",
           "training_set", "hidden_set", "hidden_accuracy"]

HIDDEN_SEED = 90_210          # the bundled shapes sets use seeds 0 and 1
HIDDEN_PER_CLASS = 200        # 1,000 hidden shapes: a 95% interval of about ±1.5 points at 90%
DIGITS_HIDDEN_FRACTION = 0.2  # about 360 of the 1,797 digits
DIGITS_HIDDEN_SEED = 24       # the split of digits into training and hidden images (fixed forever)
HIDDEN_DIR = "assignments-hidden"  # under the data directory, never served by any page
_BATCH = 256


def _known(name: str) -> None:
    if name not in ACCURACY_DATASETS:
        raise AssignmentError(f"accuracy criteria train on one of {', '.join(ACCURACY_DATASETS)}; "
                              f"{name!r} has no hidden test split")


def _digits_split(name: str) -> tuple[Dataset, list[int], list[int]]:
    from playground.finetune.data import bundled, stratified_split

    ds = bundled(name)
    split = stratified_split(ds, DIGITS_HIDDEN_FRACTION, DIGITS_HIDDEN_SEED)
    return ds, split.train, split.val


def _subset(ds: Dataset, keep: list[int], suffix: str = "") -> Dataset:
    from playground.finetune.data import Dataset

    return Dataset(root=ds.root, name=ds.name + suffix, classes=list(ds.classes), items=[ds.items[i] for i in keep])


def training_set(name: str) -> Dataset:
    """What a student's design trains (and validates) on for a criterion on dataset ``name``: the bundled set,
    less the hidden images where they come from the same pool (digits)."""
    from playground.finetune.data import bundled

    _known(name)
    if ACCURACY_DATASETS[name] is not None:
        return bundled(name)  # the hidden shapes are a separate draw
    ds, train, _ = _digits_split(name)
    return _subset(ds, train)


def hidden_set(name: str) -> Dataset:
    """The hidden test images of dataset ``name`` (materialised once; the same images every time)."""
    from playground.finetune.data import materialise
    from playground.finetune.shapes import write_shapes

    _known(name)
    side = ACCURACY_DATASETS[name]
    if side is None:
        ds, _, hidden = _digits_split(name)
        return _subset(ds, hidden, " (hidden test)")
    def write(folder: Path) -> None:
        write_shapes(folder, image_size=side, per_class=HIDDEN_PER_CLASS, seed=HIDDEN_SEED)

    return materialise(home_dir() / HIDDEN_DIR / name, f"{name} (hidden test)", write)


def hidden_accuracy(model: nn.Module, classes: list[str], preprocess: Preprocess, name: str) -> float:
    """The share of dataset ``name``'s hidden test images that ``model`` (eval mode, CPU; its outputs in the
    order of ``classes``) classifies right, each image prepared by ``preprocess`` as in training.

    The one measurement of an accuracy criterion, whether the design trained in a job (the app) or in
    ``playground assignment grade`` (the CLI)."""
    import torch

    from playground.finetune.pixels import decode_all, normalize

    ds = hidden_set(name)
    index = {c: i for i, c in enumerate(classes)}
    missing = [c for c in ds.classes if c not in index]
    if missing:
        raise AssignmentError(f"the trained model has no class {missing[0]!r} of {name}; it cannot be measured")
    images = decode_all(ds, preprocess, lambda _done, _total: None, lambda: False)  # (N, 3, S, S) uint8
    truth = torch.tensor([index[ds.classes[it.label]] for it in ds.items])  # (N,) in the model's class order
    mean = torch.tensor(preprocess.mean).view(1, 3, 1, 1)
    std = torch.tensor(preprocess.std).view(1, 3, 1, 1)
    right = 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(truth), _BATCH):
            logits = model(normalize(images[start:start + _BATCH], mean, std))  # (B, classes)
            right += int((logits.argmax(dim=1) == truth[start:start + _BATCH]).sum())
    return right / len(truth)

