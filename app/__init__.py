"""Streamlit + plotly dashboard over the gold tables."""
