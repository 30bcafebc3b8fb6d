"""Dashboard entry point: `streamlit run app/streamlit_app.py`. Builds the navigation from the page registry."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts app/ on sys.path, not the project root; the editable install usually covers it, this makes sure.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from app.navigation import PAGES  # noqa: E402

st.set_page_config(page_title="Wearable analytics", page_icon=":material/monitor_heart:", layout="wide")
st.navigation([st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=p.default)
               for p in PAGES]).run()  # fmt: skip
