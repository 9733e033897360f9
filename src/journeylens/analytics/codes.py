"""Small integer codes for text columns, so that the heavy part of a query compares integers.

Touchpoints, event names and segment values have few distinct values, yet every sort payload,
hash and comparison of a long query reads them as text. :func:`code_columns` numbers the
distinct combinations of such columns in the engine, swaps the text for the numbers in one
join, and keeps the dictionaries to name a small result again (:func:`decode`).

Codes follow value order (``dense_rank``), never the order rows were found, so an engine that
computes an expression once per use (Spark) gets the same codes every time. A null stays null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

Derived = Callable[[ir.Table], ir.Value]


@dataclass(frozen=True)
class Coded:
    """Rows with coded columns, and per column its dictionary ``value, code``."""

    rows: ir.Table
    dictionaries: Mapping[str, ir.Table]

    def codes_of(self, column: str, values: Sequence[str]) -> ir.Column:
        """The codes of ``values`` in ``column`` (for ``isin`` on the coded rows)."""
        dictionary = self.dictionaries[column]
        return dictionary.filter(dictionary.value.isin(list(values))).code


def code_columns(
    table: ir.Table, columns: Sequence[str], derived: Mapping[str, Derived] | None = None
) -> Coded:
    """``table`` with each of ``columns`` replaced by its code.

    ``derived``: columns computed from the text on the distinct combinations instead of on every
    row (a pattern match over an event name, say), then carried to the rows by the same join.

    Examples
    --------
    >>> t = ibis.memtable({"tp": ["b", "a", None, "b"], "n": [1, 2, 3, 4]})
    >>> coded = code_columns(t, ["tp"])
    >>> coded.rows.order_by("n").tp.execute().tolist()
    [2.0, 1.0, nan, 2.0]
    """
    derived = derived or {}
    combos = table.select(*columns).distinct()
    codes = {
        c: ibis.ifelse(
            combos[c].isnull(), ibis.null("int32"), ibis.dense_rank().over(order_by=combos[c]) + 1
        ).cast("int32")
        for c in columns
    }
    combos = combos.select(
        **{f"_text_{c}": combos[c] for c in columns},
        **{f"_code_{c}": code for c, code in codes.items()},
        **{name: make(combos) for name, make in derived.items()},
    )
    joined = table.join(combos, [table[c].identical_to(combos[f"_text_{c}"]) for c in columns])
    rows = joined.select(
        *(c if c not in columns else joined[f"_code_{c}"].name(c) for c in table.columns),
        *derived,
    )
    dictionaries = {
        c: combos.filter(combos[f"_code_{c}"].notnull())
        .select(value=combos[f"_text_{c}"], code=combos[f"_code_{c}"])
        .distinct()
        for c in columns
    }
    return Coded(rows, dictionaries)


def encode(table: ir.Table, column: str, dictionary: ir.Table) -> ir.Table:
    """``table`` with the values in ``column`` replaced by their codes in ``dictionary`` (a
    dictionary of :func:`code_columns`); a value not in it, or null, becomes null."""
    codes = dictionary.select(_code=dictionary.code, _value=dictionary.value)
    joined = table.left_join(codes, table[column] == codes._value)
    return joined.select(*(joined._code.name(c) if c == column else c for c in table.columns))


def decode(
    table: ir.Table, column: str, dictionary: ir.Table, missing: str | None = None
) -> ir.Table:
    """``table`` with the codes in ``column`` named again; a code not in ``dictionary`` (or
    null) becomes ``missing``."""
    names = dictionary.select(_code=dictionary.code, _value=dictionary.value)
    joined = table.left_join(names, table[column] == names._code)
    value = joined._value if missing is None else joined._value.fill_null(missing)
    return joined.select(*(value.name(c) if c == column else c for c in table.columns))
