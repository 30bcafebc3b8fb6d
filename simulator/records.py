"""Kafka record values per the data contract (1.2): fast encoders, malformed variants and a contract checker."""

from __future__ import annotations

import json
import math
import random

import numpy as np

BPM, WORKOUT, GYM = 0, 1, 2
TOPIC_NAMES = ("bpm", "workout", "gym")

BPM_FORMAT = b'{"device_id":%d,"time":%.3f,"heartrate":%.1f}'
# The same from integers (device, seconds, milliseconds, beats, tenths), one line per record for bulk formatting
BPM_LINE = b'{"device_id":%d,"time":%d.%03d,"heartrate":%d.%d}\n'
WORKOUT_FORMAT = b'{"user_id":%d,"workout_id":%d,"session_id":%d,"action":"%s","time":%.3f}'
GYM_IN_FORMAT = b'{"mac_address":"%s","gym":%d,"login":%.3f,"logout":null}'
GYM_OUT_FORMAT = b'{"mac_address":"%s","gym":%d,"login":%.3f,"logout":%.3f}'

REQUIRED = {
    BPM: {"device_id": "id", "time": "number", "heartrate": "number"},
    WORKOUT: {"user_id": "id", "workout_id": "id", "session_id": "id", "action": "action", "time": "number"},
    GYM: {"mac_address": "str", "gym": "id", "login": "number", "logout": "number_or_null"},
}
COMMON_MALFORMED = ("not_json", "not_object", "missing_field", "wrong_type", "negative_id")
MALFORMED_KINDS = {
    BPM: COMMON_MALFORMED,
    WORKOUT: (*COMMON_MALFORMED, "bad_action"),
    GYM: (*COMMON_MALFORMED, "logout_not_after_login"),
}


def bpm_value(device_id: int, time: float, heartrate: float) -> bytes:
    return BPM_FORMAT % (device_id, time, heartrate)


def bpm_lines(devices: np.ndarray, ms: np.ndarray, tenths: np.ndarray) -> list[bytes]:
    """Heart-rate values from integer columns (device, emit time in ms, heart rate in tenths) with one `%` format
    over all of them: the reference encoding, and the fallback for negative numbers."""
    if not len(ms):
        return []
    fields = np.stack((devices, *np.divmod(ms, 1000), *np.divmod(tenths, 10)), axis=1).ravel().tolist()
    values = (BPM_LINE * len(ms) % tuple(fields)).split(b"\n")
    values.pop()
    return values


_POWERS = 10 ** np.arange(19, dtype=np.int64)  # 1, 10, ..., 10**18
# Zero-padded ASCII of 0..10**k-1 for k = 1, 2, 3 places, as numpy bytes arrays to gather from
_DIGITS = {k: np.array([b"%0*d" % (k, i) for i in range(10**k)], dtype=f"S{k}") for k in (1, 2, 3)}


def _digit_counts(x: np.ndarray) -> np.ndarray:
    """Decimal digits of each non-negative integer."""
    return np.searchsorted(_POWERS[1:], x, side="right") + 1


def _fixed_width_values(columns: tuple[np.ndarray, ...], widths: tuple[int, int, int]) -> np.ndarray:
    """BPM_LINE values (without the newline) of rows whose device, seconds and whole beats have the given digit
    counts, as a numpy bytes array: the template copied into every row, then each number written in place, three
    digits at a time from a lookup table (one division by 1000 per three digits)."""
    wd, ws, wh = widths
    template = b'{"device_id":%s,"time":%s.000,"heartrate":%s.0}' % (b"0" * wd, b"0" * ws, b"0" * wh)
    ends = (13 + wd, 13 + wd + 8 + ws, 13 + wd + 8 + ws + 4, len(template) - 3, len(template) - 1)
    pieces = []  # (offset, places, values)
    for x, end, width in zip(columns, ends, (wd, ws, 3, wh, 1), strict=True):
        while width > 0:
            places = min(3, width)
            if width > 3:
                rest = x // 1000
                pieces.append((end - places, places, x - rest * 1000))
                x = rest
            else:
                pieces.append((end - places, places, x))
            end -= places
            width -= places
    layout = np.dtype({"names": [f"f{i}" for i in range(len(pieces))], "formats": [f"S{p[1]}" for p in pieces],
                       "offsets": [p[0] for p in pieces], "itemsize": len(template)})  # fmt: skip
    rows = np.empty(len(columns[0]), dtype=layout)
    text = rows.view(f"S{len(template)}")
    text[:] = template
    for i, (_, places, values) in enumerate(pieces):
        rows[f"f{i}"] = _DIGITS[places].take(values)
    return text


def bpm_values(devices: np.ndarray, ms: np.ndarray, tenths: np.ndarray) -> list[bytes]:
    """The same bytes as `bpm_lines`, several times faster: rows are grouped by the digit counts of their numbers
    (usually one or two groups: 2- and 3-digit heart rates) and each group is written as a fixed-width byte
    matrix, so no Python object is made per record except the value itself."""
    if not len(ms):
        return []
    secs, millis = np.divmod(ms, 1000)
    beats, tenth = np.divmod(tenths, 10)
    if min(int(devices.min()), int(secs.min()), int(beats.min())) < 0:
        return bpm_lines(devices, ms, tenths)
    columns = (devices, secs, millis, beats, tenth)
    counts = [_digit_counts(x) for x in (devices, secs, beats)]
    signature = (counts[0] * 20 + counts[1]) * 20 + counts[2]
    groups = np.flatnonzero(np.bincount(signature))
    if len(groups) == 1:
        return _fixed_width_values(columns, (int(counts[0][0]), int(counts[1][0]), int(counts[2][0]))).tolist()
    out = np.empty(len(ms), dtype=object)
    for group in groups.tolist():
        rows = np.flatnonzero(signature == group)
        widths = (group // 400, group // 20 % 20, group % 20)
        out[rows] = _fixed_width_values(tuple(x[rows] for x in columns), widths)
    return out.tolist()


def malformed_value(topic: int, value: bytes, kind: str, rng: random.Random) -> bytes:
    """A broken copy of a valid record value, broken in the named way (one of MALFORMED_KINDS[topic])."""
    record = json.loads(value)
    fields = list(REQUIRED[topic])
    id_fields = [f for f, t in REQUIRED[topic].items() if t == "id"]
    if kind == "not_json":
        return value[: rng.randint(1, len(value) - 2)]
    if kind == "not_object":
        return json.dumps([record[f] for f in fields], separators=(",", ":")).encode()
    if kind == "missing_field":
        del record[rng.choice(fields)]
    elif kind == "wrong_type":
        name = rng.choice(fields)
        record[name] = 12345 if REQUIRED[topic][name] in ("str", "action") else str(record[name])
    elif kind == "negative_id":
        name = rng.choice(id_fields)
        record[name] = -max(1, record[name])
    elif kind == "bad_action":
        record["action"] = rng.choice(("pause", "START", "", "resume"))
    elif kind == "logout_not_after_login":
        record["logout"] = record["login"] - rng.choice((0.0, 60.0, 3600.0))
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return json.dumps(record, separators=(",", ":")).encode()


def _type_ok(value: object, kind: str) -> bool:
    is_number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "id":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return is_number
    if kind == "number_or_null":
        return value is None or is_number
    if kind == "str":
        return isinstance(value, str)
    return value in ("start", "stop")  # action: a wrong value is reported as bad_action below


def malformed_reason(topic: int, value: bytes) -> str | None:
    """Why a record value breaks the contract (one of the malformed kinds), or None when it is valid."""
    try:
        record = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return "not_json"
    if not isinstance(record, dict):
        return "not_object"
    spec = REQUIRED[topic]
    if any(name not in record for name in spec):
        return "missing_field"
    for name, kind in spec.items():
        if kind == "action":
            if not isinstance(record[name], str):
                return "wrong_type"
            if record[name] not in ("start", "stop"):
                return "bad_action"
        elif not _type_ok(record[name], kind):
            return "wrong_type"
    if any(record[name] < 0 for name, kind in spec.items() if kind == "id"):
        return "negative_id"
    if topic == GYM and record["logout"] is not None and not record["logout"] > record["login"]:
        return "logout_not_after_login"
    return None
