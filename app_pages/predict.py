"""Predict: classify a photo with a pretrained (or fine-tuned) CNN and see why."""
import streamlit as st

from playground.errors import PlaygroundError
from playground.ui.common import photo_input
from playground.ui.predict import PREDICT, get_model, model_picker, prediction, render_explanations, top_k_chart

st.title(":material/image_search: Predict")
st.write("Classify a photo with a real pretrained CNN, then see where it looked (Grad-CAM), "
         "what its layers respond to, and the filters of its first layer.")

left, right = st.columns([2, 3], gap="large")
with left:
    ref = model_picker(PREDICT)
    img, name = photo_input(PREDICT)

if ref is None or img is None:
    st.stop()

try:
    loaded = get_model(ref)
    pred = prediction(loaded, img, key=PREDICT)
except PlaygroundError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

with left:
    st.image(img, caption=name, width="stretch")
with right:
    st.subheader(f"Top {len(pred.top)}")  # fewer when a fine-tuned model has fewer classes
    st.plotly_chart(top_k_chart(pred), width="stretch", config={"displayModeBar": False})
    t = pred.timings
    st.caption(f":material/timer: {t['total_ms']:.0f} ms on {loaded.device.type.upper()} "
               f"(preprocess {t['preprocess_ms']:.0f} ms, forward {t['forward_ms']:.0f} ms)")
    render_explanations(loaded, img, pred, key=PREDICT)
