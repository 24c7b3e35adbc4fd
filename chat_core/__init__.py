"""Everything the app does, with no Streamlit in it: pages call this and render."""
