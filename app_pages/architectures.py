"""Architectures: landmark CNNs (and ViT) measured live from their real PyTorch definitions."""
import streamlit as st

from playground.ui.architectures import TAB_KEY, TABS
from playground.ui.architectures.panels import PANEL_WIDGETS, render_catalogue, render_cnn_vs_vit, render_model
from playground.ui.tabs import lazy_tabs

st.title(":material/account_tree: Architectures")
st.write("From AlexNet to ConvNeXt, and ViT for contrast: parameters, MACs, depth and receptive field "
         "measured now on torchvision's definitions (built without weights), beside the error rates the "
         "papers report.")

# Only the open tab runs: a rerun of the catalogue does not also trace a model and draw the ViT sweep.
catalogue_tab, model_tab, vit_tab = lazy_tabs(TABS, key=TAB_KEY, kept=PANEL_WIDGETS)
for tab, render in ((catalogue_tab, render_catalogue), (model_tab, render_model), (vit_tab, render_cnn_vs_vit)):
    if tab.open:
        with tab:
            render()
