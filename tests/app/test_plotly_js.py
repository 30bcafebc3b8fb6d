"""Charts through plotly.js's basic bundle (app/plotly_js.py): the pinned download, the component, the fallback."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from app import plotly_js
from tests.app.conftest import chart_titles, charts, open_page, plotly_mounts

WORKOUT_TITLES = ["Average BPM by age bin and gender", "Distribution of session average BPM", "Daily trend"]


def _tgz(tmp_path: Path, bundle: bytes) -> tuple[str, str]:
    """An npm-like package archive holding `bundle`; its file:// URL and its npm integrity (sha512, base64)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in ((plotly_js.MEMBER, bundle), ("package/LICENSE", b"MIT")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    path = tmp_path / "package.tgz"
    path.write_bytes(buf.getvalue())
    return path.as_uri(), base64.b64encode(hashlib.sha512(buf.getvalue()).digest()).decode()


def test_the_pinned_bundle_is_the_plotly_js_of_the_installed_plotly_package() -> None:
    """Upgrading `plotly` without moving the pin would draw with another plotly.js than the figures were built for."""
    import plotly

    header = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()[:200]
    assert f"plotly.js v{plotly_js.VERSION}\n" in header
    assert plotly_js.BUNDLE.name == f"plotly-basic-{plotly_js.VERSION}.min.js"
    assert f"plotly-basic-{plotly_js.VERSION}.min.js" in (Path(__file__).parents[2] / "dev").read_text()


def test_the_bundle_is_fetched_only_when_its_sha512_is_the_pinned_one(tmp_path, monkeypatch) -> None:
    url, integrity = _tgz(tmp_path, b"window.Plotly = {};")
    dest = tmp_path / "static" / "bundle.js"
    dest.parent.mkdir()
    (dest.parent / "plotly-cartesian-4.1.1.min.js").write_bytes(b"an earlier bundle")
    monkeypatch.setattr(plotly_js, "URL", url)
    monkeypatch.setattr(plotly_js, "LICENSE", tmp_path / "static" / "bundle.LICENSE")
    with pytest.raises(RuntimeError, match="is not the pinned"):
        plotly_js.fetch(dest)  # the pinned sha512 is the real package's, not this archive's
    assert [p.name for p in dest.parent.iterdir()] == ["plotly-cartesian-4.1.1.min.js"]  # nothing written or removed

    monkeypatch.setattr(plotly_js, "SHA512", integrity)
    assert plotly_js.fetch(dest) == dest
    assert dest.read_bytes() == b"window.Plotly = {};"
    assert (tmp_path / "static" / "bundle.LICENSE").read_bytes() == b"MIT"
    assert dest.stat().st_mode & 0o777 == 0o644  # the dashboard's web server reads it
    # no temporary left, and the earlier bundle, which nothing asks for any more, is gone
    assert sorted(p.name for p in dest.parent.iterdir()) == ["bundle.LICENSE", "bundle.js"]


def test_charts_go_through_the_basic_bundle_when_it_is_served(app_env: Path) -> None:
    assert plotly_js.BUNDLE.is_file(), "./dev fetches the bundle (python -m app.plotly_js); run it first"
    at = open_page()
    assert not at.get("plotly_chart")  # never the whole of plotly.js
    mounts = plotly_mounts(at)
    assert sorted(m.get("preload", False) for m in mounts) == [False] * 4 + [True]  # 4 charts, 1 preload (sidebar)
    assert {m["src"] for m in mounts} == {"/app/static/plotly-basic-4.1.1.min.js"}
    assert chart_titles(at)[:3] == WORKOUT_TITLES
    theme = charts(at)[0]["layout"]["template"]["layout"]
    assert theme["colorway"][0] == "#0068c9" and theme["paper_bgcolor"] == "rgba(0,0,0,0)"


def test_only_pages_that_always_draw_charts_load_the_bundle_before_their_queries(app_env: Path) -> None:
    assert [m.get("preload") for m in plotly_mounts(open_page("views/gym_usage.py"))].count(True) == 1
    assert not any(m.get("preload") for m in plotly_mounts(open_page("views/operations.py")))


def test_without_the_bundle_the_same_charts_fall_back_to_st_plotly_chart(app_env: Path, monkeypatch) -> None:
    monkeypatch.setattr(plotly_js, "BUNDLE", app_env / "no-such-bundle.js")
    at = open_page()
    assert not at.get("bidi_component")
    assert len(at.get("plotly_chart")) == 4
    assert chart_titles(at)[:3] == WORKOUT_TITLES


def test_every_chart_of_the_chart_pages_uses_only_the_bundles_trace_types(app_env: Path) -> None:
    """A trace type the bundle lacks would send that chart to st.plotly_chart (the whole of plotly.js): the pages keep
    to the bundle's, heat maps included (bar cells)."""
    for page, count in ((None, 4), ("views/gym_usage.py", 5)):
        at = open_page(page)
        assert not at.get("plotly_chart")
        drawn = charts(at)
        assert len(drawn) == count
        assert {t["type"] for c in drawn for t in c["data"]} <= plotly_js.TRACE_TYPES


def test_a_figure_with_a_trace_type_the_bundle_lacks_falls_back_to_st_plotly_chart(app_env: Path) -> None:
    import plotly.graph_objects as go
    from streamlit.testing.v1 import AppTest

    def page() -> None:
        import plotly.graph_objects as go

        from app import plotly_js

        plotly_js.chart(go.Figure(go.Bar(x=[1, 2], y=[3, 4])), key="bars")
        plotly_js.chart(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])), key="heat")

    assert go.Heatmap().type not in plotly_js.TRACE_TYPES
    at = AppTest.from_function(page).run()
    assert not at.exception
    assert [json.loads(m["figure"])["data"][0]["type"] for m in plotly_mounts(at)] == ["bar"]
    assert [json.loads(c.proto.spec)["data"][0]["type"] for c in at.get("plotly_chart")] == ["heatmap"]
