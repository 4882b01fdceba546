"""Streamlit widgets of the Predict page, and the session-state keys its widgets use."""
from __future__ import annotations

__all__ = ["PREDICT", "MODEL_PICKER", "EXPLAIN_TAB", "CAM_CLASS", "CAM_LAYER", "FEATURE_LAYER"]

PREDICT = "predict"  # the Predict page's namespace for widget_key
# Widgets of the page, as parts of their keys (playground.ui.widget_state.widget_key)
MODEL_PICKER, EXPLAIN_TAB = "model", "tab"
CAM_CLASS, CAM_LAYER, FEATURE_LAYER = "cam_class", "cam_layer", "fm_layer"
