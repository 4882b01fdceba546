"""Depthwise-separable savings: per conv and for the whole net, with the formula, and one click
to rewrite a conv (or all of them) as the MobileNet ``dwsep`` block."""
from __future__ import annotations

from typing import cast

import streamlit as st

from playground._format import human
from playground.design.advice import dwsep_blocker, replace_all_with_dwsep, replace_with_dwsep
from playground.design.view import DesignView
from playground.spec.layers import Conv2d
from playground.spec.parse import SpecError
from playground.ui.designer import session as ss
from playground.ui.text import md_text

__all__ = ["render_savings", "on_apply", "replace_key"]


def replace_key(index: int | None) -> str:
    """Widget key of the Replace button of conv ``index`` (None: the Replace all button)."""
    return f"dz.dw.{'all' if index is None else index}"


def on_apply(index: int | None) -> None:
    """Rewrite conv ``index`` (None: every replaceable conv) as dwsep blocks, keeping undo."""
    spec = ss.design().spec()
    try:
        change = replace_all_with_dwsep(spec) if index is None else replace_with_dwsep(spec, index)
    except (ValueError, SpecError) as exc:
        ss.notify("error", md_text(exc))
        return
    what = "every replaceable conv2d" if index is None else f"layer {index}"
    ss.replace_design(change.spec, f"replace {what} with dwsep")
    notes = "".join(f"\n- {n}" for n in change.notes)
    ss.notify("success", f"Replaced {what} with a depthwise-separable block. What else changed:{notes}\n\n"
                         "Undo brings back the previous design.")


def render_savings(view: DesignView, *, locked: bool, hidden: frozenset[str] = frozenset()) -> None:
    """Per conv and for the whole net: what the depthwise-separable pair would save. A link that hides
    the totals (or the per-layer table) gets the ratios without those counts."""
    r, parsed = view.report, view.parsed
    if r is None or parsed is None:
        st.info("Nothing to analyse until the input size is valid.")
        return
    dw = r.depthwise_savings
    st.markdown(
        "A standard conv gives each of its **out** filters a **k×k** window over all **in** channels: "
        "`out·in·k²` weights. A depthwise-separable pair splits that into one k×k filter per input channel "
        "(depthwise, `in·k²`) and a 1×1 conv that mixes channels (pointwise, `in·out`): "
        "`in·k² + in·out` weights, about `1/out + 1/k²` of the original.")
    if not dw.layers:
        st.info("No plain conv2d with a kernel larger than 1×1 (groups 1) in the valid part of the design.")
        return
    params_share = dw.total_params_after / max(1, dw.total_params_before)
    macs_share = dw.total_macs_after / max(1, dw.total_macs_before)
    # MAC counts beside weight counts give a hidden output size away (a conv's MACs ÷ its weights is H·W)
    macs_hidden = "shapes" in hidden
    if "totals" in hidden:
        st.markdown(f"**Whole net** if every such conv were separated: parameters ×**{params_share:.3f}**, "
                    f"MACs ×**{macs_share:.3f}** (the counts are hidden on this link).")
    else:
        macs = (f"MACs ×**{macs_share:.3f}**" if macs_hidden else
                f"MACs {human(dw.total_macs_before)} → **{human(dw.total_macs_after)}** ({macs_share:.1%})")
        st.markdown(f"**Whole net** if every such conv were separated: parameters {human(dw.total_params_before)} "
                    f"→ **{human(dw.total_params_after)}** ({params_share:.1%}), {macs}.")
    can_apply = view.valid and not locked
    if not view.valid and not locked:
        st.caption("Fix the broken layer first to apply a replacement.")
    rows = {row.name: row for row in r.rows()}  # a conv inside a branch is named "4.1.0"
    for s in dw.layers:
        name = s.key or str(s.index)
        row = rows[name]
        conv = cast(Conv2d, row.layer)  # savings are listed for plain conv2d layers only
        c_in, (kh, kw), out = row.input_shape[0], conv.kernel_size, conv.out_channels
        k2 = f"{kh}²" if kh == kw else f"{kh}·{kw}"
        text, button = st.columns([5, 1], vertical_alignment="center")
        if "table" in hidden or "totals" in hidden:  # per-layer counts: the table's (and they sum to the totals)
            text.markdown(f"`{name}` {conv.describe()} — weights `out·in·{k2}` vs `in·{k2} + in·out`: "
                          f"params ×**{s.params_ratio:.3f}**, MACs ×**{s.macs_ratio:.3f}**")
        else:
            text.markdown(
                f"`{name}` {conv.describe()} — weights `{out}·{c_in}·{k2}` = {out * c_in * kh * kw:,} vs "
                f"`{c_in}·{k2} + {c_in}·{out}` = {c_in * kh * kw + c_in * out:,}; "
                f"params{' with bias' if conv.bias else ''} {s.params:,} → **{s.dwsep_params:,}** "
                f"(×{s.params_ratio:.3f}), "
                + (f"MACs ×**{s.macs_ratio:.3f}**" if macs_hidden else
                   f"MACs {human(s.macs)} → **{human(s.dwsep_macs)}** (×{s.macs_ratio:.3f})"))
        blocker = (dwsep_blocker(conv) if not s.key
                   else f"inside the branch of layer {s.index}: the rewrite works on the layers of the list")
        if can_apply and blocker is None:
            button.button("Replace", key=replace_key(s.index), on_click=on_apply, args=(s.index,),
                          help="Rewrite this conv as a dwsep block (BatchNorm + ReLU inside; Undo reverts)")
        elif blocker:
            button.caption(f"can't apply: {blocker}")
    if can_apply:
        st.button("Replace all", icon=":material/auto_fix_high:", key=replace_key(None), on_click=on_apply,
                  args=(None,), type="primary")
    pure = ("The numbers above are the pure pair (same stride, padding and dilation, bias on the pointwise "
            "conv).")
    if can_apply:  # only where the Replace buttons are: a read-only link has none
        st.caption(pure + " **Replace** uses the designer's `dwsep` block, MobileNet's version: BatchNorm + ReLU "
                   "after each of its convs, no bias, padding (k−1)/2. A BatchNorm/ReLU right after the conv "
                   "becomes part of the block; the message after replacing lists everything that changed.")
    else:
        st.caption(pure + " The designer's `dwsep` block is MobileNet's version: BatchNorm + ReLU after each of "
                   "its convs, no bias, padding (k−1)/2.")
