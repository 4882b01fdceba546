"""Streamlit widgets of the Concepts page, and the session-state keys its widgets use."""
from __future__ import annotations

__all__ = ["TAB_KEY", "LESSON_TABS", "KERNEL_PRESET_KEY", "PAD_SIZE_KEY", "PAD_KERNEL_KEY", "RF_DEPTH_KEY",
           "RF_STRIDE_KEY", "RF_DILATION_KEY", "ERF_DEPTH_KEY", "ERF_KIND_KEY", "DW_IN_KEY", "DW_OUT_KEY",
           "DW_K_KEY", "SKIP_DEPTH_KEY", "TRAINED_ERF_LAYER_KEY"]

# Widget keys (session-state names) of the lessons' controls
KERNEL_PRESET_KEY = "cc_kernel_preset"                 # convolution: the 3×3 kernel preset
PAD_SIZE_KEY, PAD_KERNEL_KEY = "cc_pad_size", "cc_pad_k"  # padding: input side, kernel size
RF_DEPTH_KEY, RF_STRIDE_KEY = "cc_rf_n", "cc_rf_stride"  # receptive field: stacked convs, first stride
DW_OUT_KEY = "cc_dw_out"                               # depthwise separable: output channels
SKIP_DEPTH_KEY = "cc_skip_depth"                       # skip connections: number of layers
RF_DILATION_KEY = "cc_rf_dilation"                     # receptive field: dilation of every conv
ERF_DEPTH_KEY, ERF_KIND_KEY = "cc_erf_n", "cc_erf_kind"  # effective field: depth, kind of stack
DW_IN_KEY, DW_K_KEY = "cc_dw_in", "cc_dw_k"            # depthwise separable: input channels, kernel size
TRAINED_ERF_LAYER_KEY = "cc_erf_trained_layer"         # feature hierarchy: the trained-vs-init layer picker
TAB_KEY = "cc_tab"  # which lesson is open; its value is one of LESSON_TABS
LESSON_TABS = (":material/blur_on: Convolution", ":material/crop_free: Padding & stride",
               ":material/center_focus_strong: Receptive field", ":material/blur_circular: Effective field",
               ":material/call_split: Depthwise separable", ":material/alt_route: Skip connections",
               ":material/layers: Feature hierarchy")
