"""The dashboard benchmark end to end on a small gold layer: every page is timed in Chromium cold, warm, on "Refresh
now" and when reached through the sidebar's link, with the steps of a cold visit. It checks that each measure ran,
never how fast it was."""

from __future__ import annotations

import re
from pathlib import Path

from app.navigation import PAGES
from benchmarks import dashboard_latency

FIGURE = r"\s+\d+\.\d\d \(\s*\d+\.\d\d\)"  # a median and its maximum


def test_every_page_is_timed_cold_warm_on_refresh_and_on_a_switch(tmp_path: Path, capsys) -> None:
    argv = ["--sessions", "2000", "--visits", "1", "--repeat", "2", "--dir", str(tmp_path / "lakehouse")]
    assert dashboard_latency.main(argv) == 0
    out = capsys.readouterr().out
    for spec in PAGES:
        assert re.search(rf"^{re.escape(spec.title)}\s{{2,}}{FIGURE * 4}\s+(ok|MISSED)$", out, re.M), (spec.title, out)
    assert re.search(rf"^empty Streamlit page\s+{FIGURE * 2}\s+–\s+–\s+baseline$", out, re.M), out

    steps = out[out.index("where a cold visit goes") :]
    for spec in PAGES:  # app shell, title, script run over; then plotly.js and the charts, where the page has some
        cells = r"(\s+\d+\.\d\d){9}" if spec.charts else r"(\s+\d+\.\d\d){3}(\s+\S+){6}"
        assert re.search(rf"^{re.escape(spec.title)}{cells}$", steps, re.M), (spec.title, steps)
    assert re.search(r"^empty Streamlit page(\s+\d+\.\d\d){3}(\s+–){6}$", steps, re.M), steps
