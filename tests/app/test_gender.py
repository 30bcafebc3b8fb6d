"""Free-text gender shown and filtered as a few groups; gold keeps the text as entered."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from app.gender import GENDER_GROUPS, gender_group, gender_group_sql, groups_present, raw_values_in
from tests.app.conftest import LAST_DAY, charts, metric, open_page
from tests.support.demo_data import DemoSpec, write_demo_lakehouse

# What members type (the simulator's spellings among them), and the group each one is shown in.
MESSY = {
    "F": "female", "Female": "female", "female": "female", "Woman": "female", "woman": "female", "F ": "female",
    " f": "female", "FEMALE": "female", "M": "male", "Male": "male", "man": "male", " Man ": "male",
    "non-binary": "non-binary", "Nonbinary": "non-binary", "Non-binary": "non-binary", "genderqueer": "non-binary",
    "prefer not to say": "not stated", "": "not stated", "   ": "not stated", "Two-spirit": "other",
    "f\t": "other", "femalee": "other",
}  # fmt: skip


@pytest.mark.parametrize("raw", sorted(MESSY))
def test_gender_group_of_free_text(raw: str) -> None:
    assert gender_group(raw) == MESSY[raw]


def test_missing_gender_is_not_stated() -> None:
    assert gender_group(None) == "not stated"


def test_sql_expression_groups_like_the_function() -> None:
    values = [*MESSY, None]
    con = duckdb.connect()
    con.register("t", pa.table({"raw": pa.array(values, type=pa.string())}))
    rows = con.sql(f"SELECT raw, {gender_group_sql('raw')} AS grp FROM t").fetchall()
    assert {raw: grp for raw, grp in rows} == {raw: gender_group(raw) for raw in values}


def test_filter_offers_groups_in_display_order_and_maps_back_to_raw_values() -> None:
    raw = ["Woman", None, "M", "F", "Two-spirit"]
    assert groups_present(raw) == ["female", "male", "other", "not stated"]
    assert raw_values_in(["female", "not stated"], raw) == ("Woman", None, "F")
    assert raw_values_in([], raw) == ()
    assert set(groups_present(MESSY)) == set(GENDER_GROUPS)


@pytest.fixture(scope="module")
def messy_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo lakehouse with gold's gender rewritten as free text; sessions without a profile keep NULL."""
    root = tmp_path_factory.mktemp("messy-gender")
    write_demo_lakehouse(root, DemoSpec(last_day=LAST_DAY, readings=False))
    path = str(root / "gold" / "workout_bpm_summary")
    gold = DeltaTable(path).to_pyarrow_table()
    spellings = sorted(MESSY)
    genders = [None if g is None else spellings[i % len(spellings)] for i, g in enumerate(gold["gender"].to_pylist())]
    gold = gold.set_column(gold.schema.get_field_index("gender"), "gender", pa.array(genders, type=pa.string()))
    write_deltalake(path, gold, mode="overwrite")
    return root


def test_page_shows_and_filters_gender_groups(app_env: Path, messy_lakehouse: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("LAKEHOUSE_DIR", str(messy_lakehouse))
    at = open_page()
    gold = DeltaTable(str(messy_lakehouse / "gold" / "workout_bpm_summary")).to_pandas()
    groups = gold["gender"].map(gender_group)

    assert at.multiselect(key="wb_gender").options == list(GENDER_GROUPS)
    chart = next(c for c in charts(at) if c["layout"]["title"]["text"] == "Average BPM by age bin and gender")
    assert [trace["name"] for trace in chart["data"]] == list(GENDER_GROUPS)  # no raw value such as "Woman"

    at.multiselect(key="wb_gender").set_value(["female"]).run()
    assert metric(at, "Sessions") == f"{(groups == 'female').sum():,}"
    at.multiselect(key="wb_gender").set_value(["not stated", "other"]).run()  # NULL is "not stated" too
    assert metric(at, "Sessions") == f"{groups.isin(['not stated', 'other']).sum():,}"
    assert gold["gender"].isna().any() and not at.exception
