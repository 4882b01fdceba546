"""Readable names for a pretrained model's layers: "block 9 of 16" for ``_blocks.8``, with the module path kept.

The layers offered for Grad-CAM and feature maps are module paths of the model's PyTorch code
(``_stem_act``, ``_blocks.8``, ``_head_act``, ``features.18``, ``layer4``), which mean nothing to a
student. Every offered list runs input to output (:func:`playground.models.inference.layer_names`):
the first is the stem (the first conv), the last the final conv block, and the ones between are the
network's blocks in order. The path stays beside the readable name as a detail, for whoever reads the
model's code.
"""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["readable_layer", "layer_label", "first_conv_label"]


def readable_layer(layer: str, layers: Sequence[str]) -> str:
    """The readable name of ``layer``, by its place in ``layers`` (input to output); the path itself
    when it is not among them."""
    if layer not in layers:
        return layer
    i, n = list(layers).index(layer), len(layers)
    if n > 2 and i == 0:
        return "stem (first conv)"
    if n > 1 and i == n - 1:
        return "last conv block (head)" if "head" in layer.lower() else "last conv block"
    middle = n - 2 if n > 2 else n  # the blocks between the stem and the last one
    return f"block {i if n > 2 else i + 1} of {middle}"


def layer_label(layer: str, layers: Sequence[str]) -> str:
    """Plain text for a picker: the readable name, then the module path (``block 9 of 16 · _blocks.8``)."""
    name = readable_layer(layer, layers)
    return name if name == layer else f"{name} · {layer}"


def first_conv_label(path: str) -> str:
    """Markdown for the model's first conv layer, whose filters are drawn: named, with its module path."""
    return f"the first conv layer (module `{path}`)"
