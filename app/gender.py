"""Gender for display: gold keeps what members typed ("Female", "female", "Woman", "F ", ...); the dashboard shows
and filters a few groups. One table of spellings decides, used by the pure function and by the SQL it renders.
"""

from __future__ import annotations

from collections.abc import Iterable

FEMALE, MALE, NON_BINARY, OTHER, NOT_STATED = "female", "male", "non-binary", "other", "not stated"
GENDER_GROUPS: tuple[str, ...] = (FEMALE, MALE, NON_BINARY, OTHER, NOT_STATED)  # display order

# Known spellings, compared after trimming spaces and lower-casing; anything else is OTHER, NULL is NOT_STATED.
SPELLINGS: dict[str, tuple[str, ...]] = {
    FEMALE: ("f", "female", "woman", "w", "women", "girl", "lady", "cis female", "cis woman", "trans female",
             "trans woman", "transwoman"),
    MALE: ("m", "male", "man", "men", "boy", "cis male", "cis man", "trans male", "trans man", "transman"),
    NON_BINARY: ("non-binary", "nonbinary", "non binary", "nb", "enby", "genderqueer", "gender queer", "genderfluid",
                 "gender fluid", "agender"),
    NOT_STATED: ("", "prefer not to say", "prefer not to answer", "rather not say", "not stated", "not specified",
                 "unknown", "n/a", "na", "none", "-", "?"),
}  # fmt: skip
_GROUP_OF = {spelling: group for group, spellings in SPELLINGS.items() for spelling in spellings}


def gender_group(raw: str | None) -> str:
    """The display group of one free-text gender; trims spaces only, like SQL's trim()."""
    if raw is None:
        return NOT_STATED
    return _GROUP_OF.get(raw.strip(" ").lower(), OTHER)


def gender_group_sql(column: str) -> str:
    """The same mapping as `gender_group`, as an SQL expression Spark SQL and DuckDB both evaluate alike.

    It costs a string function per row: apply it to an aggregate over raw values, not to every session.
    """
    key = f"lower(trim({column}))"
    whens = "".join(f" WHEN {key} IN ({', '.join(_literal(s) for s in spellings)}) THEN {_literal(group)}"
                    for group, spellings in SPELLINGS.items())  # fmt: skip
    return f"CASE WHEN {column} IS NULL THEN {_literal(NOT_STATED)}{whens} ELSE {_literal(OTHER)} END"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def groups_present(raw_values: Iterable[str | None]) -> list[str]:
    """The groups the given raw values fall in, in display order: what the gender filter offers."""
    present = {gender_group(v) for v in raw_values}
    return [g for g in GENDER_GROUPS if g in present]


def raw_values_in(groups: Iterable[str], raw_values: Iterable[str | None]) -> tuple[str | None, ...]:
    """The raw values (None for NULL) that fall in any of these groups: a gender filter on the raw column."""
    wanted = set(groups)
    return tuple(v for v in raw_values if gender_group(v) in wanted)
