"""What a simulator run does: population size, seed, sampling intervals and fault-injection rates."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# How record values are written: "compact" is the simulator's own fast byte layout, "generic" what any JSON encoder
# might write (other field order, spaces, extra members); both are valid per contract 1.2
ENCODINGS = ("compact", "generic")


class ConfigError(ValueError):
    """A simulator setting the run cannot use; the message is one line for the user."""


@dataclass(frozen=True)
class FaultConfig:
    """Fault-injection rates, each a probability per generated record (or per profile change); all off by default."""

    dup_rate: float = 0.0
    late_rate: float = 0.0
    late_max_minutes: float = 60.0
    ooo_profile_rate: float = 0.0
    malformed_rate: float = 0.0
    outlier_rate: float = 0.0

    @property
    def any_record_fault(self) -> bool:
        return bool(self.dup_rate or self.late_rate or self.malformed_rate or self.outlier_rate)

    def validate(self) -> FaultConfig:
        for name in ("dup_rate", "late_rate", "ooo_profile_rate", "malformed_rate", "outlier_rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a probability between 0 and 1, got {value!r}")
        if not (math.isfinite(self.late_max_minutes) and self.late_max_minutes > 0):
            raise ConfigError(f"--late-max-minutes must be a positive number, got {self.late_max_minutes!r}")
        return self


@dataclass(frozen=True)
class SimulatorConfig:
    """One run's knobs; the same config and seed always give the same events."""

    members: int = 100
    seed: int = 42
    bpm_interval: float = 5.0  # seconds between heart-rate samples during a workout
    rest_interval: float = 300.0  # seconds between resting heart-rate samples outside workouts; 0 disables them
    gyms: int = 0  # 0: one gym per 200 members, at least 2, at most 50
    profile_update_rate: float = 1 / 90  # profile edits per member per day
    faults: FaultConfig = field(default_factory=FaultConfig)
    encoding: str = "compact"  # one of ENCODINGS

    @property
    def gym_count(self) -> int:
        return self.gyms or min(50, max(2, self.members // 200))

    def validate(self) -> SimulatorConfig:
        if not isinstance(self.members, int) or self.members < 1:
            raise ConfigError(f"--members must be a positive integer, got {self.members!r}")
        if not (math.isfinite(self.bpm_interval) and self.bpm_interval >= 0.1):
            raise ConfigError(f"--bpm-interval must be at least 0.1 seconds, got {self.bpm_interval!r}")
        if not (math.isfinite(self.rest_interval) and (self.rest_interval == 0 or self.rest_interval >= 1)):
            raise ConfigError(f"--rest-interval must be 0 (off) or at least 1 second, got {self.rest_interval!r}")
        if not (math.isfinite(self.profile_update_rate) and 0.0 <= self.profile_update_rate <= 0.9):
            raise ConfigError(
                f"--profile-update-rate must be between 0 and 0.9 per day, got {self.profile_update_rate!r}"
            )
        if self.gyms < 0:
            raise ConfigError(f"--gyms must be 0 (automatic) or positive, got {self.gyms!r}")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"--encoding must be one of {', '.join(ENCODINGS)}, got {self.encoding!r}")
        self.faults.validate()
        return self
