"""``str(analyze(spec))``: the report as a text table (the CLI prints it), a row per layer, then the totals.

It takes the :class:`~playground.design.analysis.Report` (which calls it from ``__str__``) without importing
that module, so the two do not import each other."""
from __future__ import annotations

from typing import Any

from playground._format import format_pair, format_shape, human, human_bytes

__all__ = ["report_table"]


def report_table(report: Any) -> str:
    """The report as the text table ``str(report)`` prints: a row per layer (inside branches too), then totals."""
    head = ("#", "layer", "output", "params", "MACs", "field", "jump", "start")
    rows = [("", "input", format_shape(report.input_shape), "", "", "1", "1", "0")]
    for x in report.rows():
        rows.append((x.name, "  " * x.depth + x.description, format_shape(x.output_shape),
                     human(x.params) if x.params else "0",
                     human(x.macs) if x.macs else "0", format_pair(x.receptive_field), format_pair(x.jump),
                     format_pair(x.start, "{:g}")))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {0, 3, 4, 5, 6, 7}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "-" * len(line(head))
    title = [report.name, rule] if report.name else []
    out = [*title, line(head), rule, *map(line, rows), rule]
    t = report
    out.append(f"params       {human(t.total_params)} ({t.total_params:,}), all trainable; "
               f"{human_bytes(t.model_bytes)} as fp32")
    out.append(f"MACs         {human(t.total_macs)} per image ({t.total_macs:,}); "
               f"FLOPs = 2 × MACs = {human(t.total_flops)}")
    out.append(f"activations  {human_bytes(t.total_activation_bytes)} per image (fp32 layer outputs, summed)")
    dw = t.depthwise_savings
    if dw.layers:
        out.append(f"depthwise    replacing the {len(dw.layers)} plain conv2d with depthwise-separable pairs: "
                   f"params {human(dw.total_params_before)} -> {human(dw.total_params_after)}, "
                   f"MACs {human(dw.total_macs_before)} -> {human(dw.total_macs_after)}")
    if t.misaligned:
        out.append(f"misaligned   paths merging at {', '.join(t.misaligned)} see fields whose jump or start differ")
    out.append("field/jump/start: receptive field in input px, its step between neighbouring units, "
               "and the centre of the top-left unit's field" + ("; rows 4.1.0 are inside branches (layer 4, "
                                                               "path 1, layer 0)" if len(t.rows()) > len(t.layers)
                                                               else ""))
    return "\n".join(out)
