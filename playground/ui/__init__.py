"""Streamlit widgets shared by several pages (the only streamlit importer in playground/)."""
