"""Home: what the playground does and where to start."""
import streamlit as st

from playground.ui.assignments.student_view import render_open_list

# (page file, label, icon, what you do there): the cards, in the order a newcomer would visit them
CARDS = [
    ("app_pages/concepts.py", "Concepts", ":material/school:",
     "Small live experiments: a 3×3 kernel on a photo, parameter sharing, padding, stride vs pooling, "
     "receptive fields, depthwise-separable convolutions, skip connections."),
    ("app_pages/design.py", "Designer", ":material/architecture:",
     "Stack layers and see each one's output shape, parameters, MACs and receptive field; share the "
     "design as a link; export PyTorch code."),
    ("app_pages/architectures.py", "Architectures", ":material/account_tree:",
     "AlexNet to ConvNeXt, and ViT for contrast: measured live from their real definitions, beside the "
     "error rates their papers report."),
    ("app_pages/predict.py", "Predict", ":material/image_search:",
     "Top-5 ImageNet predictions for your photo from a pretrained model, with Grad-CAM, feature maps and filters."),
    ("app_pages/finetune.py", "Fine-tune", ":material/model_training:",
     "Train a pretrained model on a zip of class folders or a bundled set, as a background job with live curves."),
]

st.title(":material/grid_on: CNN Playground")
st.write(
    "Learn and prototype convolutional neural networks in the browser: design a conv stack and "
    "see exactly what PyTorch would compute, classify your own photos with a real pretrained "
    "model, fine-tune it on your images, and explore the landmark architectures."
)
st.caption("New to CNNs? Start with Concepts; every lesson opens its stack in the Designer.")

columns = st.columns(2)
for i, (page, label, icon, blurb) in enumerate(CARDS):
    with columns[i % 2].container(border=True):
        st.page_link(page, label=f"**{label}**", icon=icon)
        st.caption(blurb)

render_open_list(heading=True)  # the teacher's open assignments, when there are any
