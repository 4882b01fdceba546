"""Measure a model torch.fx cannot trace with one eager forward pass and hooks on its leaf modules.

A ``forward()`` whose control flow depends on tensor values (``if x.sum() > 0:``, timm's MobileViT)
cannot be traced, but it can be run. Hooks on every leaf module record its output shape, its own
parameters (each counted the first time it is used) and the MACs of convolutions
(``H_out·W_out·C_out·(C_in/groups)·kh·kw``) and linear layers (``in·out`` per output row), counted as
the graph analysis counts them. What that cannot give is said in the report's notes: the receptive
field (it needs the paths between layers), functional ops called between modules, and the branches
the example image did not take.
"""
from __future__ import annotations

import math
from typing import Any

from playground.arch.report import ArchLayer, ArchReport, group_stages

__all__ = ["analyze_eager", "EAGER_NOTE"]

EAGER_NOTE = ("torch.fx could not trace forward() ({reason}), so it was measured with one eager forward pass on "
              "a random image, with hooks on leaf modules: output shapes, parameters and conv/linear MACs of the "
              "path that image took. Not measured: the receptive field (it needs the paths between layers), "
              "functional ops called between modules (torch.*/F.* calls such as F.conv2d or matmul: their MACs "
              "are not counted), and branches the image did not take; depth counts every conv/linear call")


def analyze_eager(model: Any, shape: tuple[int, int, int], name: str, reason: str) -> ArchReport:
    """The report of one eager forward pass of ``model`` on a ``(1, C, H, W)`` random image.

    ``reason`` says why tracing failed (it goes in the notes). Raises ArchitectureError when the
    forward pass itself fails.
    """
    import torch

    from playground.arch.shape_advice import explain_shape_failure
    from playground.arch.user_model import ArchitectureError

    names = {m: n or type(model).__name__.lower() for n, m in model.named_modules()}
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    layers: list[ArchLayer] = []
    seen: set[int] = set()
    totals = {"conv": 0, "linear": 0}
    counts = {"conv": 0, "linear": 0}

    def hook(module: Any, inputs: tuple[Any, ...], output: Any) -> None:
        out = output[0] if isinstance(output, (tuple, list)) and output else output
        if not isinstance(out, torch.Tensor):
            return
        kind, macs = _macs(module, inputs, out)
        if kind:
            totals[kind] += macs
            counts[kind] += 1
        params = sum(p.numel() for p in module.parameters(recurse=False) if id(p) not in seen)
        seen.update(id(p) for p in module.parameters(recurse=False))
        out_shape = tuple(int(v) for v in out.shape[1:])
        layers.append(ArchLayer(index=len(layers), name=names.get(module, type(module).__name__),
                                type=type(module).__name__.lower(), output_shape=out_shape, params=params,
                                macs=macs, attention_macs=0, receptive_field=None, jump=None, start=None,
                                feature_size=(out_shape[1], out_shape[2]) if len(out_shape) == 3 else None))

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    handles = [m.register_forward_hook(hook) for m in leaves]
    generator = torch.Generator().manual_seed(0)  # the same image every run: the same path, the same numbers
    image = torch.randn(1, *shape, generator=generator).to(device)
    try:
        with torch.no_grad():
            model(image)
    except Exception as exc:
        if image.device.type == "meta":  # no values to branch on: say so rather than quote PyTorch's meta error
            raise ArchitectureError(f"{name}: torch.fx could not trace forward() ({reason}) and a model without "
                                    "weights (meta device) cannot be run instead; build it on the CPU") from None
        c, h, w = shape
        raise ArchitectureError(f"{name} cannot take a {c}×{h}×{w} input: {explain_shape_failure(exc)}") from None
    finally:
        for handle in handles:
            handle.remove()
    unused = sum(p.numel() for p in model.parameters() if id(p) not in seen)
    notes = [EAGER_NOTE.format(reason=reason)]
    if unused:
        notes.append(f"{unused:,} parameters were not used by that forward pass (a branch not taken, or used "
                     "outside a module call)")
    return ArchReport(
        model=name, input_shape=shape, layers=tuple(layers),
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        conv_macs=totals["conv"], linear_macs=totals["linear"], attention_macs=0,
        depth=counts["conv"] + counts["linear"], conv_layers=counts["conv"], linear_layers=counts["linear"],
        receptive_field=None, jump=None, start=None, rf_layer=None, misaligned=(), global_context=None,
        notes=tuple(notes), stages=group_stages(layers),
    )


def _macs(module: Any, inputs: tuple[Any, ...], out: Any) -> tuple[str | None, int]:
    """("conv" | "linear" | None, MACs for one image) of one leaf module's call."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.weight[0].numel()  # (C_in/groups)·kh·kw, or (C_out/groups)·kh·kw when transposed
        source = inputs[0] if module.transposed and inputs else out  # a transposed conv scatters each input
        return "conv", math.prod(source.shape[1:]) * per_output
    if isinstance(module, nn.Linear):
        return "linear", math.prod(out.shape[1:]) * module.in_features
    return None, 0
