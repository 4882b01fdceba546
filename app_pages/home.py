"""Home: what the playground does and where to start."""
import streamlit as st

st.title("CNN Playground")
st.write(
    "Learn and prototype convolutional neural networks in the browser: design a conv stack and "
    "see exactly what PyTorch would compute, classify your own photos with a real pretrained "
    "model, fine-tune it on your images, and explore the landmark architectures."
)

c1, c2 = st.columns(2)
with c1:
    st.page_link("app_pages/design.py", label="Designer", icon=":material/architecture:")
    st.caption("Shapes, parameters, MACs and receptive fields per layer; share a link; export PyTorch code.")
    st.page_link("app_pages/predict.py", label="Predict", icon=":material/image_search:")
    st.caption("Top-5 ImageNet predictions for a photo, with Grad-CAM, feature maps and filters.")
    st.page_link("app_pages/finetune.py", label="Fine-tune", icon=":material/model_training:")
    st.caption("Train on a zip of class folders or a bundled set, as a background job with live curves.")
with c2:
    st.page_link("app_pages/architectures.py", label="Architectures", icon=":material/account_tree:")
    st.caption("AlexNet to ConvNeXt and ViT, measured live from their real definitions.")
    st.page_link("app_pages/concepts.py", label="Concepts", icon=":material/school:")
    st.caption("Padding, stride vs pooling, receptive fields, parameter sharing, skip connections: small experiments.")
