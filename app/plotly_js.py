"""Charts drawn by plotly.js's basic bundle inside the page, instead of Streamlit's own plotly element.

Streamlit's `st.plotly_chart` loads the whole of plotly.js (4.7 MB: maps, 3-D, every trace type) and evaluates it on
every new page load, which was most of the time a dashboard page took to draw. Every chart here is drawn with bars and
lines (app/charts.py; a heat map is an image of its cells under a line for the hover), which plotly.js's basic bundle
(1.2 MB: bars, lines, pies) draws the same. Its evaluation is on the critical path of a page's first draw: in a new
browser it takes less than half the time of the cartesian bundle's (1.5 MB, which adds heat maps, box plots,
histograms and contours). `chart` mounts it as a Streamlit custom component (`st.components.v2`, in the page's DOM,
no iframe) that loads the bundle once from the app's static files.

The bundle comes from the npm registry, pinned to the plotly.js version that the `plotly` Python package carries and
checked against the registry's sha512. `./dev` fetches it once (`python -m app.plotly_js`); it is not kept in git.
Where it is missing (a deployment without it), or a figure needs a trace type it lacks, `chart` falls back to
`st.plotly_chart`, so a page always draws.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import sys
import tarfile
import tempfile
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

log = logging.getLogger(__name__)

VERSION = "4.1.1"  # plotly.js of the plotly==7.1.0 Python package
URL = f"https://registry.npmjs.org/plotly.js-basic-dist-min/-/plotly.js-basic-dist-min-{VERSION}.tgz"
SHA512 = "1oNF8PeQx2hv/y7tqEVWKD3JGwn/MGEMQ8mL9HUwsaqG9FGy/OU5FHUHvzqbqxN4mnwZGI9abTiE775C4kkjMQ=="  # npm "integrity"
MEMBER = "package/plotly-basic.min.js"  # the bundle inside the package
TRACE_TYPES = frozenset({"scatter", "bar", "pie"})  # what the basic bundle draws (plotly.js's lib/index-basic.js)
STATIC_DIR = Path(__file__).resolve().parent / "static"  # served at /app/static/ (server.enableStaticServing)
BUNDLE = STATIC_DIR / f"plotly-basic-{VERSION}.min.js"
LICENSE = STATIC_DIR / f"plotly-basic-{VERSION}.LICENSE"

# The look of Streamlit's own plotly theme for this app's light theme (.streamlit/config.toml).
TEMPLATE: dict[str, Any] = {"layout": {
    "font": {"family": '"Source Sans", "Source Sans Pro", sans-serif', "color": "#1f2933", "size": 13},
    "colorway": ["#0068c9", "#83c9ff", "#ff2b2b", "#ffabab", "#29b09d", "#7defa1", "#ff8700", "#ffd16a", "#6d3fc0",
                 "#d5dae5"],
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "xaxis": {"gridcolor": "#e6eaf1", "zerolinecolor": "#d5dae5", "linecolor": "#d5dae5", "automargin": True},
    "yaxis": {"gridcolor": "#e6eaf1", "zerolinecolor": "#d5dae5", "linecolor": "#d5dae5", "automargin": True},
    "hoverlabel": {"bgcolor": "#ffffff", "bordercolor": "#d5dae5", "font": {"color": "#1f2933"}},
}}  # fmt: skip

# One module for every chart on a page. The bundle is loaded once per page (a <script> tag, so that the browser keeps
# its compiled code between visits); every mount then draws with Plotly.react, which updates a chart in place when a
# fragment reruns. `lh-plotly` marks the chart for the browser tests and the benchmark.
_JS = """
let loading;
function plotly(src) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) loading = new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = () => window.Plotly ? resolve(window.Plotly) : reject(new Error(src + ' defined no Plotly'));
    script.onerror = () => { loading = undefined; reject(new Error('cannot load ' + src)); };
    document.head.appendChild(script);
  });
  return loading;
}
export default function(component) {
  const { data, parentElement } = component;
  if (data && data.preload) {  // nothing to show: take no room in the sidebar either
    const box = parentElement.closest('[data-testid="stElementContainer"]');
    if (box) box.style.display = 'none';
    plotly(data.src).catch(() => {});
  }
  if (!data || typeof data.figure !== 'string') return;
  let div = parentElement.querySelector(':scope > .lh-plotly');
  if (!div) {
    div = document.createElement('div');
    div.className = 'lh-plotly';
    parentElement.appendChild(div);
  }
  const figure = JSON.parse(data.figure);
  plotly(data.src).then(
    (Plotly) => Plotly.react(div, figure.data, figure.layout, {displaylogo: false, responsive: true}),
    (error) => { div.textContent = 'The chart could not be drawn: ' + error.message; });
  return () => { if (window.Plotly) window.Plotly.purge(div); };
}
"""


def fetch(dest: Path = BUNDLE) -> Path:
    """Download the pinned bundle, check its sha512 and write it (and plotly.js's MIT licence) atomically."""
    with urllib.request.urlopen(URL, timeout=60) as resp:
        archive = resp.read()
    got = base64.b64encode(hashlib.sha512(archive).digest()).decode()
    if got != SHA512:
        raise RuntimeError(f"{URL}: sha512 {got} is not the pinned {SHA512}; nothing was written")
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    dest.parent.mkdir(parents=True, exist_ok=True)
    for name, target in ((MEMBER, dest), ("package/LICENSE", LICENSE)):
        with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
            tmp.write(files[name])
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, target)
    for old in dest.parent.glob("plotly-*"):  # an earlier pin's or bundle's files, which nothing asks for any more
        if old not in (dest, LICENSE):
            old.unlink()
    return dest


@cache
def _template() -> go.layout.Template:
    return go.layout.Template(TEMPLATE)


# app.charts draws a heat map as an image of its cells (up to 16 pixels a side each): scaled without smoothing, cell
# edges stay sharp at any size.
_CSS = ".lh-plotly .imagelayer image { image-rendering: pixelated; }"


@cache
def _component():
    return st.components.v2.component("lakehouse_plotly", js=_JS, css=_CSS, isolate_styles=False)


def available() -> bool:
    return BUNDLE.is_file() and bool(st.get_option("server.enableStaticServing"))


def bundle_url() -> str:
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{'/' + base if base else ''}/app/static/{BUNDLE.name}"


def chart(fig: go.Figure, key: str) -> None:
    """Draw `fig` with the basic bundle when it is served and has the figure's trace types, else with
    `st.plotly_chart`."""
    missing = tuple(sorted({trace.type for trace in fig.data} - TRACE_TYPES))
    if missing or not available():
        _warn_once(missing)
        st.plotly_chart(fig, key=key)
        return
    fig.layout.template = _template()  # replaces the figure's template ("none" from app.charts), never merges
    _component()(data={"figure": fig.to_json(), "src": bundle_url()}, key=key)


def preload() -> None:
    """Start loading the bundle as soon as the page opens, while the server still runs the page's queries."""
    if available():
        with st.sidebar:
            _component()(data={"preload": True, "src": bundle_url()}, key="plotly_preload")


@cache
def _warn_once(missing: tuple[str, ...]) -> None:
    if missing:
        log.warning("plotly.js's basic bundle does not draw %s traces; those charts use st.plotly_chart, which loads "
                    "the whole of plotly.js", ", ".join(missing))  # fmt: skip
    else:
        log.warning("%s is not served (run `python -m app.plotly_js` and set server.enableStaticServing); charts use "
                    "st.plotly_chart, which loads the whole of plotly.js", BUNDLE)  # fmt: skip


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if BUNDLE.is_file() and "--force" not in sys.argv[1:]:
        print(f"{BUNDLE.name} is already there")
    else:
        print(f"fetched {fetch()} from {URL}")
