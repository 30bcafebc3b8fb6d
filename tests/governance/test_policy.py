"""The policy file: what each role may read, and one clear line for every kind of mistake in it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from core.contract import ALL_TABLES
from governance.policy import POLICY_FILE, NotPermitted, PolicyError, columns, load_policy, parse_policy

DOC = yaml.safe_load(POLICY_FILE.read_text())
ALL = {t.full_name for t in ALL_TABLES}


def _with(change) -> dict:
    doc = copy.deepcopy(DOC)
    change(doc)
    return doc


def test_the_four_roles_read_what_the_issue_asks():
    p = load_policy()
    layer = lambda name: {t.full_name for t in ALL_TABLES if t.layer == name}  # noqa: E731
    assert set(p.access("a", "platform_admin").tables) == ALL
    assert set(p.access("e", "data_engineer").tables) == ALL
    assert set(p.access("n", "analyst").tables) == layer("silver") | layer("gold") | {"ops.pipeline_runs"}
    assert set(p.access("m", "gym_manager", (3,)).tables) == layer("gold")


def test_masks_hide_personal_columns_from_everyone_but_engineers_and_admins():
    p = load_policy()
    personal = {"first_name", "last_name", "dob", "street_address", "mac_address"}
    for role in ("platform_admin", "data_engineer"):
        assert all(not t.masked for t in p.access("x", role).tables.values())
    for role, gyms in (("analyst", ()), ("gym_manager", (3,))):
        for name, view in p.access("x", role, gyms).tables.items():
            cols = {c for c, _ in columns(view.table)}
            assert personal & cols <= set(view.masked), name
    assert p.masked["bronze.kafka_multiplex_bz"] == ("value",)


def test_a_gym_manager_sees_only_their_gyms_rows():
    access = load_policy().access("m", "gym_manager", (3, 1, 3))
    assert access.gyms == (1, 3)
    assert {v.row_filter for v in access.tables.values()} == {("gym", (1, 3))}
    with pytest.raises(NotPermitted, match=r"m \(gym_manager\) is not permitted to read silver.workout_bpm"):
        access.table("silver.workout_bpm")


def test_rights_fingerprint_differs_per_principal_and_gyms():
    p = load_policy()
    keys = {p.access("a", "gym_manager", (3,)).key, p.access("b", "gym_manager", (3,)).key,
            p.access("a", "gym_manager", (1,)).key, p.access("a", "analyst").key}  # fmt: skip
    assert len(keys) == 4


def test_members_map_e_mail_identities_to_roles_case_insensitively():
    member = load_policy().member("Manager.Gym3@Wearables.Example")
    assert member is not None and (member.role, member.gyms) == ("gym_manager", (3,))


BAD = [
    (lambda d: d["roles"]["analyst"].update(read=["platinum"]), "roles.analyst.read: 'platinum' is neither a layer"),
    (lambda d: d["roles"]["gym_manager"].update(read=["gold", "silver.users"]),
     "roles.gym_manager: reads silver.users, which row filter 'gym' (gym) does not cover"),
    (lambda d: d["roles"]["analyst"].update(colour="red"), "roles.analyst: unknown key(s) colour"),
    (lambda d: d["roles"]["analyst"].update(group="data-engineers"), "group 'data-engineers' is already used"),
    (lambda d: d["roles"]["analyst"].update(group="a`; DROP"), "roles.analyst: group must be"),
    (lambda d: d["masked_columns"].append("shoe_size"), "masked_columns: no table of the contract has a column"),
    (lambda d: d["members"].append({"identity": "x@y.z", "role": "boss"}), "members[5]: unknown role 'boss'"),
    (lambda d: d["members"].append({"identity": "x@y.z", "role": "gym_manager"}), "give gyms"),
    (lambda d: d["members"].append({"identity": "x@y.z", "role": "analyst", "gyms": [2]}), "sees every gym"),
    (lambda d: d["members"].append({"identity": "x@y.z", "role": "gym_manager", "gyms": ["3 OR 1=1"]}),
     "gyms must be a list of gym numbers"),
    (lambda d: d.update(catalog="main; DROP"), "catalog must be a plain identifier"),
    (lambda d: d["row_filters"]["gym"].update(column="city"), "table gold.gym_summary has no column 'city'"),
    (lambda d: d["roles"]["analyst"].update(write=["bronze"]), "roles.analyst: writes bronze."),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m.split(":")[0][:40] for _, m in BAD])
def test_invalid_policy_is_one_clear_line(change, message):
    with pytest.raises(PolicyError) as err:
        parse_policy(_with(change))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unreadable_policy_file_names_the_file(tmp_path: Path):
    bad = tmp_path / "policy.yml"
    bad.write_text("roles: [\n")
    with pytest.raises(PolicyError, match=r"policy.yml: not valid YAML at line"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "missing.yml")
