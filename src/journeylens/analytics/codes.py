"""Small integer codes for text columns, so that the heavy part of a query compares integers.

Touchpoints, event names and segment values have few distinct values, yet every sort payload,
hash and comparison of a long query reads them as text. :func:`code_columns` finds the distinct
combinations of such columns (one aggregate in the engine), numbers them, and swaps the text for
the numbers in one join; the dictionaries name a small result again (:func:`decode`).

The combinations come back as an in-memory table: the engine then knows it is small and builds
the join's hash table on it. Left as a subquery, DuckDB guessed it as large as the events and
built on the events instead, which needs memory in proportion to them (100M events ran out of
memory). Codes follow value order, never the order rows were found; a null stays null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Derived = Callable[[ir.Table], ir.Value]
COMBINED = "combo"  # the column of combined codes (see ``code_columns``'s ``combine``)


@dataclass(frozen=True)
class Coded:
    """Rows with coded columns, and per column its dictionary ``value, code``."""

    rows: ir.Table
    dictionaries: Mapping[str, ir.Table]
    combinations: ir.Table | None = None

    def codes_of(self, column: str, values: Sequence[str]) -> ir.Column:
        """The codes of ``values`` in ``column`` (for ``isin`` on the coded rows)."""
        dictionary = self.dictionaries[column]
        return dictionary.filter(dictionary.value.isin(list(values))).code


def code_columns(
    table: ir.Table,
    columns: Sequence[str],
    derived: Mapping[str, Derived] | None = None,
    combine: Sequence[str] = (),
) -> Coded:
    """``table`` with each of ``columns`` replaced by its code.

    ``derived``: columns computed from the text on the distinct combinations instead of on every
    row (a pattern match over an event name, say), then carried to the rows by the same join.

    ``combine``: some of ``columns`` whose rows carry one code for the values together instead:
    a column :data:`COMBINED` numbering their distinct tuples 1, 2, ... (in the order of their
    codes). :attr:`Coded.combinations` gives each number's codes, 0 standing for null.

    Examples
    --------
    >>> t = ibis.memtable({"tp": ["b", "a", None, "b"], "n": [1, 2, 3, 4]})
    >>> coded = code_columns(t, ["tp"])
    >>> coded.rows.order_by("n").tp.execute().tolist()
    [2.0, 1.0, nan, 2.0]
    """
    derived = derived or {}
    distinct = table.select(*columns).distinct()
    found = distinct.mutate(**{name: make(distinct) for name, make in derived.items()})
    found = found.to_pyarrow()
    combos: dict[str, pa.Array] = {}
    dictionaries: dict[str, ir.Table] = {}
    for c in columns:
        text = found[c].combine_chunks()
        names = pc.unique(text.drop_null())
        names = pc.take(names, pc.array_sort_indices(names))
        combos[f"_text_{c}"] = text
        combos[f"_code_{c}"] = pc.add(pc.index_in(text, value_set=names), 1).cast(pa.int32())
        numbers = pa.array(range(1, len(names) + 1), pa.int32())
        dictionaries[c] = ibis.memtable(pa.table({"value": names, "code": numbers}))
    for name in derived:
        combos[name] = found[name].combine_chunks()
    combinations = None
    if combine:
        codes = [combos.pop(f"_code_{c}").fill_null(0).to_numpy() for c in combine]
        tuples, number = np.unique(np.column_stack(codes), axis=0, return_inverse=True)
        combos[COMBINED] = pa.array(number.reshape(-1) + 1, pa.int32())
        numbered = {COMBINED: np.arange(1, len(tuples) + 1, dtype=np.int32)}
        numbered |= {c: tuples[:, i].astype(np.int32) for i, c in enumerate(combine)}
        combinations = ibis.memtable(pa.table(numbered))
    known = ibis.memtable(pa.table(combos))
    joined = table.join(known, [table[c].identical_to(known[f"_text_{c}"]) for c in columns])
    kept = [c for c in table.columns if c not in combine]
    rows = joined.select(
        *(c if c not in columns else joined[f"_code_{c}"].name(c) for c in kept),
        *([COMBINED] if combine else []),
        *derived,
    )
    return Coded(rows, dictionaries, combinations)


def encode(table: ir.Table, column: str, dictionary: ir.Table) -> ir.Table:
    """``table`` with the values in ``column`` replaced by their codes in ``dictionary`` (a
    dictionary of :func:`code_columns`); a value not in it, or null, becomes null."""
    return _swap(table, column, dictionary, "value", "code")


def decode(
    table: ir.Table, column: str, dictionary: ir.Table, missing: str | None = None
) -> ir.Table:
    """``table`` with the codes in ``column`` named again; a code not in ``dictionary`` (or
    null) becomes ``missing``."""
    return _swap(table, column, dictionary, "code", "value", missing)


def _swap(
    table: ir.Table,
    column: str,
    dictionary: ir.Table,
    key: str,
    to: str,
    missing: str | None = None,
) -> ir.Table:
    """``column`` looked up in ``dictionary`` by ``key`` and replaced by its ``to``."""
    pairs = dictionary.select(_key=dictionary[key], _to=dictionary[to])
    joined = table.left_join(pairs, table[column] == pairs._key)
    value = joined._to if missing is None else joined._to.fill_null(missing)
    return joined.select(*(value.name(c) if c == column else c for c in table.columns))
