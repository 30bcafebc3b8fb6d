"""Local enforcement: role x table, through the one function the dashboard and `python -m app query` share, and
SQL-injection and tampering attempts on every filter parameter of every dashboard query."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from app import queries as q
from app.cli import main as app_main
from app.data import secure
from app.engines import AccessDenied, LocalEngine
from governance.local import secure_sql
from tests.app.test_data_layer import example_queries
from tests.governance.conftest import PRINCIPALS, TABLES, delta

ALL, DENIED = "all", "denied"
# What each role sees of each table, written out by hand (not derived from the policy code under test):
# "all" every row and column; "gym3" only gym 3's rows; "masked:<cols>" those columns NULL; "denied" refused.
EXPECTED = {
    "admin": dict.fromkeys(TABLES, ALL),
    "engineer": dict.fromkeys(TABLES, ALL),
    "analyst": {"gold.workout_bpm_summary": ALL, "gold.gym_summary": "masked:mac_address", "silver.workout_bpm": ALL,
                "ops.pipeline_runs": ALL, "ops.quarantine": DENIED, "bronze.kafka_multiplex_bz": DENIED},
    "manager3": {"gold.workout_bpm_summary": "gym3", "gold.gym_summary": "gym3 masked:mac_address",
                 "silver.workout_bpm": DENIED, "ops.pipeline_runs": DENIED, "ops.quarantine": DENIED,
                 "bronze.kafka_multiplex_bz": DENIED},
}  # fmt: skip
CASES = [(who, table) for who in EXPECTED for table in TABLES]


def _audit(monkeypatch, capsys, lakehouse: Path, user: str, table: str) -> tuple[int, str, str]:
    monkeypatch.setenv("LAKEHOUSE_DIR", str(lakehouse))
    monkeypatch.delenv("DASHBOARD_USERS_FILE", raising=False)
    code = app_main(["query", "--user", user, "--table", table])
    out, err = capsys.readouterr()
    return code, out, err


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    """Text as CSV shows it; numbers as floats (a nullable integer column prints 3 on one side, 3.0 on the other)."""
    df = df.astype(str).replace({"nan": "", "None": "", "NaT": "", "<NA>": ""})
    for col in df.columns:
        numbers = pd.to_numeric(df[col].replace("", None), errors="coerce")
        if numbers.notna().sum() == (df[col] != "").sum():
            df[col] = numbers.map(lambda v: "" if pd.isna(v) else repr(float(v)))
    return df.sort_values(list(df.columns)).reset_index(drop=True)


@pytest.mark.parametrize(("who", "table"), CASES, ids=[f"{w}-{t}" for w, t in CASES])
def test_audit_query_prints_exactly_what_the_role_may_see(who, table, lakehouse, monkeypatch, capsys):
    code, out, err = _audit(monkeypatch, capsys, lakehouse, PRINCIPALS[who].principal, table)
    rule = EXPECTED[who][table]
    if rule == DENIED:
        assert code == 3 and out == ""
        assert f"is not permitted to read {table}" in err
        return
    assert code == 0, err
    seen = pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False)
    truth = delta(lakehouse, table)
    for col in truth.columns:  # the engines show timestamps as naive UTC, as Spark does
        if isinstance(truth[col].dtype, pd.DatetimeTZDtype):
            truth[col] = truth[col].dt.tz_convert(None)
    if "gym3" in rule:
        truth = truth[truth["gym"] == 3]
        assert len(truth) > 0 and set(seen["gym"]) == {"3"}
    for col in rule.partition("masked:")[2].split(","):
        if col:
            assert set(seen[col]) == {""}, f"{col} must be hidden"
            truth = truth.assign(**{col: None})
    assert list(seen.columns) == list(truth.columns)
    # same rows: compare as text (timestamps and floats are printed the same way on both sides by pandas)
    expected = pd.read_csv(io.StringIO(truth.to_csv(index=False)), dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(_comparable(seen), _comparable(expected))


def test_audit_cli_end_to_end_in_its_own_process(lakehouse: Path, tmp_path: Path):
    users = tmp_path / "users.json"
    env = {"PATH": "/usr/bin:/bin", "LAKEHOUSE_DIR": str(lakehouse), "DASHBOARD_USERS_FILE": str(users),
           "HOME": str(tmp_path)}  # fmt: skip
    add = subprocess.run([sys.executable, "-m", "app", "users", "add", "north", "--role", "gym_manager",
                          "--gyms", "1,2"], input="pa55-word-long-enough\n", env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert add.returncode == 0, add.stderr
    done = subprocess.run([sys.executable, "-m", "app", "query", "--user", "north", "--table", "gold.gym_summary"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = pd.read_csv(io.StringIO(done.stdout))
    truth = delta(lakehouse, "gold.gym_summary")
    assert len(seen) == truth["gym"].isin([1, 2]).sum() > 0
    assert set(seen["gym"]) == {1, 2} and seen["mac_address"].isna().all()
    refused = subprocess.run([sys.executable, "-m", "app", "query", "--user", "north", "--table", "silver.users"],
                             env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 3 and "not permitted to read silver.users" in refused.stderr


def test_unknown_user_and_unknown_table_are_one_line_errors(lakehouse, monkeypatch, capsys):
    code, _, err = _audit(monkeypatch, capsys, lakehouse, "mallory", "gold.gym_summary")
    assert code == 2 and err.strip() == "error: no user 'mallory' in DASHBOARD_USERS_FILE or among the policy's members"
    code, _, err = _audit(monkeypatch, capsys, lakehouse, "admin@wearables.example", "gold.gym_summary; DROP TABLE x")
    assert code == 2 and "is not a table of the contract" in err and len(err.strip().splitlines()) == 1


# --- tampering with the dashboard's filters --------------------------------------------------------------------------

LAST = date(2026, 11, 20)
EVERY_GYM = q.WorkoutFilters(date(2026, 11, 1), LAST, gyms=(1, 2, 3, 4))
ONLY_3 = q.WorkoutFilters(date(2026, 11, 1), LAST, gyms=(3,))
GYMS_EVERY, GYMS_3 = q.GymFilters(date(2026, 11, 1), LAST, (1, 2, 3, 4)), q.GymFilters(date(2026, 11, 1), LAST, (3,))
NO_GYM = q.WorkoutFilters(date(2026, 11, 1), LAST)


def _run(engine: LocalEngine, bound: q.BoundQuery, who: str) -> pd.DataFrame:
    return engine.query(secure(bound, PRINCIPALS[who])).to_pandas()


def test_a_manager_asking_for_every_gym_gets_what_an_admin_gets_for_gym_3(engine):
    """Whatever gyms the browser sends, a gym-3 manager's answer is the admin's answer for gym 3 alone."""
    tampered, honest = example_queries(EVERY_GYM, GYMS_EVERY), example_queries(ONLY_3, GYMS_3)
    compared = 0
    for mine, theirs in zip(tampered, honest, strict=True):
        if not mine.params or not any(k.startswith("gym_") for k in mine.params):
            continue  # no gym filter in this query: checked below
        try:
            got = _run(engine, mine, "manager3")
        except AccessDenied:
            assert mine.name == "session_readings"
            continue
        want = _run(engine, theirs, "admin")
        if "mac_address" in want:
            want = want.assign(mac_address=None)
        if mine.name == "visits_per_gym":  # members are counted by user_id: the mac_address mask changes nothing
            assert (got["members"] > 0).all() and len(got)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=mine.name)
        compared += 1
    assert compared >= 7


def test_queries_without_filters_still_see_only_the_managers_gym(engine, lakehouse):
    gold = delta(lakehouse, "gold.workout_bpm_summary")
    assert _run(engine, q.workout_date_bounds(), "manager3")["sessions"].iloc[0] == (gold["gym"] == 3).sum()
    options = _run(engine, q.workout_filter_options(), "manager3")
    assert set(options.loc[options["dimension"] == "gym", "value"]) == {"3"}
    assert list(_run(engine, q.gym_options(), "manager3")["gym"]) == [3]
    inside = _run(engine, q.members_in_gym_now(), "manager3")
    assert set(inside["gym"]) <= {3} and inside["mac_address"].isna().all()


INJECTIONS = (
    "1) OR 1=1 --",
    "3 OR gym <> 3",
    "' OR ''='",
    "3; DROP TABLE gold_gym_summary; --",
    "3) UNION SELECT 1 --",
)


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_every_filter_parameter_is_bound_never_executed(engine, payload):
    """Each payload in each filter field: a bound value that matches nothing or fails to convert, never SQL text."""
    for field in ("gyms", "ages", "genders", "states", "cities"):
        f = replace(NO_GYM, **{field: (payload,)})
        for bound in (q.workout_kpis(f), q.session_table(f), q.daily_trend(f), q.bpm_by_age_gender(f)):
            secured = secure(bound, PRINCIPALS["manager3"])
            assert payload not in secured.sql
            try:
                rows = engine.query(secured).to_pandas()
            except Exception as exc:  # noqa: BLE001 - a gym that is not a number is refused by the engine: fine
                assert field == "gyms" and "convert" in str(exc).lower(), exc
                continue
            assert rows.get("sessions", pd.Series([0])).sum() == 0 or field == "gyms", (field, bound.name)
            if "gym" in rows:
                assert set(rows["gym"].dropna()) <= {3}
    g = q.GymFilters(date(2026, 11, 1), LAST, (payload,))  # type: ignore[arg-type]
    for bound in (q.visits_per_day(g), q.visits_per_gym(g), q.occupancy(g), q.gym_minutes(g)):
        assert payload not in secure(bound, PRINCIPALS["manager3"]).sql


def test_sort_and_unknown_columns_come_from_allow_lists():
    for bad in ("start_time; DROP TABLE x", "gym) OR (1=1", "mac_address", "first_name"):
        with pytest.raises(ValueError, match="cannot sort sessions"):
            q.session_table(NO_GYM, sort_by=bad)
    with pytest.raises(q.UnknownTableError):
        secure(q.BoundQuery("sneaky", "SELECT * FROM {silver.user_profile}"), PRINCIPALS["admin"]).tables  # noqa: B018


def test_a_query_cannot_pre_bind_the_policys_own_parameters():
    forged = q.BoundQuery("forged", "SELECT * FROM {gold.gym_summary} WHERE gym = :gym_0",
                          {"gym_0": 1, "policy_gym_0": 1})  # fmt: skip
    with pytest.raises(ValueError, match="policy_"):
        secure_sql(forged.sql, forged.params, PRINCIPALS["manager3"])


def test_a_manager_without_gyms_sees_no_rows(engine):
    views = PRINCIPALS["manager3"].tables
    nobody = replace(PRINCIPALS["manager3"], tables={n: replace(v, row_filter=("gym", ())) for n, v in views.items()})
    assert "WHERE FALSE" in secure(q.gym_date_bounds(), nobody).sql
    assert _run_with(engine, q.gym_date_bounds(), nobody)["visits"].iloc[0] == 0


def _run_with(engine, bound, rights):
    return engine.query(secure(bound, rights)).to_pandas()
