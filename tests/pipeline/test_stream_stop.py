"""The stream pipeline's round loop: stopping (SIGTERM from `./dev down`) between the stages of a round, not after the
whole round, and pacing rounds one interval apart (no pause after a round longer than that). The stages here are
stand-ins that record their calls: this tests only the loop's control flow; the stages' own behaviour on Spark is
tested in test_stream.py and test_crash.py."""

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


class _Rounds(threading.Event):
    """A stop event that records how long each pause between rounds was asked to be, and stops after `rounds`."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds = rounds
        self.pauses: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) == self.rounds:
            self.set()
        return self.is_set()


@pytest.mark.parametrize(("round_seconds", "pause"), [(0.5, 1.5), (2.0, 0.0), (7.0, 0.0)])
def test_the_next_round_starts_one_interval_after_the_last_began_or_at_once(monkeypatch, round_seconds: float,
                                                                           pause: float) -> None:  # fmt: skip
    clock = [100.0]  # a stand-in for time.monotonic: the stand-in stages move it, nothing sleeps
    stop = _Rounds(rounds=3)

    def stage(lh, name: str, mode: str, func=None, record_empty: bool = True) -> int:
        clock[0] += round_seconds / 2  # silver and gold take half the round each
        return 0

    monkeypatch.setattr(runner, "setup", lambda lh, mode="batch": None)
    monkeypatch.setattr(runner, "run_stage", stage)
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    runner.run_stream(object(), ("silver", "gold"), stop, interval_seconds=2.0)
    assert stop.pauses == [pytest.approx(pause)] * 3
