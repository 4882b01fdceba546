"""Streamlit widgets of the Architectures page, and the session-state keys its widgets use."""
from __future__ import annotations

__all__ = ["METRIC_KEY", "SOURCE_KEY", "MODEL_KEY", "OTHER_KEY", "SIDE_KEY", "TAB_KEY", "TABS", "CATALOGUE_TAB",
           "MODEL_TAB", "VIT_TAB"]

METRIC_KEY, SOURCE_KEY = "arch_metric", "arch_source"  # widget keys, error plots: top-5/top-1, paper/torchvision
MODEL_KEY, OTHER_KEY, SIDE_KEY = "arch_model", "arch_other", "arch_side"  # One model: pick, free name, side
TAB_KEY = "arch_tab"  # which of the three tabs is open; its value is one of TABS
TABS = (CATALOGUE_TAB, MODEL_TAB, VIT_TAB) = (":material/table_chart: Catalogue", ":material/search: One model",
                                              ":material/compare_arrows: CNN vs ViT")
