"""Concepts: the core ideas of CNNs, each as a small live experiment linked to the designer."""
import streamlit as st

from playground.models.serving import image_digest
from playground.ui.concepts import LESSON_TABS, TAB_KEY
from playground.ui.concepts.hierarchy import render_hierarchy
from playground.ui.concepts.lessons import (
    LESSON_WIDGETS,
    render_convolution,
    render_dwsep,
    render_effective_field,
    render_padding_stride,
    render_receptive_field,
    render_skip,
)
from playground.ui.photo_input import photo_input
from playground.ui.tabs import lazy_tabs

st.title(":material/school: Concepts")
st.write("Convolution, padding, stride, receptive fields, depthwise-separable convolutions, skip "
         "connections and what trained layers respond to: each computed live on a real photo or a real stack, "
         "with the designer one click away.")

with st.expander("Photo used by the experiments", expanded=False, icon=":material/photo:"):
    photo, photo_name = photo_input("concepts")
if photo is None:
    st.info("Choose a photo above to run the experiments.", icon=":material/photo:")
    st.stop()
digest = image_digest(photo)  # stands for the photo in the lessons' cache keys

# Only the open lesson runs (the others keep their settings): seven lessons on every run, six of them
# unseen, were most of this page's server CPU with a class on it.
tabs = lazy_tabs(LESSON_TABS, key=TAB_KEY, kept=LESSON_WIDGETS)
lessons = (lambda: render_convolution(photo, digest), lambda: render_padding_stride(photo, digest),
           lambda: render_receptive_field(photo, digest), render_effective_field, render_dwsep, render_skip,
           lambda: render_hierarchy(photo, digest))
for tab, lesson in zip(tabs, lessons):
    if tab.open:
        with tab:
            lesson()
