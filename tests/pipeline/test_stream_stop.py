"""Stopping the stream pipeline (SIGTERM from `./dev down`) between the stages of a round, not after the whole round.
The stages here are stand-ins that record their calls: this tests only the loop's control flow; the stages' own
behaviour on Spark is tested in test_stream.py and test_crash.py."""

from __future__ import annotations

import threading

import pytest

from pipeline import runner


@pytest.mark.parametrize("stop_during", ["silver", "gold"])
def test_a_stop_asked_for_during_a_stage_ends_the_round_after_that_stage(monkeypatch, stop_during: str) -> None:
    stop = threading.Event()
    ran: list[str] = []

    def stage(lh, name: str, mode: str, func=None, record_empty: bool = True) -> int:
        ran.append(name)
        if name == stop_during:
            stop.set()
        return 0

    monkeypatch.setattr(runner, "setup", lambda lh, mode="batch": None)
    monkeypatch.setattr(runner, "run_stage", stage)
    runner.run_stream(object(), ("silver", "gold"), stop, interval_seconds=0)
    assert ran == ["silver", "gold"][: ["silver", "gold"].index(stop_during) + 1]
