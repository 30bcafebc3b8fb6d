"""The page registry: every page of the dashboard, in menu order. Paths are relative to app/streamlit_app.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from governance.policy import Access


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    url_path: str
    default: bool = False
    table: str = ""  # the page is in the menu of whoever may read this table
    charts: bool = False  # it always draws charts: the chart bundle starts loading before its queries run

    @property
    def url(self) -> str:
        """Path of the page under the server root: the default page is served at the root itself."""
        return "" if self.default else self.url_path


PAGES: tuple[PageSpec, ...] = (
    PageSpec(
        "views/workout_bpm.py",
        "Workout BPM",
        ":material/monitor_heart:",
        "workout-bpm",
        default=True,
        table="gold.workout_bpm_summary",
        charts=True,
    ),
    PageSpec(
        "views/gym_usage.py",
        "Gym usage",
        ":material/fitness_center:",
        "gym-usage",
        table="gold.gym_summary",
        charts=True,
    ),
    PageSpec("views/operations.py", "Operations", ":material/settings:", "operations", table="ops.pipeline_runs"),
)


def pages_for(rights: Access) -> list[PageSpec]:
    """The pages this principal sees in the menu; the first of them is the default when the usual one is hidden."""
    shown = [p for p in PAGES if not p.table or rights.may_read(p.table)]
    if shown and not any(p.default for p in shown):
        first = shown[0]
        shown[0] = dataclasses.replace(first, default=True)
    return shown
