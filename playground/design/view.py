"""Everything the designer shows, computed from the design in one call (pure Python, no streamlit).

The page calls :func:`compute` once per rerun and renders the result; the benchmark
times it on its own. It never raises for a bad design: the first broken layer's
SpecError is part of the result, and the numbers cover the valid layers before it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playground.design.advice import Advice, advise
from playground.design.analysis import Report, analyze
from playground.spec.layers import Shape
from playground.spec.parse import Spec, SpecError, parse_spec_prefix
from playground.spec.share import encode_share

__all__ = ["DesignView", "compute"]


@dataclass(frozen=True)
class DesignView:
    """The design's analysis: the valid prefix, its report and advice, the first error, the share token."""

    spec: dict[str, Any]          # the design as edited (may be invalid)
    parsed: Spec | None           # the valid prefix (None when the input itself is invalid)
    report: Report | None         # analysis of the valid prefix
    error: SpecError | None       # the first problem, at error.layer_index (None: the input/whole spec)
    advice: tuple[Advice, ...]
    token: str | None             # share token for the URL (None when the design is too large for a link)
    token_error: str | None

    @property
    def valid(self) -> bool:
        """True when the whole design is valid."""
        return self.error is None and self.parsed is not None

    @property
    def n_valid(self) -> int:
        """How many layers (from the top) are valid and analysed."""
        return len(self.parsed.layers) if self.parsed is not None else 0

    def output_shape(self, index: int) -> Shape | None:
        """Output shape of layer ``index``, or None when it is not part of the valid prefix."""
        return self.parsed.shapes[index + 1] if self.parsed is not None and index < self.n_valid else None

    def channels_into(self, position: int) -> int | None:
        """Channels (or features) reaching a layer inserted at ``position``: the width for it.

        None at the top (a first layer starts at its own width rather than the image's 3) and
        when the input is invalid; past a broken layer, the last width known."""
        if self.parsed is None or position <= 0:
            return None
        return self.parsed.shapes[min(position, self.n_valid)][0]

    @property
    def channels_at_end(self) -> int | None:
        """Channels (or features) coming out of the last valid layer: the width for a new layer."""
        if self.parsed is None:
            return None
        return self.parsed.shapes[-1][0]


def compute(spec: dict[str, Any]) -> DesignView:
    """Analyse ``spec`` (valid or not) for display."""
    parsed, error = parse_spec_prefix(spec)
    report = analyze(parsed) if parsed is not None else None
    advice = tuple(advise(parsed, report)) if parsed is not None and report is not None else ()
    try:
        token, token_error = encode_share(spec), None
    except SpecError as exc:
        token, token_error = None, str(exc)
    return DesignView(spec, parsed, report, error, advice, token, token_error)
