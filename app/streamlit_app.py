"""Dashboard entry point: `streamlit run app/streamlit_app.py`. Signs the user in (app/auth.py; nobody without a
configured sign-in), then builds the navigation from the page registry, showing only the pages the policy lets them
read."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts app/ on sys.path, not the project root; the editable install usually covers it, this makes sure.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from app import auth, data, plotly_js  # noqa: E402
from app.navigation import pages_for  # noqa: E402
from core.connections import redact  # noqa: E402
from core.settings import SettingsError  # noqa: E402

st.set_page_config(page_title="Wearable analytics", page_icon=":material/monitor_heart:", layout="wide")
try:
    cfg = data.config()
except SettingsError as exc:
    st.error(
        f"The dashboard's settings cannot be used, so nobody is signed in: {redact(str(exc))}", icon=":material/lock:"
    )
    st.stop()
if auth.sign_in(cfg) is None:
    st.stop()
pages = pages_for(data.access(cfg))
if not pages:
    st.warning("Your role may not read any of the dashboard's tables.", icon=":material/lock:")
    st.stop()
page = st.navigation([st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=p.default)
                      for p in pages])  # fmt: skip
if any(p.charts and p.url == page.url_path for p in pages):
    plotly_js.preload()
page.run()
