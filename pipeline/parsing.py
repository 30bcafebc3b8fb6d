"""Kafka record values -> typed, checked columns (contract 1.2): which records are malformed and why, and the typed
events of each topic. Pure DataFrame -> DataFrame functions."""

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
