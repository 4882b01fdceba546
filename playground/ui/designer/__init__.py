"""Streamlit widgets of the Designer page."""
