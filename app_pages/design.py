"""Designer: build a conv stack and see shapes, parameters, MACs and receptive fields live."""
import streamlit as st

from playground.design.view import compute
from playground.ui.designer import session as ss
from playground.ui.designer.layers import render_add_bar, render_input, render_layers, render_toolbar
from playground.ui.designer.plots import render_plots
from playground.ui.designer.results import render_status, render_table, render_totals, render_warnings
from playground.ui.designer.rf import render_receptive_field
from playground.ui.designer.savings import render_savings
from playground.ui.designer.share import render_export, render_share, render_upload, teacher_flags

st.title(":material/architecture: Designer")
st.caption("Stack layers and see what PyTorch would compute: output shapes, parameters, MACs and receptive "
           "fields, updated on every edit. The address bar is always a link to this exact design.")

flags = teacher_flags(st.query_params)
design = ss.init_design()
view = compute(design.spec())
ss.sync_url(view)
ss.show_notices()
if flags.locked:
    st.info("This design is read-only (the link has `lock=1`).", icon=":material/lock:")
if flags.unknown:
    st.caption(f"Ignored unknown `hide` names in the link: {', '.join(flags.unknown)}.")

panels = {"Layers": "table", "Depthwise savings": "savings", "Plots": "plots", "Receptive field": "rf",
          "Share & export": None}
labels = [label for label, flag in panels.items() if flag is None or flags.shows(flag)]

edit_col, summary_col = st.columns([5, 7], gap="large")
with edit_col:
    if not flags.locked:
        render_toolbar(design)
    render_input(design, view, locked=flags.locked)
    render_layers(design, view, locked=flags.locked, show_shapes=flags.shows("shapes"))
    if not flags.locked:
        render_add_bar(view)

with summary_col:
    render_status(view)
    if flags.shows("totals"):
        render_totals(view)
    if flags.shows("warnings"):
        render_warnings(view)
    st.caption(f":material/south: Below the layer list: {' · '.join(labels)}.")

# The results span the full width below, so the nine-column layer table, the plots and the
# savings list are readable without sideways scrolling.
# Lazy tabs: only the open tab's content runs, so plots and the photo cost nothing until looked at.
for tab, label in zip(st.tabs(labels, key=ss.TAB_KEY, on_change="rerun"), labels):
    with tab:
        if not tab.open:
            continue
        if label == "Layers":
            render_table(view, show_shapes=flags.shows("shapes"))
        elif label == "Depthwise savings":
            render_savings(view, locked=flags.locked)
        elif label == "Plots":
            render_plots(view.report)
        elif label == "Receptive field":
            render_receptive_field(view)
        else:
            render_share(view, flags)
            if flags.shows("code"):
                render_export(view)
            if not flags.locked:
                render_upload()
