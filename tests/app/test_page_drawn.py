"""The "page drawn" check that the browser test and the dashboard benchmark wait on, run in Chromium over static pages
shaped like Streamlit's DOM: a chart counts as drawn only once plotly has drawn into it."""

from __future__ import annotations

import pytest

from tests.support.harness import PAGE_DRAWN_JS, chromium_page

SHELL = """<div data-testid="stApp" data-test-script-state="{state}">
  <div data-testid="stSidebar">{sidebar}</div>
  <div data-testid="stMain"><h1>Gym usage</h1>{main}</div>
</div>"""
DRAWN = '<div class="lh-plotly"><svg class="main-svg"><g class="trace"></g></svg></div>'
COMPONENT = '<div class="stBidiComponent">{}</div>'


@pytest.fixture(scope="module")
def page():
    with chromium_page() as p:
        yield p


def _drawn(page, main: str, state: str = "notRunning", sidebar: str = "") -> bool:
    page.set_content(SHELL.format(state=state, main=main, sidebar=sidebar))
    return page.evaluate(f"({PAGE_DRAWN_JS})()")


def test_a_page_is_drawn_when_every_chart_component_holds_a_drawn_chart(page) -> None:
    assert _drawn(page, COMPONENT.format(DRAWN) * 3)
    assert _drawn(page, "<p>no charts on this page</p>")


def test_a_chart_component_whose_module_has_not_loaded_yet_is_not_drawn(page) -> None:
    # Streamlit puts the component's container on the page first; the module adds the .lh-plotly div later
    assert not _drawn(page, COMPONENT.format(DRAWN) * 2 + COMPONENT.format(""))
    assert not _drawn(page, COMPONENT.format(""))


def test_a_chart_div_before_plotly_drew_its_traces_is_not_drawn(page) -> None:
    assert not _drawn(page, COMPONENT.format('<div class="lh-plotly"></div>'))
    assert _drawn(page, COMPONENT.format('<div class="lh-plotly"><svg class="main-svg"></svg></div>'))  # no data
    page.evaluate("() => { document.querySelector('.lh-plotly').data = [{type: 'bar'}]; }")
    assert not page.evaluate(f"({PAGE_DRAWN_JS})()")  # it has data but no trace yet


def test_a_running_script_or_a_skeleton_is_not_drawn(page) -> None:
    assert not _drawn(page, COMPONENT.format(DRAWN), state="running")
    assert not _drawn(page, COMPONENT.format(DRAWN) + '<div data-testid="stSkeleton"></div>')


def test_the_hidden_preload_component_in_the_sidebar_is_not_a_chart(page) -> None:
    assert _drawn(page, COMPONENT.format(DRAWN), sidebar=COMPONENT.format(""))
