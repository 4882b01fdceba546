"""Designer: build a conv stack and see shapes, parameters, MACs and receptive fields live."""
import streamlit as st

from playground.design.view import compute
from playground.ui.designer import session as ss
from playground.ui.designer.compare import PANEL as COMPARE
from playground.ui.designer.compare import init_compare, render_compare
from playground.ui.designer.layers import render_add_bar, render_editor, render_input, render_layers, render_toolbar
from playground.ui.designer.memory import render_memory
from playground.ui.designer.plots import field_figure, render_plots
from playground.ui.designer.results import render_summary, render_table
from playground.ui.designer.rf import render_receptive_field
from playground.ui.designer.savings import render_savings
from playground.ui.designer.share import (
    panel_notes,
    render_export,
    render_share,
    render_upload,
    teacher_flags,
    visible_panels,
)
from playground.ui.tabs import lazy_tabs
from playground.ui.text import md_text

st.title(":material/architecture: Designer")
st.caption("Stack layers and see what PyTorch would compute: output shapes, parameters, MACs and receptive "
           "fields, updated on every edit. The address bar is always a link to this exact design.")

flags = teacher_flags(st.query_params)
design = ss.init_design()
view = compute(design.spec())
ss.sync_url(view)
init_compare(flags)  # ?vs=: the design to compare with (a link carrying one opens the Compare tab)
ss.show_notices()
if flags.locked:
    st.info("This design is read-only (the link has `lock=1`).", icon=":material/lock:")
if flags.unknown:
    st.caption(f"Ignored unknown `hide` names in the link: {md_text(', '.join(flags.unknown))}.")

labels = visible_panels(flags)

edit_col, summary_col = st.columns([5, 7], gap="large")
with edit_col:
    if not flags.locked:
        render_toolbar(design)
    render_input(design, view, locked=flags.locked)
    render_layers(design, view, show_shapes=flags.shows("shapes"))
    if not flags.locked:
        render_add_bar(design, view)
    render_editor(design, view, locked=flags.locked, show_shapes=flags.shows("shapes"),
                  show_numbers=flags.shows("table") and flags.shows("totals"))

with summary_col:
    render_summary(view, selected=ss.selected_indices(), hidden=flags.hide)
    st.caption(f":material/south: Below the layer list: {' · '.join(labels)}.")
    for note in panel_notes(flags):  # a tab that went with another hidden quantity says why
        st.caption(f":material/visibility_off: {note}")

# The results span the full width below, so the nine-column layer table, the plots and the
# savings list are readable without sideways scrolling.
# Lazy tabs: only the open tab's content runs, so plots and the photo cost nothing until looked at.
for tab, label in zip(lazy_tabs(labels, key=ss.TAB_KEY), labels):
    with tab:
        if not tab.open:
            continue
        if label == "Layers":
            render_table(view, show_shapes=flags.shows("shapes"))
        elif label == "Depthwise savings":
            render_savings(view, locked=flags.locked, hidden=flags.hide)
        elif label == "Plots" and not flags.shows("shapes") and view.report is not None and view.report.layers:
            st.plotly_chart(field_figure(view.report), width="stretch", key="dz.plot.field")
            st.caption("The plot of spatial size and channels per layer is hidden on this link (it shows the shapes).")
        elif label == "Plots":
            render_plots(view.report, view.parsed.to_dict() if view.parsed is not None else None)
        elif label == "Receptive field":
            render_receptive_field(view)
        elif label == "Memory":
            render_memory(view.parsed.to_dict() if view.parsed is not None else None)
        elif label == COMPARE:
            render_compare(view, flags)
        else:
            render_share(view, flags)
            if flags.shows("code"):
                render_export(view, flags)
            if not flags.locked:
                render_upload()
