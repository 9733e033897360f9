"""Coding text columns: codes in value order, nulls kept, combined columns numbered as tuples."""

from __future__ import annotations

import ibis

from journeylens.analytics.codes import COMBINED, code_columns, decode


def test_combined_columns_travel_as_one_code_per_distinct_tuple() -> None:
    t = ibis.memtable(
        {
            "event": ["x", "y", "x", "x"],
            "device": ["mobile", None, "mobile", "desktop"],
            "plan": ["1", "2", "1", None],
            "n": [1, 2, 3, 4],
        }
    )
    coded = code_columns(t, ["event", "device", "plan"], combine=["device", "plan"])
    rows = coded.rows.order_by("n").execute()
    assert list(rows.columns) == ["event", "n", COMBINED]
    assert coded.combinations is not None
    combos = coded.combinations.execute().set_index(COMBINED)
    # Codes follow value order (desktop 1, mobile 2; "1" 1, "2" 2); 0 stands for null, and the
    # tuples are numbered in the order of their codes.
    assert combos.loc[rows[COMBINED]].values.tolist() == [[2, 1], [0, 2], [2, 1], [1, 0]]
    assert rows[COMBINED].tolist() == [3, 1, 3, 2]
    devices = combos.reset_index().rename(columns={"device": "code"})
    named = decode(ibis.memtable(devices), "code", coded.dictionaries["device"], missing="-")
    assert sorted(named.execute()["code"]) == ["-", "desktop", "mobile"]
