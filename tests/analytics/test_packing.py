"""Packing small integers into one: every part comes back, in the engine, for any layout."""

from __future__ import annotations

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeylens.analytics.packing import pack, unpack

BITS = st.lists(st.integers(1, 31), min_size=1, max_size=4).filter(lambda b: sum(b) <= 63)


@st.composite
def layouts_and_rows(draw: st.DrawFn) -> tuple[tuple[tuple[str, int], ...], list[list[int]]]:
    bits = draw(BITS)
    layout = tuple((f"p{i}", b) for i, b in enumerate(bits))
    row = st.tuples(*(st.integers(0, (1 << b) - 1) for b in bits)).map(list)
    return layout, draw(st.lists(row, min_size=1, max_size=20))


@settings(max_examples=40, deadline=None)
@given(layouts_and_rows())
def test_every_part_comes_back(case: tuple[tuple[tuple[str, int], ...], list[list[int]]]) -> None:
    layout, rows = case
    names = [name for name, _ in layout]
    table = ibis.memtable({n: [r[i] for r in rows] for i, n in enumerate(names)})
    packed = table.mutate(_packed=pack(layout, **{n: table[n] for n in names}))
    out = packed.select(*(unpack(packed._packed, layout, n).name(n) for n in names)).execute()
    assert out.values.tolist() == rows


def test_a_running_sum_of_packed_counts_sums_each_count() -> None:
    layout = (("a", 32), ("b", 31))
    t = ibis.memtable({"k": [1, 2, 3, 4], "a": [1, 0, 1, 1], "b": [0, 1, 1, 0]})
    w = ibis.cumulative_window(order_by=t.k)
    summed = t.mutate(s=pack(layout, a=t.a, b=t.b).sum().over(w))
    out = summed.select("k", a=unpack(summed.s, layout, "a"), b=unpack(summed.s, layout, "b"))
    frame = out.order_by("k").execute()
    assert frame["a"].tolist() == [1, 1, 2, 3]
    assert frame["b"].tolist() == [0, 1, 2, 2]


def test_a_null_part_makes_the_value_null() -> None:
    t = ibis.memtable({"a": [1, None]}, schema={"a": "int32"})
    layout = (("a", 4), ("b", 4))
    out = t.select(p=pack(layout, a=t.a, b=ibis.literal(2))).p.execute()
    assert out.iloc[0] == 33
    assert out.isna().iloc[1]


def test_more_than_63_bits_is_refused() -> None:
    t = ibis.memtable({"a": [1]})
    with pytest.raises(ValueError, match="64-bit"):
        pack((("a", 32), ("b", 32)), a=t.a, b=t.a)
