"""``--where`` conditions: globs match names with ``_`` and ``%`` literally."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from journeylens.analytics.filters import Condition
from journeylens.journey.steps import glob_to_regex


@pytest.fixture
def table():
    con = ibis.duckdb.connect()
    names = ["spring_sale", "springXsale", "a%b", "axb", "spring_sale_2"]
    return con.create_table("t", pd.DataFrame({"campaign": names}))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("spring_*", ["spring_sale", "spring_sale_2"]),
        ("spring_sale", ["spring_sale"]),
        ("a%b", ["a%b"]),
        ("a?b", ["a%b", "axb"]),
        ("*sale", ["spring_sale", "springXsale"]),
    ],
)
def test_glob_condition_matches_literally(table, pattern, expected):
    matched = Condition.parse(f"campaign~{pattern}").apply(table).execute()
    assert sorted(matched["campaign"]) == sorted(expected)


@pytest.mark.parametrize(
    "condition",
    ['campaign="spring_sale"', "campaign='spring_sale'", "campaign=spring_sale"],
)
def test_a_quoted_value_compares_as_it_does_for_a_property(table, condition):
    # As a step's [campaign="spring sale"]: the quotes are not part of the value.
    assert Condition.parse(condition).apply(table).execute()["campaign"].tolist() == ["spring_sale"]


def test_glob_to_regex_is_anchored():
    assert glob_to_regex("a.b*") == r"^a\.b.*$"


def test_a_property_condition_reaches_into_nested_objects():
    con = ibis.duckdb.connect()
    props = ['{"params": {"page": "/pricing"}}', '{"params": {"page": "/blog"}}', '{"page": "x"}']
    events = con.create_table("e", pd.DataFrame({"n": [1, 2, 3], "properties": props}))
    matched = Condition.parse("properties.params.page~/pri*").apply(events).execute()
    assert matched["n"].tolist() == [1]
    assert Condition.parse("properties.page=x").apply(events).execute()["n"].tolist() == [3]


def test_a_property_condition_takes_dollar_and_dash_keys():
    con = ibis.duckdb.connect()
    props = ['{"$current_url": "/pricing", "utm-source": "x"}', '{"current_url": "/pricing"}']
    events = con.create_table("e", pd.DataFrame({"n": [1, 2], "properties": props}))
    matched = Condition.parse("properties.$current_url=/pricing").apply(events).execute()
    assert matched["n"].tolist() == [1]
    assert Condition.parse("properties.utm-source=x").apply(events).execute()["n"].tolist() == [1]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("properties.price>9.6", ["b", "c"]),  # JSON number 10 and the text "12" alike
        ("properties.price=10", ["b"]),
        ("properties.price>=9.5", ["a", "b", "c"]),
        ("properties.price!=10", ["a", "c", "d"]),  # d has no price: kept, as for columns
        ("properties.price~1*", ["b", "c"]),
        ("properties.plan=pro", ["a"]),
    ],
)
def test_a_property_condition_compares_numbers_as_numbers(condition, expected):
    con = ibis.duckdb.connect()
    props = ['{"price": 9.5, "plan": "pro"}', '{"price": 10}', '{"price": "12"}', "{}"]
    t = con.create_table("t", pd.DataFrame({"id": list("abcd"), "properties": props}))
    assert sorted(Condition.parse(condition).apply(t).execute()["id"]) == expected


def test_a_property_is_named_alone_or_with_its_prefix_and_may_hold_a_colon():
    from journeylens.errors import SpecError
    from journeylens.schema import EVENTS

    con = ibis.duckdb.connect()
    props = ['{"platform": "mobile", "org:resource": "Pete"}', '{"platform": "web"}']
    given = {"properties": props, "channel": ["x", "y"], "event": ["a", "b"]}
    rows = {c: [None, None] for c in EVENTS.names} | given
    events = con.create_table("e", ibis.memtable(rows, schema=EVENTS).to_pyarrow())
    for text in ("platform=mobile", "properties.platform=mobile", "org:resource=Pete"):
        assert Condition.parse(text).apply(events).execute()["event"].tolist() == ["a"], text
    with pytest.raises(SpecError, match=r"No event has the property 'platfrom'.*'platform'"):
        Condition.parse("platfrom=mobile").apply(events)
    with pytest.raises(SpecError, match="Did you mean 'channel'"):
        Condition.parse("chanel=x").apply(events)
    # With its prefix a misspelt property is the same error (it matched nothing, silently).
    with pytest.raises(SpecError, match=r"No event has the property 'properties\.platfrom'"):
        Condition.parse("properties.platfrom=mobile").apply(events)


def test_a_property_condition_reads_json_true_and_false_as_those_words():
    con = ibis.duckdb.connect()
    props = ['{"vip": true}', '{"vip": false}', '{"vip": "true"}', "{}"]
    t = con.create_table("t", pd.DataFrame({"id": list("abcd"), "properties": props}))
    assert sorted(Condition.parse("vip=true").apply(t).execute()["id"]) == ["a", "c"]
    assert sorted(Condition.parse("properties.vip=false").apply(t).execute()["id"]) == ["b"]


def test_a_breakdown_by_a_property_holding_only_objects_says_so():
    from journeylens.errors import SpecError
    from journeylens.journey.steps import check_keys_present

    con = ibis.duckdb.connect()
    props = ['{"cart": {"size": 2}}', '{"cart": [1, 2]}', '{"plan": "pro"}']
    t = con.create_table("t", pd.DataFrame({"id": list("abc"), "properties": props}))
    with pytest.raises(SpecError, match=r"'cart' \(--by\) holds no text, number, true or false"):
        check_keys_present(t, ["cart"], "--by")
    with pytest.raises(SpecError, match="Did you mean 'plan'"):
        check_keys_present(t, ["plann"], "--by")
    check_keys_present(t, ["cart.size", "plan"], "--by")
