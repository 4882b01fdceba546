"""Charts of counts (layers, steps, convs) tick on whole numbers: no "1.5" between step 1 and step 2."""
from __future__ import annotations

from playground.ui.concepts.figures import gradient_lines
from playground.ui.finetune.job import curves_figure
from playground.ui.plot_axes import INTEGER_DTICK_UP_TO, integer_ticks


def _batch(step: int) -> dict:
    return {"event": "batch", "epoch": 1 + (step - 1) // 3, "epochs": 2, "step": step, "steps_per_epoch": 3,
            "global_step": step, "total_steps": 6, "loss": 1.0 / step, "accuracy": 0.1 * step}


def test_a_short_run_ticks_every_step_and_a_long_one_only_whole_steps() -> None:
    fig = curves_figure([_batch(s) for s in range(1, 7)])
    for axis in (fig.layout.xaxis, fig.layout.xaxis2):
        assert axis.dtick == 1 and axis.tick0 == 0
    long = integer_ticks(range(1, 500))
    assert "dtick" not in long and long["tickformat"] == ",d"  # Plotly's own steps, shown as whole numbers
    assert integer_ticks(range(0, INTEGER_DTICK_UP_TO + 1))["dtick"] == 1


def test_a_few_layers_tick_on_each_layer() -> None:
    fig = gradient_lines([("plain", [1.0, 0.5, 0.25]), ("residual", [1.0, 0.9, 0.8])], "gradient")
    assert fig.layout.xaxis.dtick == 1
