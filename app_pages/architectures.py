"""Architectures: landmark CNNs (and ViT) measured live from their real PyTorch definitions."""
import streamlit as st

from playground.ui.architectures import render_catalogue, render_cnn_vs_vit, render_model

st.title(":material/account_tree: Architectures")
st.write("From AlexNet to ConvNeXt, and ViT for contrast: parameters, MACs, depth and receptive field "
         "measured now on torchvision's definitions (built without weights), beside the error rates the "
         "papers report.")

catalogue_tab, model_tab, vit_tab = st.tabs([":material/table_chart: Catalogue", ":material/search: One model",
                                             ":material/compare_arrows: CNN vs ViT"])
with catalogue_tab:
    render_catalogue()
with model_tab:
    render_model()
with vit_tab:
    render_cnn_vs_vit()
