"""The effective receptive field: which of its input pixels a unit actually uses.

The theoretical field (:mod:`playground.design.receptive_field`) is every pixel that *can* reach a
unit. Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive Field in Deep Convolutional
Neural Networks" (NIPS 2016), measure instead the gradient of one central output unit with respect
to the input: it is roughly Gaussian, concentrated in the middle, and its width grows like the
square root of the depth, while the theoretical field grows linearly.

:func:`effective_receptive_field` measures exactly that on the network ``build_model(spec)`` builds
(PyTorch's default init, eval mode): ``|∂ unit / ∂ input|`` summed over the input channels,
averaged over a few seeded random inputs and inits, and the side of the centred rectangle that
holds 95% of its mass. It runs on the CPU, on an input only a little larger than the field, with
one backward pass per sample.

A design is any student's to write, so the measurement is guarded twice. Before anything runs, the
whole pass is costed (:mod:`playground.design.workload`: every layer's operations, pooling windows
included, and every tensor's bytes, the gradient map included) and refused with the figure and
what would bring it under. What passes runs in a separate process (:mod:`playground.sandbox`) with
memory, CPU-time and wall-clock limits, killed if the session that asked goes away. The map handed
back is block-summed to at most ``MAX_MAP_SIDE`` cells a side: a picture, not a 16 M-float list.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playground._format import human_bytes
from playground.design.analysis import LayerReport, analyze
from playground.errors import PlaygroundError
from playground.spec.parse import Spec, SpecError, SpecSource, parse_spec

__all__ = ["ERFResult", "ERFError", "effective_receptive_field", "default_erf_layer", "mass_side",
           "DEFAULT_SAMPLES", "DEFAULT_MASS", "MAX_ERF_OPS", "MAX_ERF_BYTES", "MAX_ERF_SAMPLES", "MAX_MAP_SIDE",
           "TOO_COSTLY"]

DEFAULT_SAMPLES = 4  # random inits × inputs averaged; the figures are stable to a pixel at 4
DEFAULT_MASS = 0.95
MAX_ERF_SAMPLES = 16
# Operations of all samples' forward + backward passes on the cropped input (workload.spec_workload):
# about a second of one CPU core, so one student's huge design cannot hold the server.
MAX_ERF_OPS = 3_000_000_000
# Bytes one sample's pass holds at once: activations, gradients, input, and the float64 maps.
MAX_ERF_BYTES = 256 * 2**20
MAX_MAP_SIDE = 128  # the returned map is block-summed to at most this many cells a side
_SANDBOX_MEMORY = 1024 * 2**20  # the child's limit over its start size: the budget above plus PyTorch's own
_SANDBOX_CPU_S = 30
_SANDBOX_WALL_S = 60.0
_MAP_BYTES = 3 * 8  # per input pixel: the float64 sum, one sample's normalised map, the integral image
TOO_COSTLY = "over what this tool spends"  # in every refusal for cost (callers stop measuring deeper layers)
_MARGIN_JUMPS = 2  # the cropped input reaches this many output steps past the field on each side


class ERFError(PlaygroundError):
    """A layer choice or a spec the effective receptive field cannot be measured for."""


@dataclass(frozen=True)
class ERFResult:
    """One layer's effective receptive field next to its theoretical one.

    ``grad`` is the averaged ``|∂ unit / ∂ input|`` map over the (cropped) input, rows × columns,
    normalised to sum 1; each cell sums ``map_scale × map_scale`` input pixels (1 unless the input is
    wider than ``MAX_MAP_SIDE``); ``centre`` is the unit's field centre in that map's cell coordinates.
    ``effective`` and ``sigma`` are measured on the full-resolution map, in input pixels.
    """

    layer: int
    theoretical: tuple[int, int]
    effective: tuple[int, int]
    sigma: tuple[float, float]
    mass: float
    samples: int
    seed: int
    input_hw: tuple[int, int]
    centre: tuple[float, float]
    grad: tuple[tuple[float, ...], ...]
    map_scale: int = 1

    @property
    def ratio(self) -> float:
        """Effective / theoretical height: how much of the field carries the unit's input."""
        return self.effective[0] / self.theoretical[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON: ``{"layer", "theoretical", "effective", "sigma", "mass", "samples", ...}`` (no map)."""
        return {"layer": self.layer, "theoretical": list(self.theoretical), "effective": list(self.effective),
                "sigma": [round(s, 3) for s in self.sigma], "mass": self.mass, "samples": self.samples,
                "seed": self.seed, "input": list(self.input_hw)}

    def __str__(self) -> str:
        (th, tw), (eh, ew) = self.theoretical, self.effective
        return (f"layer {self.layer}: theoretical field {th}×{tw} px, effective ({self.mass:.0%} of the gradient "
                f"mass) {eh}×{ew} px, 1-σ radius {self.sigma[0]:.1f}×{self.sigma[1]:.1f} px "
                f"({self.samples} random inits and inputs, seed {self.seed})")


def _spatial(report_layers: tuple[LayerReport, ...]) -> list[LayerReport]:
    return [x for x in report_layers if x.receptive_field is not None and len(x.output_shape) == 3]


def default_erf_layer(spec: SpecSource) -> int | None:
    """The layer measured by default: the last spatial one before global pooling (None: there is none)."""
    layers = _spatial(analyze(spec).layers)
    pooled = [x for x in layers if x.type != "global_avgpool"]
    chosen = pooled or layers
    return chosen[-1].index if chosen else None


def _radius0(centre: float) -> float:
    """The smallest half-width of a whole-pixel interval centred at ``centre``: 0.5 for a half-integer."""
    half = centre - math.floor(centre)
    return 0.5 if abs(half - 0.5) < 0.25 else 0.0


def mass_side(grad: Any, centre: tuple[float, float], aspect: tuple[float, float],
              mass: float) -> tuple[int, int]:
    """(rows, columns) of the smallest rectangle centred at ``centre`` holding ``mass`` of ``grad`` (a 2-D
    list or tensor summing to 1).

    The rectangle grows by whole pixels per side, keeping the theoretical field's ``aspect``
    (h, w); so for a half-integer centre (an even field) a side is even and for an integer centre
    odd, as for the theoretical field. An integral image makes each step O(1).
    """
    import torch

    g = torch.as_tensor(grad, dtype=torch.float64)
    n_h, n_w = g.shape
    integral = torch.zeros(n_h + 1, n_w + 1, dtype=torch.float64)
    integral[1:, 1:] = g.cumsum(0).cumsum(1)
    scale = max(aspect)
    k = 0
    while True:
        sides = []
        for axis, n in ((0, n_h), (1, n_w)):
            radius = _radius0(centre[axis]) + round(k * aspect[axis] / scale)
            lo = math.ceil(centre[axis] - radius - 1e-9)
            hi = math.floor(centre[axis] + radius + 1e-9)
            sides.append((lo, hi, max(lo, 0), min(hi, n - 1)))
        (lo_h, hi_h, a_h, b_h), (lo_w, hi_w, a_w, b_w) = sides
        inside = float(integral[b_h + 1, b_w + 1] - integral[a_h, b_w + 1] - integral[b_h + 1, a_w]
                       + integral[a_h, a_w]) if a_h <= b_h and a_w <= b_w else 0.0
        covers_all = a_h == 0 and b_h == n_h - 1 and a_w == 0 and b_w == n_w - 1 and lo_h <= 0 and lo_w <= 0
        if inside >= mass - 1e-9 or covers_all:
            return hi_h - lo_h + 1, hi_w - lo_w + 1
        k += 1


def _pick_layer(spec: Spec, layer: int | None) -> LayerReport:
    report = analyze(spec)
    spatial = _spatial(report.layers)
    if not spatial:
        raise ERFError("the spec has no layer with a spatial output: add a conv or pooling layer")
    if layer is None:
        index = default_erf_layer(spec)
        return next(x for x in spatial if x.index == index)
    if not 0 <= layer < len(spec.layers):
        raise ERFError(f"layer {layer} does not exist: the spec has layers 0 to {len(spec.layers) - 1}")
    found = next((x for x in spatial if x.index == layer), None)
    if found is None:
        raise ERFError(f"layer {layer} ({spec.layers[layer].type}) has no spatial output (it comes after "
                       f"flatten); choose one of layers {spatial[0].index} to {spatial[-1].index}")
    return found


def _cropped(spec: Spec, chosen: LayerReport) -> tuple[Spec, LayerReport]:
    """The spec up to the chosen layer, on an input just larger than that layer's field."""
    (rh, rw), (jh, jw) = chosen.receptive_field, chosen.jump  # type: ignore[misc]
    c, h, w = spec.input
    side_h = min(h, int(rh + 2 * _MARGIN_JUMPS * jh))
    side_w = min(w, int(rw + 2 * _MARGIN_JUMPS * jw))
    data = spec.to_dict()
    data["layers"] = data["layers"][:chosen.index + 1]
    for shape in ((c, side_h, side_w), (c, h, w)):  # a crop too small for some pooling: the full input
        data["input"] = list(shape)
        try:
            cropped = parse_spec(data)
        except SpecError:
            continue
        return cropped, analyze(cropped).layers[-1]
    raise ERFError(f"layer {chosen.index}: the spec's prefix up to it is not valid on its own")


def _check_cost(chosen: LayerReport, cropped: Spec, samples: int) -> int:
    """Refuse a measurement over the budgets before anything runs; the samples it can afford."""
    from playground.design.workload import human_ops, spec_workload

    work = spec_workload(cropped)
    _, h, w = cropped.input
    per_bytes = work.peak_bytes + h * w * _MAP_BYTES
    per_ops = max(1, work.ops)
    if per_ops <= MAX_ERF_OPS and per_bytes <= MAX_ERF_BYTES:
        return min(samples, MAX_ERF_OPS // per_ops)  # a big net gets fewer samples (reported in the result)
    shrink = min(MAX_ERF_OPS / per_ops, MAX_ERF_BYTES / per_bytes)  # both grow about with the input's area
    side = max(1, int(min(h, w) * math.sqrt(shrink)))
    raise ERFError(
        f"layer {chosen.index}: measuring its effective field needs {human_ops(per_ops)} operations and "
        f"{human_bytes(per_bytes)} per sample on a {h}×{w} input (the heaviest is {work.heaviest}), "
        f"{TOO_COSTLY} ({human_ops(MAX_ERF_OPS)} operations, {human_bytes(MAX_ERF_BYTES)}); use a smaller input "
        f"(about {side}×{side} px would fit), smaller pooling windows, fewer channels or an earlier layer")


def effective_receptive_field(spec: SpecSource, layer: int | None = None, *, samples: int = DEFAULT_SAMPLES,
                              seed: int = 0, mass: float = DEFAULT_MASS,
                              alive: Callable[[], bool] | None = None) -> ERFResult:
    """Measure the effective receptive field of the central unit of ``layer``'s output (default: the last
    spatial layer before global pooling), as Luo et al. (2016) do, on ``build_model(spec)`` at PyTorch's
    default init. Deterministic for a seed. A large network is averaged over fewer samples so that the
    work stays under ``MAX_ERF_OPS`` (``result.samples`` says how many); one whose single sample is over
    it or over ``MAX_ERF_BYTES`` raises :class:`ERFError` before anything runs (as does a bad layer;
    ``SpecError`` for a bad spec). The measurement runs in a limited child process; ``alive`` (polled
    while it runs) returning False stops it (:class:`playground.sandbox.SandboxError`).
    """
    from playground.sandbox import run_limited

    if not 1 <= samples <= MAX_ERF_SAMPLES:
        raise ERFError(f"samples must be from 1 to {MAX_ERF_SAMPLES} (got {samples})")
    if not 0.0 < mass < 1.0:
        raise ERFError(f"mass must be between 0 and 1, such as 0.95 (got {mass})")
    parsed = parse_spec(spec)
    chosen = _pick_layer(parsed, layer)
    cropped, _ = _cropped(parsed, chosen)
    samples = _check_cost(chosen, cropped, samples)
    rf = chosen.receptive_field
    assert rf is not None  # chosen is spatial
    return run_limited(_measure_result, cropped.to_dict(), chosen.index, (int(rf[0]), int(rf[1])), samples, seed,
                       mass, memory_bytes=_SANDBOX_MEMORY, cpu_seconds=_SANDBOX_CPU_S, wall_seconds=_SANDBOX_WALL_S,
                       alive=alive, what=f"measuring the effective field of layer {chosen.index}")


def _measure_result(cropped_data: dict[str, Any], index: int, theoretical: tuple[int, int], samples: int,
                    seed: int, mass: float) -> ERFResult:
    """In the limited child: measure, reduce to the figures and a bounded map."""
    cropped = parse_spec(cropped_data)
    last = analyze(cropped).layers[-1]
    grad, centre = _measure(cropped, last, samples, seed)  # (H, W) float64, sums to 1
    rows, cols = grad.sum(1), grad.sum(0)
    cy, cx = centre
    sigma = (math.sqrt(sum(float(m) * (i - cy) ** 2 for i, m in enumerate(rows.tolist()))),
             math.sqrt(sum(float(m) * (i - cx) ** 2 for i, m in enumerate(cols.tolist()))))
    effective = mass_side(grad, centre, (float(theoretical[0]), float(theoretical[1])), mass)
    small, scale = _block_sum(grad)
    return ERFResult(
        layer=index, theoretical=theoretical, effective=effective, sigma=sigma, mass=mass, samples=samples,
        seed=seed, input_hw=(cropped.input[1], cropped.input[2]),
        centre=((cy + 0.5) / scale - 0.5, (cx + 0.5) / scale - 0.5),
        grad=tuple(tuple(r) for r in small.tolist()), map_scale=scale)


def _block_sum(grad: Any) -> tuple[Any, int]:
    """``grad`` summed over ``scale × scale`` blocks so that no side exceeds MAX_MAP_SIDE; (map, scale)."""
    import torch.nn.functional as F

    scale = max(1, math.ceil(max(grad.shape) / MAX_MAP_SIDE))
    if scale == 1:
        return grad, 1
    summed = F.avg_pool2d(grad[None, None], scale, scale, ceil_mode=True, divisor_override=1)  # (1, 1, h', w')
    return summed[0, 0], scale


def _measure(spec: Spec, last: LayerReport, samples: int, seed: int) -> tuple[Any, tuple[float, float]]:
    """The mean normalised |∂ unit / ∂ input| map (an (H, W) float64 tensor) and the unit's field centre,
    in input pixels."""
    import torch

    from playground.design.build import build_model

    _, out_h, out_w = last.output_shape
    uy, ux = out_h // 2, out_w // 2
    assert last.jump is not None and last.start is not None
    centre = (last.start[0] + uy * last.jump[0], last.start[1] + ux * last.jump[1])
    c, h, w = spec.input
    total = torch.zeros(h, w, dtype=torch.float64)
    with torch.random.fork_rng(devices=[]):  # seeded without disturbing the caller's random state
        for i in range(samples):
            torch.manual_seed(seed * 1000 + i)
            model = build_model(spec).eval()
            for p in model.parameters():
                p.requires_grad_(False)  # only the input's gradient is wanted
            x = torch.randn(1, c, h, w, requires_grad=True)  # (1, C, H, W)
            out = model(x)  # (1, C_out, H_out, W_out)
            out[0, :, uy, ux].sum().backward()
            assert x.grad is not None  # x requires grad and reaches the unit
            g = x.grad[0].abs().sum(0).double()  # (H, W)
            norm = g.sum()
            if norm > 0:  # a unit whose every path is cut (dead ReLUs) adds nothing
                total += g / norm
    norm = total.sum()
    if norm <= 0:
        raise ERFError(f"layer {last.index}: the unit's gradient is zero for every sample (its ReLUs are all "
                       "off at this init); try another seed or more samples")
    return total / norm, centre
