"""Streamlit widgets of the Fine-tune page."""
