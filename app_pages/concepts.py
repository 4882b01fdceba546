"""Concepts: the core ideas of CNNs, each as a small live experiment linked to the designer."""
import streamlit as st

from playground.ui.common import photo_input
from playground.ui.concepts import (
    render_convolution,
    render_dwsep,
    render_effective_field,
    render_hierarchy,
    render_padding_stride,
    render_receptive_field,
    render_skip,
)

st.title(":material/school: Concepts")
st.write("Convolution, padding, stride, receptive fields, depthwise-separable convolutions, skip "
         "connections and what trained layers respond to: each computed live on a real photo or a real stack, "
         "with the designer one click away.")

with st.expander("Photo used by the experiments", expanded=False, icon=":material/photo:"):
    photo, photo_name = photo_input("concepts")
if photo is None:
    st.info("Choose a photo above to run the experiments.", icon=":material/photo:")
    st.stop()

tabs = st.tabs([":material/blur_on: Convolution", ":material/crop_free: Padding & stride",
                ":material/center_focus_strong: Receptive field", ":material/blur_circular: Effective field",
                ":material/call_split: Depthwise separable",
                ":material/alt_route: Skip connections", ":material/layers: Feature hierarchy"],
               key="cc_tab", on_change="rerun")
with tabs[0]:
    render_convolution(photo)
with tabs[1]:
    render_padding_stride(photo)
with tabs[2]:
    render_receptive_field(photo)
if tabs[3].open:  # measures gradients (cached): only when opened
    with tabs[3]:
        render_effective_field()
with tabs[4]:
    render_dwsep()
with tabs[5]:
    render_skip()
if tabs[6].open:  # the one lesson that runs a pretrained model (and has no widgets): only when opened
    with tabs[6]:
        render_hierarchy(photo)
