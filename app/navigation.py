"""The page registry: every page of the dashboard, in menu order. Paths are relative to app/streamlit_app.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    url_path: str
    default: bool = False

    @property
    def url(self) -> str:
        """Path of the page under the server root: the default page is served at the root itself."""
        return "" if self.default else self.url_path


PAGES: tuple[PageSpec, ...] = (
    PageSpec("views/workout_bpm.py", "Workout BPM", ":material/monitor_heart:", "workout-bpm", default=True),
    PageSpec("views/gym_usage.py", "Gym usage", ":material/fitness_center:", "gym-usage"),
    PageSpec("views/operations.py", "Operations", ":material/settings:", "operations"),
)
