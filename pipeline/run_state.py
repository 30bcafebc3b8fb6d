"""What the runner keeps beside the tables: the rows a stage run wrote and the input versions each step last caught up
to. Steps that run side by side share them, so both are thread-safe."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.storage import Lakehouse


class RunStats:
    """Rows the merges of one stage run inserted, updated or deleted (`rows_out` in ops.pipeline_runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows_written = 0

    def add(self, rows: int) -> None:
        with self._lock:
            self._rows_written += rows

    @property
    def rows_written(self) -> int:
        with self._lock:
            return self._rows_written


class StepState:
    """The input table versions each step last caught up to in this process: a step whose inputs have no newer version
    has nothing to do, so an idle stream round costs file listings, not queries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, tuple[int | None, ...]] = {}

    def is_caught_up(self, step: str, versions: tuple[int | None, ...]) -> bool:
        with self._lock:
            return self._versions.get(step) == versions

    def caught_up(self, step: str, versions: tuple[int | None, ...]) -> None:
        with self._lock:
            self._versions[step] = versions


@dataclass(frozen=True)
class StageRun:
    """What the steps of one stage run share: the lakehouse, the run's written-row count, and the step state the
    runner carries from one stage run to the next."""

    lh: Lakehouse
    state: StepState = field(default_factory=StepState)
    stats: RunStats = field(default_factory=RunStats)
