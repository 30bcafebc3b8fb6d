"""Pure DataFrame -> DataFrame functions of the pipeline; reading, writing and stream wiring live elsewhere."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from core.contract import TOPIC_FIELDS as CONTRACT_FIELDS

# Field name -> kind of each topic's JSON value (contract 1.2; kinds in core.contract.Field)
TOPIC_FIELDS: dict[str, dict[str, str]] = {topic: dict(fields) for topic, fields in CONTRACT_FIELDS.items()}
_NUMERIC = ("BIGINT", "DOUBLE", "FLOAT", "DECIMAL")
_FIELD_TYPES = {"id": "bigint", "number": "double", "text": "string", "action": "string", "optional_number": "double"}

# The compact encoding the simulator writes, one token per field kind. A value spelled exactly this way (fields in
# TOPIC_FIELDS order, no spaces, no escapes, no sign, at most 15 significant digits so that the double is the same
# whichever way it is parsed) is well-formed JSON of the right types and is read from its tokens; any other value
# takes the general path through Spark's VARIANT, which decides the same way for these and names what is wrong.
_NUMBER = r"(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,5})?"
_COMPACT_TOKEN = {
    "id": r"(?:0|[1-9][0-9]{0,17})",
    "number": _NUMBER,
    "text": r'"[^"\\\x00-\x1f]*"',
    "action": r'"(?:start|stop)"',
    "optional_number": f"(?:null|{_NUMBER})",
}
_TOKEN = r'":("[^"]*"|[^,}]*)'  # a field's raw token, in a compact value


def compact_pattern(topic_kind: str) -> str:
    """The regular expression of a topic's compact encoding."""
    fields = ",".join(f'"{name}":{_COMPACT_TOKEN[kind]}' for name, kind in TOPIC_FIELDS[topic_kind].items())
    return r"^\{" + fields + r"\}\z"


def _kind_ok(kind: str, vtype: Column) -> Column:
    is_number = F.lit(False)
    for prefix in _NUMERIC:
        is_number = is_number | vtype.startswith(prefix)
    return {
        "id": vtype == "BIGINT",
        "number": is_number,
        "text": vtype == "STRING",
        "action": vtype == "STRING",
        "optional_number": is_number | (vtype == "VOID"),
    }[kind]


def _first_failing(checks: list[tuple[Column, str]]) -> Column:
    reason = F.lit(None).cast("string")
    for cond, text in reversed(checks):
        reason = F.when(F.coalesce(cond, F.lit(False)), F.lit(text)).otherwise(reason)
    return reason


def _structure_reason(fields: dict[str, str]) -> Column:
    """Why `v` (the value parsed as VARIANT) is not JSON, not an object, or lacks a field of the right type."""
    checks: list[tuple[Column, str]] = [
        (F.col("v").isNull(), "value is not valid JSON"),
        (~F.schema_of_variant("v").startswith("OBJECT"), "value is not a JSON object"),
    ]
    for name, kind in fields.items():
        vtype = F.schema_of_variant(F.variant_get("v", f"$.{name}", "variant"))
        if kind == "optional_number":
            checks.append((vtype.isNull(), f"missing field {name}"))
        else:
            checks.append((vtype.isNull() | (vtype == "VOID"), f"missing field {name}"))
        checks.append((~_kind_ok(kind, vtype), f"wrong type for {name}"))
    return _first_failing(checks)


def _token_value(token: Column, kind: str) -> Column:
    if kind in ("text", "action"):
        return token.substr(F.lit(2), F.length(token) - 2)
    return token.try_cast(_FIELD_TYPES[kind])


def checked(topic_kind: str) -> Callable[[DataFrame], DataFrame]:
    """Add `reason` (NULL when the record is well-formed, per contract 1.2) and one typed column per field of the
    topic (meaningful where `reason` is NULL). Compact values are read from their tokens, the rest as VARIANT."""
    fields = TOPIC_FIELDS[topic_kind]

    def transform(df: DataFrame) -> DataFrame:
        compact = F.col("value").rlike(compact_pattern(topic_kind))
        df = df.select(
            *df.columns,
            compact.alias("compact"),
            F.when(compact, F.regexp_extract_all("value", F.lit(_TOKEN), 1)).alias("tokens"),
            F.when(~compact, F.try_parse_json("value")).alias("v"),
        )
        typed = {
            name: F.when(F.col("compact"), _token_value(F.col("tokens")[i], kind)).otherwise(
                F.try_variant_get("v", f"$.{name}", _FIELD_TYPES[kind])
            )
            for i, (name, kind) in enumerate(fields.items())
        }
        df = df.select(*df.columns, *[column.alias(name) for name, column in typed.items()])
        values: list[tuple[Column, str]] = []
        for name, kind in fields.items():
            if kind == "id":
                values.append((F.col(name) < 0, f"negative id {name}"))
            if kind == "action":
                values.append((~F.col(name).isin("start", "stop"), f"{name} is not start or stop"))
        # the only check a compact value can fail: it has no sign and no other action
        visit: list[tuple[Column, str]] = []
        if topic_kind == "gym":
            logout, login = F.col("logout"), F.col("login")
            visit.append((logout.isNotNull() & (logout <= login), "logout is not after login"))
        general = F.coalesce(_structure_reason(fields), _first_failing(values + visit))
        # a filter on `reason` is pushed below this projection and evaluated there without common subexpressions,
        # so the branch compact values take is kept small
        reason = F.when(F.col("compact"), _first_failing(visit)).otherwise(general)
        return df.select(*[c for c in df.columns if c not in ("compact", "tokens", "v")], reason.alias("reason"))

    return transform


def parse_bpm_events(df: DataFrame) -> DataFrame:
    """Checked, well-formed `bpm` records -> device_id, time, heartrate, valid, partition, offset."""
    return df.select(
        "device_id",
        F.timestamp_seconds("time").alias("time"),
        "heartrate",
        F.col("heartrate").between(25, 250).alias("valid"),
        "partition",
        "offset",
    )


def parse_workout_events(df: DataFrame) -> DataFrame:
    """Checked, well-formed `workout` records -> user_id, workout_id, session_id, action, time, partition, offset."""
    time = F.timestamp_seconds("time").alias("time")
    return df.select("user_id", "workout_id", "session_id", "action", time, "partition", "offset")


def parse_gym_events(df: DataFrame) -> DataFrame:
    """Checked, well-formed `gym` records -> mac_address, gym, login, logout, partition, offset."""
    return df.select(
        "mac_address",
        "gym",
        F.timestamp_seconds("login").alias("login"),
        F.timestamp_seconds("logout").alias("logout"),
        "partition",
        "offset",
    )


def first_by_offset(keys: list[str]) -> Callable[[DataFrame], DataFrame]:
    """Keep one row per key: the one with the lowest (partition, offset); drop the lineage columns."""

    def transform(df: DataFrame) -> DataFrame:
        others = [c for c in df.columns if c not in keys and c not in ("partition", "offset")]
        order = F.struct("partition", "offset")
        return df.groupBy(*keys).agg(*[F.min_by(c, order).alias(c) for c in others])

    return transform


def kafka_to_multiplex(df: DataFrame) -> DataFrame:
    """Raw Kafka source rows -> bronze.kafka_multiplex_bz columns (week_part is `YYYY-WW`)."""
    ts = F.col("timestamp")
    return df.select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        "topic",
        F.col("partition").cast("int").alias("partition"),
        F.col("offset").cast("bigint").alias("offset"),
        ts.alias("timestamp"),
        F.to_date(ts).alias("date"),
        F.concat(F.year(ts).cast("string"), F.lit("-"), F.lpad(F.weekofyear(ts).cast("string"), 2, "0")).alias(
            "week_part"
        ),
        F.current_timestamp().alias("load_time"),
    )


def completed_workouts(workouts: DataFrame) -> DataFrame:
    """Sessions with a start and a stop where start_time < end_time <= start_time + 3 hours."""
    keys = ["user_id", "workout_id", "session_id"]
    sessions = workouts.groupBy(*keys).agg(
        F.min(F.when(F.col("action") == "start", F.col("time"))).alias("start_time"),
        F.min(F.when(F.col("action") == "stop", F.col("time"))).alias("end_time"),
    )
    return sessions.where(
        (F.col("start_time") < F.col("end_time"))
        & (F.col("end_time") <= F.col("start_time") + F.expr("INTERVAL 3 HOURS"))
    )


def workout_bpm(completed: DataFrame, users: DataFrame, heart_rate: DataFrame) -> DataFrame:
    """Valid readings of the member's device taken between the session's start and end (inclusive)."""
    sessions = completed.join(users.select("user_id", "device_id"), "user_id")
    readings = heart_rate.where("valid").select("device_id", "time", "heartrate")
    joined = sessions.join(
        readings,
        (sessions.device_id == readings.device_id) & readings.time.between(sessions.start_time, sessions.end_time),
    )
    return joined.select("user_id", "workout_id", "session_id", "start_time", "end_time", "time", "heartrate")


def workout_bpm_summary(bpm: DataFrame) -> DataFrame:
    """Per completed session with readings: min/avg/max BPM and the number of readings."""
    summary = bpm.groupBy("user_id", "workout_id", "session_id", "start_time", "end_time").agg(
        F.min("heartrate").alias("min_bpm"),
        F.avg("heartrate").alias("avg_bpm"),
        F.max("heartrate").alias("max_bpm"),
        F.count("*").alias("num_recordings"),
    )
    return summary


PROFILE_COLUMNS = ["dob", "sex", "gender", "first_name", "last_name", "street_address", "city", "state", "zip"]


def latest_profile_changes(changes: DataFrame) -> DataFrame:
    """Per user, the change with the greatest (updated, change_id), typed: a full profile image or a delete."""
    latest = changes.groupBy("user_id").agg(
        F.max_by(F.struct("update_type", "updated", *PROFILE_COLUMNS), F.struct("updated", "change_id")).alias("c")
    )
    return latest.select(
        "user_id",
        F.col("c.update_type").alias("update_type"),
        F.to_date("c.dob").alias("dob"),
        *[F.col(f"c.{c}").alias(c) for c in PROFILE_COLUMNS if c != "dob"],
        F.timestamp_seconds("c.updated").alias("updated"),
    )


AGE_BINS = ((18, "under 18"), (25, "18-25"), (35, "25-35"), (45, "35-45"), (55, "45-55"), (65, "55-65"),
            (75, "65-75"), (85, "75-85"), (95, "85-95"))  # fmt: skip


def age_bin(dob: Column, today: Column) -> Column:
    """Whole years on `today`, binned (lower bound inclusive); `invalid age` when dob is missing or in the future."""
    age = F.floor(F.months_between(today, dob) / 12)
    binned = F.when(dob.isNull() | (dob > today), F.lit("invalid age"))
    for upper, label in AGE_BINS:
        binned = binned.when(age < upper, F.lit(label))
    return binned.otherwise(F.lit("95+"))


def user_bins(users: DataFrame, profiles: DataFrame, today: Column | None = None) -> DataFrame:
    """Members with a current profile: age bin on the current UTC date, gender, city, state."""
    today = F.current_date() if today is None else today
    joined = users.select("user_id").join(profiles, "user_id")
    return joined.select("user_id", age_bin(F.col("dob"), today).alias("age"), "gender", "city", "state")


def latest_logouts(visits: DataFrame) -> DataFrame:
    """One row per visit (mac_address, gym, login) with the greatest logout seen, NULL while inside."""
    return visits.groupBy("mac_address", "gym", "login").agg(F.max("logout").alias("logout"))


def _minutes(start: Column, end: Column) -> Column:
    return (F.unix_micros(end) - F.unix_micros(start)) / F.lit(60_000_000.0)


def attribute_sessions(summary: DataFrame, users: DataFrame, gym_logs: DataFrame, bins: DataFrame) -> DataFrame:
    """Add the gym of the visit around each session (latest login if several) and the member's current bins."""
    keys = ["user_id", "workout_id", "session_id"]
    s = summary.join(users.select("user_id", "mac_address"), "user_id", "left").alias("s")
    g = gym_logs.alias("g")
    inside = (
        (F.col("s.mac_address") == F.col("g.mac_address"))
        & (F.col("g.login") <= F.col("s.start_time"))
        & (F.col("g.logout").isNull() | (F.col("s.end_time") <= F.col("g.logout")))
    )
    gyms = (
        s.join(g, inside, "left")
        .groupBy(*[F.col(f"s.{k}") for k in keys])
        .agg(F.max_by("g.gym", "g.login").alias("gym"))
    )
    out = summary.join(gyms, keys, "left").join(bins.select("user_id", "age", "gender", "city", "state"), "user_id",
                                                "left")  # fmt: skip
    return out.select(
        *keys, "start_time", "end_time", "gym", "age", "gender", "city", "state",
        "min_bpm", "avg_bpm", "max_bpm", "num_recordings",
    )  # fmt: skip


def gym_summary(visits: DataFrame, users: DataFrame, completed: DataFrame) -> DataFrame:
    """One row per visit: member, time in the gym, and the completed workouts done during it."""
    v = visits.join(users.select("mac_address", "user_id"), "mac_address", "left").alias("v")
    w = completed.select("user_id", "start_time", "end_time").alias("w")
    during = (
        (F.col("v.user_id") == F.col("w.user_id"))
        & (F.col("w.start_time") >= F.col("v.login"))
        & (F.col("v.logout").isNull() | (F.col("w.end_time") <= F.col("v.logout")))
    )
    joined = v.join(w, during, "left")
    return joined.groupBy("v.mac_address", "v.gym", "v.login", "v.logout", "v.user_id").agg(
        F.count("w.start_time").alias("num_workouts"),
        F.coalesce(F.sum(_minutes(F.col("w.start_time"), F.col("w.end_time"))), F.lit(0.0)).alias(
            "minutes_exercising"
        ),
    ).select(
        "mac_address", "gym", "login", F.to_date("login").alias("date"), "user_id", "logout",
        _minutes(F.col("login"), F.col("logout")).alias("minutes_in_gym"), "num_workouts", "minutes_exercising",
    )  # fmt: skip


def tagged(df: DataFrame, tag: str, columns: dict[str, str]) -> DataFrame:
    """`df` in a common shape for a union of streams: a `source` column holding `tag`, then `columns` (name -> type),
    NULL where `df` has no such column."""
    return df.select(
        F.lit(tag).alias("source"),
        *[(F.col(c) if c in df.columns else F.lit(None)).cast(t).alias(c) for c, t in columns.items()],
    )
