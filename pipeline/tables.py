"""Every table of the data contract: layer, name and schema, in one place (contract sections 2-5)."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.settings import Settings


@dataclass(frozen=True)
class Table:
    layer: str
    name: str
    ddl: str  # Spark SQL column list
    partition_by: tuple[str, ...] = ()
    change_feed: bool = False  # Delta Change Data Feed on: later stages read its updates and deletes incrementally

    @property
    def full_name(self) -> str:
        return f"{self.layer}.{self.name}"

    def path(self, settings: Settings) -> str:
        return str(settings.table_path(self.layer, self.name))


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
)  # fmt: skip

USERS = Table("silver", "users", "user_id BIGINT, device_id BIGINT, mac_address STRING, "
              "registration_timestamp TIMESTAMP")  # fmt: skip
USER_PROFILE = Table(
    "silver", "user_profile",
    "user_id BIGINT, dob DATE, sex STRING, gender STRING, first_name STRING, last_name STRING, "
    "street_address STRING, city STRING, state STRING, zip STRING, updated TIMESTAMP",
    change_feed=True,
)  # fmt: skip
HEART_RATE = Table("silver", "heart_rate", "device_id BIGINT, time TIMESTAMP, heartrate DOUBLE, valid BOOLEAN")
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
