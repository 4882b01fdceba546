"""Predict: classify a photo with a pretrained (or fine-tuned) CNN and see why."""
import streamlit as st

from playground.errors import PlaygroundError
from playground.paths import home_dir
from playground.ui.model_cache import get_model
from playground.ui.owner import viewer
from playground.ui.photo_input import from_camera, photo_input
from playground.ui.pictures import show_photo
from playground.ui.predict import PREDICT
from playground.ui.predict.compare import compare_toggle, render_compare
from playground.ui.predict.heldout import HELDOUT_WIDTH, heldout_picker, show_verdict
from playground.ui.predict.model_labels import show_knows
from playground.ui.predict.model_weights import weights_downloader
from playground.ui.predict.models import model_picker
from playground.ui.predict.results import prediction, render_explanations, top_k_chart
from playground.ui.text import show_error

st.title(":material/image_search: Predict")
st.write("Classify a photo with a real pretrained CNN, then see where it looked (Grad-CAM), "
         "what its layers respond to, and the filters of its first layer.")

if compare_toggle(PREDICT):
    render_compare(PREDICT)
    st.stop()

left, right = st.columns([2, 3], gap="large")
with left:
    ref = model_picker(PREDICT)
    weights_downloader(PREDICT)
    # A fine-tune's own held-out images first: what its job page's accuracy was measured on
    held = heldout_picker(PREDICT, ref, str(home_dir()), viewer()) if ref else None
    img, name = (held.image, f"Validation image {held.name}") if held else photo_input(PREDICT)

if ref is None or img is None:
    st.stop()

try:
    loaded = get_model(ref)
    pred = prediction(loaded, img, key=PREDICT)
except PlaygroundError as exc:
    show_error(exc, icon=":material/error:")
    st.stop()

with left:
    if held:  # a dataset's image may be tiny (digits: 32 px): not blown up to the column's width
        show_photo(img, caption=name, width=HELDOUT_WIDTH)
    elif not from_camera(PREDICT):  # the camera widget already shows the shot it took
        show_photo(img, caption=name)
with right:
    st.subheader(f"Top {len(pred.top)}")  # fewer when a fine-tuned model has fewer classes
    st.plotly_chart(top_k_chart(pred), width="stretch", config={"displayModeBar": False})
    if held:
        show_verdict(held, pred)
    show_knows(ref)  # what a fine-tuned model has seen, so a photo far from it surprises nobody
    t = pred.timings
    st.caption(f":material/timer: {t['total_ms']:.0f} ms on {loaded.device.type.upper()} "
               f"(preprocess {t['preprocess_ms']:.0f} ms, forward {t['forward_ms']:.0f} ms)")
    render_explanations(loaded, img, pred, key=PREDICT)
