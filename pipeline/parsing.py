"""Kafka record values -> typed, checked columns (contract 1.2): which records are malformed and why, and the typed
events of each topic. Pure DataFrame -> DataFrame functions."""

from __future__ import annotations

import re
from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from core.contract import ACTIONS
from core.contract import TOPIC_FIELDS as CONTRACT_FIELDS

# Field name -> kind of each topic's JSON value (contract 1.2; kinds in core.contract.Field)
TOPIC_FIELDS: dict[str, dict[str, str]] = {topic: dict(fields) for topic, fields in CONTRACT_FIELDS.items()}
_NUMERIC = ("BIGINT", "DOUBLE", "FLOAT", "DECIMAL")
# How the one read types each kind. Spark's JSON reader takes only integers as bigint and only numbers as double,
# but a string column would also take a number or an object (as its JSON text), so text is read as a VARIANT.
_READ_TYPES: dict[str, T.DataType] = {"id": T.LongType(), "number": T.DoubleType(), "optional_number": T.DoubleType(),
                                      "action": T.StringType(), "text": T.VariantType()}  # fmt: skip
# RFC 8259 and nothing more: Spark's reader otherwise takes 'single quotes' and NaN
_STRICT = {option: "false" for option in ("allowComments", "allowUnquotedFieldNames", "allowSingleQuotes",
           "allowNumericLeadingZeros", "allowNonNumericNumbers", "allowBackslashEscapingAnyCharacter",
           "allowUnquotedControlChars")}  # fmt: skip
# The key of the member the read appends inside the value's closing brace: NUL, which a value can only spell as
# \u0000 (the read rejects a raw control character)
_END = "\x00"
_END_MEMBER = b',"\\u0000":0}'


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


def _read(fields: dict[str, str]) -> Column:
    """The value read once as the topic's typed fields, with one member appended inside its closing brace. Spark's
    reader ignores whatever follows the first JSON value; the appended member is read back only when the value is
    one object that ends the value."""
    value = F.col("value")
    inside = F.substring(value.cast("binary"), F.lit(1), F.octet_length(value) - 1)
    schema = T.StructType([*(T.StructField(name, _READ_TYPES[kind]) for name, kind in fields.items()),
                           T.StructField(_END, T.IntegerType())])  # fmt: skip
    return F.from_json(F.concat(inside, F.lit(_END_MEMBER)).cast("string"), schema, _STRICT)


def _read_decides(fields: dict[str, str], read: Column) -> Column:
    """True when the read alone shows the value well-formed but for the value checks: one object and nothing after
    it, each field once and of its kind. Without a \\u escape, a key is spelled as it reads and is never NUL."""
    value = F.col("value")
    ok = value.endswith("}") & ~value.contains("\\u") & (read[_END] == 0)
    # each field was read, so its quoted name occurs: as many quoted names as fields means each occurs once (one
    # regular-expression scan; a name that also occurs as a string only sends the value to the second look)
    names = "|".join(re.escape(name) for name in fields)
    ok = ok & (F.regexp_count(value, F.lit(f'"(?:{names})"')) == len(fields))
    for name, kind in fields.items():
        if kind == "text":
            ok = ok & (F.schema_of_variant(read[name]) == "STRING")
        elif kind == "action":
            ok = ok & read[name].isin(*ACTIONS)
        else:
            ok = ok & read[name].isNotNull()
    return F.coalesce(ok, F.lit(False))


def _one_json_value() -> Column:
    """Whether the value is exactly one strict JSON value: the only element of an array around it, and the only
    member of an object around it (text after the value would end one of the two early and break the other)."""
    value = F.col("value")
    as_element = F.from_json(F.concat(F.lit("["), value, F.lit("]")), "array<string>", _STRICT)
    as_member = F.json_object_keys(F.concat(F.lit('{"v":'), value, F.lit("}")))
    return F.coalesce((F.size(as_element) == 1) & (F.size(as_member) == 1), F.lit(False))


def _structure_reason(fields: dict[str, str]) -> Column:
    """Why the value is not one JSON object holding each field once, of its kind (NULL if it is), from the columns
    `_one` (`_one_json_value`), `_keys` (the object's keys, repeats included) and `_probe` (each field as VARIANT)."""
    checks: list[tuple[Column, str]] = [
        (~F.col("_one"), "value is not valid JSON"),
        (~F.col("value").rlike(r"^[ \t\n\r]*\{"), "value is not a JSON object"),
    ]
    for name, kind in fields.items():
        count = F.size("_keys") - F.size(F.array_remove("_keys", name))
        vtype = F.schema_of_variant(F.col("_probe")[name])
        missing = count == 0 if kind == "optional_number" else (count == 0) | (vtype == "VOID")
        checks.append((count > 1, f"duplicate field {name}"))
        checks.append((missing, f"missing field {name}"))
        checks.append((~F.coalesce(_kind_ok(kind, vtype), F.lit(False)), f"wrong type for {name}"))
    return _first_failing(checks)


def checked(topic_kind: str) -> Callable[[DataFrame], DataFrame]:
    """Add `reason` (NULL when the record is well-formed, per contract 1.2) and one typed column per field of the
    topic (meaningful where `reason` is NULL). Any JSON encoding reads alike; a field given twice is malformed."""
    fields = TOPIC_FIELDS[topic_kind]
    probe = ", ".join(f"`{name}` variant" for name in fields)

    def transform(df: DataFrame) -> DataFrame:
        df = df.select(*df.columns, _read(fields).alias("_read"))
        read = F.col("_read")
        typed = {name: F.try_variant_get(read[name], "$", "string") if kind == "text" else read[name]
                 for name, kind in fields.items()}  # fmt: skip
        # the few values the read does not decide are looked at again, each way once per value
        fast = _read_decides(fields, read)
        df = df.select(*df.columns, fast.alias("_fast"), *[column.alias(name) for name, column in typed.items()],
                       F.when(~fast, _one_json_value()).alias("_one"),
                       F.when(~fast, F.json_object_keys("value")).alias("_keys"),
                       F.when(~fast, F.from_json("value", probe, _STRICT)).alias("_probe"))  # fmt: skip
        values: list[tuple[Column, str]] = []
        for name, kind in fields.items():
            if kind == "id":
                values.append((F.col(name) < 0, f"negative id {name}"))
            if kind == "action":
                values.append((~F.col(name).isin(*ACTIONS), f"{name} is not start or stop"))
        if topic_kind == "gym":
            logout, login = F.col("logout"), F.col("login")
            values.append((logout.isNotNull() & (logout <= login), "logout is not after login"))
        value_reason = _first_failing(values)
        reason = F.when(F.col("_fast"), value_reason).otherwise(F.coalesce(_structure_reason(fields), value_reason))
        helpers = ("_read", "_fast", "_one", "_keys", "_probe")
        return df.select(*[c for c in df.columns if c not in helpers], reason.alias("reason"))

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
