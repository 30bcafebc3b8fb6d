"""The data contract in one place: every table with its typed columns, the Kafka topics and their fields, the
pipeline's stages and how SQL text names a table. Simulator, pipeline, dashboard and governance all derive from it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple


class Column(NamedTuple):
    name: str
    type: str  # Spark SQL type name, upper case: BIGINT, DOUBLE, STRING, TIMESTAMP, DATE, INT, BOOLEAN


def _columns(spec: str) -> tuple[Column, ...]:
    """`"a BIGINT, b STRING"` -> typed columns; the contract below is written this way for reading."""
    return tuple(Column(*part.split()) for part in spec.split(","))


@dataclass(frozen=True)
class Table:
    layer: str
    name: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()
    change_feed: bool = False  # Delta Change Data Feed on: later stages read its updates and deletes incrementally
    # rows older than a retention window may be deleted by this column (pipeline.maintenance); streams over the table
    # read its appends only, so such a delete is never read as a change
    retention_column: str | None = None

    def __init__(self, layer: str, name: str, columns: str | tuple[Column, ...], partition_by: tuple[str, ...] = (),
                 change_feed: bool = False, retention_column: str | None = None) -> None:  # fmt: skip
        object.__setattr__(self, "layer", layer)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "columns", _columns(columns) if isinstance(columns, str) else tuple(columns))
        object.__setattr__(self, "partition_by", partition_by)
        object.__setattr__(self, "change_feed", change_feed)
        object.__setattr__(self, "retention_column", retention_column)

    @property
    def full_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def ref(self) -> str:
        """How SQL text names this table before an engine resolves it: `{layer.table}` (see TABLE_REF)."""
        return "{" + self.full_name + "}"

    @property
    def ddl(self) -> str:
        """Spark SQL column list, e.g. for CREATE TABLE or createDataFrame."""
        return ", ".join(f"{c.name} {c.type}" for c in self.columns)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def type_of(self, column: str) -> str:
        return dict(self.columns)[column]


REGISTERED_USERS_BZ = Table(
    "bronze", "registered_users_bz",
    "user_id BIGINT, device_id BIGINT, mac_address STRING, registration_timestamp DOUBLE, load_time TIMESTAMP",
)  # fmt: skip
PROFILE_CHANGES_BZ = Table(
    "bronze", "profile_changes_bz",
    "change_id BIGINT, user_id BIGINT, update_type STRING, updated DOUBLE, dob STRING, sex STRING, gender STRING, "
    "first_name STRING, last_name STRING, street_address STRING, city STRING, state STRING, zip STRING, "
    "load_time TIMESTAMP",
)  # fmt: skip
KAFKA_MULTIPLEX_BZ = Table(
    "bronze", "kafka_multiplex_bz",
    "key STRING, value STRING, topic STRING, partition INT, offset BIGINT, timestamp TIMESTAMP, date DATE, "
    "week_part STRING, load_time TIMESTAMP",
    partition_by=("topic", "week_part"),
    retention_column="date",
)  # fmt: skip

USERS = Table("silver", "users", "user_id BIGINT, device_id BIGINT, mac_address STRING, "
              "registration_timestamp TIMESTAMP")  # fmt: skip
USER_PROFILE = Table(
    "silver", "user_profile",
    "user_id BIGINT, dob DATE, sex STRING, gender STRING, first_name STRING, last_name STRING, "
    "street_address STRING, city STRING, state STRING, zip STRING, updated TIMESTAMP",
    change_feed=True,
)  # fmt: skip
HEART_RATE = Table("silver", "heart_rate", "device_id BIGINT, time TIMESTAMP, heartrate DOUBLE, valid BOOLEAN",
                   retention_column="time")  # fmt: skip
WORKOUTS = Table("silver", "workouts", "user_id BIGINT, workout_id BIGINT, session_id BIGINT, action STRING, "
                 "time TIMESTAMP")  # fmt: skip
COMPLETED_WORKOUTS = Table("silver", "completed_workouts", "user_id BIGINT, workout_id BIGINT, session_id BIGINT, "
                           "start_time TIMESTAMP, end_time TIMESTAMP")  # fmt: skip
WORKOUT_BPM = Table("silver", "workout_bpm", "user_id BIGINT, workout_id BIGINT, session_id BIGINT, "
                    "start_time TIMESTAMP, end_time TIMESTAMP, time TIMESTAMP, heartrate DOUBLE")  # fmt: skip
GYM_LOGS = Table("silver", "gym_logs", "mac_address STRING, gym BIGINT, login TIMESTAMP, logout TIMESTAMP",
                 change_feed=True)  # fmt: skip
USER_BINS = Table("silver", "user_bins", "user_id BIGINT, age STRING, gender STRING, city STRING, state STRING",
                  change_feed=True)  # fmt: skip

WORKOUT_BPM_SUMMARY = Table(
    "gold", "workout_bpm_summary",
    "user_id BIGINT, workout_id BIGINT, session_id BIGINT, start_time TIMESTAMP, end_time TIMESTAMP, gym BIGINT, "
    "age STRING, gender STRING, city STRING, state STRING, min_bpm DOUBLE, avg_bpm DOUBLE, max_bpm DOUBLE, "
    "num_recordings BIGINT",
)  # fmt: skip
GYM_SUMMARY = Table(
    "gold", "gym_summary",
    "mac_address STRING, gym BIGINT, login TIMESTAMP, date DATE, user_id BIGINT, logout TIMESTAMP, "
    "minutes_in_gym DOUBLE, num_workouts BIGINT, minutes_exercising DOUBLE",
)  # fmt: skip

QUARANTINE = Table("ops", "quarantine", "source STRING, reason STRING, raw_value STRING, partition INT, "
                   "offset BIGINT, detected_at TIMESTAMP")  # fmt: skip
PIPELINE_RUNS = Table(
    "ops", "pipeline_runs",
    "run_id STRING, stage STRING, mode STRING, started_at TIMESTAMP, finished_at TIMESTAMP, status STRING, "
    "rows_in BIGINT, rows_out BIGINT, error STRING",
)  # fmt: skip

ALL_TABLES = (
    REGISTERED_USERS_BZ, PROFILE_CHANGES_BZ, KAFKA_MULTIPLEX_BZ,
    USERS, USER_PROFILE, HEART_RATE, WORKOUTS, COMPLETED_WORKOUTS, WORKOUT_BPM, GYM_LOGS, USER_BINS,
    WORKOUT_BPM_SUMMARY, GYM_SUMMARY, QUARANTINE, PIPELINE_RUNS,
)  # fmt: skip
BY_NAME = {t.full_name: t for t in ALL_TABLES}


# SQL text names a table `{layer.table}`; an engine swaps each for its own name (a view, a path, a catalog name).
TABLE_REF = re.compile(r"\{(\w+)\.(\w+)\}")


def referenced_tables(sql: str) -> tuple[Table, ...]:
    """The contract tables named `{layer.table}` in `sql`, in order of first use; KeyError for an unknown one."""
    return tuple(dict.fromkeys(BY_NAME[f"{layer}.{name}"] for layer, name in TABLE_REF.findall(sql)))


def render_refs(sql: str, qualify: Callable[[Table], str]) -> str:
    """`sql` with every `{layer.table}` replaced by `qualify(table)`; KeyError for an unknown one."""
    return TABLE_REF.sub(lambda m: qualify(BY_NAME[f"{m.group(1)}.{m.group(2)}"]), sql)


# --- Kafka (contract 1.2) -------------------------------------------------------------------------------------------

TOPICS = ("bpm", "workout", "gym")
ACTIONS = ("start", "stop")


class Field(NamedTuple):
    name: str
    kind: str  # id: non-negative integer; number: int or float; text: string; action: one of ACTIONS;
    # optional_number: number or null (present, but may be null)


TOPIC_FIELDS: dict[str, tuple[Field, ...]] = {
    "bpm": (Field("device_id", "id"), Field("time", "number"), Field("heartrate", "number")),
    "workout": (Field("user_id", "id"), Field("workout_id", "id"), Field("session_id", "id"),
                Field("action", "action"), Field("time", "number")),
    "gym": (Field("mac_address", "text"), Field("gym", "id"), Field("login", "number"),
            Field("logout", "optional_number")),
}  # fmt: skip
FIELD_SQL_TYPES = {"id": "BIGINT", "number": "DOUBLE", "text": "STRING", "action": "STRING",
                   "optional_number": "DOUBLE"}  # fmt: skip
HEART_RATE_VALID = (25, 250)  # silver.heart_rate.valid: low <= heartrate <= high
LATE_HOURS = 1  # records may arrive up to an hour late (contract 1.2)
MAX_WORKOUT_HOURS = 3  # a completed workout lasts at most 3 hours (contract 3)
# How far back a new record can still move silver and gold: a late stop record completes a session whose readings
# began up to LATE_HOURS + MAX_WORKOUT_HOURS earlier. Every retention window must be longer.
LOOKBACK_HOURS = LATE_HOURS + MAX_WORKOUT_HOURS

# --- pipeline stages (contract 8) ------------------------------------------------------------------------------------

STAGES = ("bronze", "silver", "gold")
MAINTAIN = "maintain"  # compaction, retention and VACUUM (pipeline.maintenance): a stage of its own, never in "all"
