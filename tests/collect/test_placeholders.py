"""The cheap pattern that comes before the exact placeholder test: it misses no placeholder."""

from __future__ import annotations

import duckdb
import pytest

from journeylens.collect.exports import LOWERS_TO_ASCII, lower_match, lowered_in
from journeylens.config import PLACEHOLDER_IDS

EXACT = lowered_in("$text", "$values")


def exact_and_pattern(text: str, values: list[str]) -> tuple[bool, bool]:
    """Whether ``text`` is one of ``values`` by the exact test, and whether it matches."""
    sql = f"SELECT coalesce({EXACT}, false), regexp_full_match($text, $pattern)"
    params = {"text": text, "values": values, "pattern": lower_match(values)}
    row = duckdb.execute(sql, params).fetchone()
    assert row is not None
    return bool(row[0]), bool(row[1])


def test_the_characters_that_lower_to_ascii_letters_are_known():
    # The pattern's classes rest on this: were DuckDB's lower case to map another character
    # to an ASCII letter, a placeholder written with it would be missed.
    found = duckdb.execute(
        "SELECT list(c ORDER BY c) FROM range(128, 1114112) r(c) "
        "WHERE (c < 55296 OR c > 57343) AND lower(chr(c::INTEGER)) < chr(128)"
    ).fetchone()
    assert found is not None
    assert sorted(found[0]) == sorted(ord(c) for c in LOWERS_TO_ASCII.values())
    assert all(chr(c).lower() != chr(c) for c in found[0])


@pytest.mark.parametrize(
    "text",
    [
        "null",
        "NULL",
        " Undefined ",
        "\tundefined\r\n",
        "\u00a0\tnull\u2028",
        "N/A",
        "n/a",
        "N\u0130L",  # DuckDB lowers the dotted capital I to i
        "UN\u212aNOWN",  # and the Kelvin sign to k
        "\u3000guest\u3000",
    ],
)
def test_every_placeholder_matches(text):
    assert exact_and_pattern(text, list(PLACEHOLDER_IDS)) == (True, True)


@pytest.mark.parametrize(
    "text",
    ["a189275", "nulls", "na na", "n-a", "0", "9f1c2e3a-1b2c-4d5e-8f90-123456789abc", "user 17"],
)
def test_other_ids_are_not_placeholders(text):
    assert exact_and_pattern(text, list(PLACEHOLDER_IDS))[0] is False


@pytest.mark.parametrize(
    ("values", "text"),
    [
        (["нет"], " НЕТ "),  # letters beyond ASCII: any one character in their place
        (["visitor.1"], "Visitor.1"),  # the pattern's own characters taken as they are
        (["(none)"], "(NONE)"),
        (["not set"], "Not Set"),
        ([], "null"),  # no placeholders: the exact test says no
    ],
)
def test_configured_placeholders_match_as_the_exact_test_does(values, text):
    exact, matched = exact_and_pattern(text, values)
    assert exact == bool(values)
    assert matched or not exact


def test_the_pattern_is_the_letters_in_both_cases():
    assert lower_match(["n/a"]).count("[nN]/[aA]") == 1
    assert "." in lower_match(["нет"])
