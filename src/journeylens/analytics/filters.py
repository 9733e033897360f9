"""The filters every analysis takes: a time range and ``--where`` conditions.

``--where`` conditions are ``column=value``, ``column!=value``, ``column>value`` (also ``>=``,
``<``, ``<=``) and ``column~pattern`` (glob). A column is a canonical events column or a JSON
property, ``properties.KEY`` or the key alone where no column has its name (``properties.a.b``
for ``b`` inside the object ``a``; a key may hold ``:``, as XES's ``org:resource``),
compared as a funnel step's ``[KEY op value]``: a value written as a number compares
numerically (JSON numbers and numeric text alike), and text only with ``=``, ``!=`` and ``~``.
``ts`` and ``received_at`` compare with a time in ISO 8601 (``ts>=2026-09-01``). Values are
bound as literals, never spliced into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from journeylens.errors import SpecError
from journeylens.instants import naive_utc, naive_utc_or_none
from journeylens.journey.steps import (
    check_keys_present,
    glob_test,
    property_condition,
    property_key,
    unquoted,
)
from journeylens.store.portable import KEY_PART

# A column: a name, or names joined by dots (properties.KEY, properties.a.b).
_CONDITION = re.compile(rf"^\s*({KEY_PART}(?:\.{KEY_PART})*)\s*(!=|>=|<=|=|>|<|~)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _CONDITION.match(text)
        if not match:
            raise SpecError(
                f"Cannot read the filter '{text}'; write column=value, column!=value, "
                "column>value or column~pattern, e.g. channel=email."
            )
        return cls(match[1], match[2], match[3])

    def apply(self, table: ibis.Table) -> ibis.Table:
        """The rows of ``table`` that pass."""
        return table.filter(self.test(table))

    def on_property(self, columns: Collection[str]) -> bool:
        """Whether the condition reads a JSON property of a table with these ``columns``."""
        return self.column.startswith("properties.") or self.column not in columns

    def test(self, table: ibis.Table) -> ir.BooleanValue:
        """Whether a row of ``table`` passes."""
        key = None
        if self.on_property(table.columns):
            # A property, named alone as --by names it or as properties.KEY; an error names the
            # near columns and properties when no event has it (a typo would match nothing).
            check_keys_present(table, [self.column], f"in filter '{self}'")
            key = property_key(self.column)
        if key is not None:
            test = property_condition(table, key, self.op, self.value, str(self))
            # As for columns, != keeps the events without the property.
            return test.fill_null(True) if self.op == "!=" else test
        column = table[self.column]
        value: object = unquoted(self.value)  # quoted as a step's value may be
        if column.type().is_numeric():
            try:
                value = float(self.value)
            except ValueError as exc:
                raise SpecError(f"Filter '{self}': '{self.value}' is not a number.") from exc
        elif column.type().is_timestamp() and self.op != "~":
            value = naive_utc(str(value), "filter time")
        elif self.op in (">", ">=", "<", "<="):
            # As a step's filter: text compares with =, != and ~ only ('device>mobile' would
            # compare letters, 'device>3' would keep every row).
            raise SpecError(
                f"Filter '{self}' uses '{self.op}' on the text column '{self.column}'; only =, "
                "!= and ~ compare text, >, >=, <, <= need a number or a time."
            )
        ops = {
            "=": lambda c, v: c == v,
            "!=": lambda c, v: c.isnull() | (c != v),
            ">": lambda c, v: c > v,
            ">=": lambda c, v: c >= v,
            "<": lambda c, v: c < v,
            "<=": lambda c, v: c <= v,
            "~": lambda c, v: glob_test(c.cast("string"), str(v)),
        }
        return ops[self.op](column, value)

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"


def in_range(
    table: ibis.Table, since: datetime | None, until: datetime | None, column: str = "ts"
) -> ibis.Table:
    """Rows with ``since <= column < until`` (either bound optional)."""
    if since is not None:
        table = table.filter(table[column] >= since)
    if until is not None:
        table = table.filter(table[column] < until)
    return table


def apply_filters(
    table: ibis.Table,
    since: datetime | None = None,
    until: datetime | None = None,
    where: Sequence[str] = (),
) -> ibis.Table:
    """``table`` restricted to ``since <= ts < until`` and every ``where`` condition."""
    since, until = naive_utc_or_none(since, "since"), naive_utc_or_none(until, "until")
    if since is not None and until is not None and since >= until:
        raise SpecError(f"since {since} must be before until {until}: nothing lies between.")
    table = in_range(table, since, until)
    for text in where:
        table = Condition.parse(text).apply(table)
    return table


def answers_where(feedback: ibis.Table, events: ibis.Table, where: Sequence[str]) -> ibis.Table:
    """The feedback answers read with the ``events`` filtered by ``where``.

    An answer of a known person is kept: its person's events, which ``where`` filters, place
    it. An anonymous answer is kept when its own values pass every condition, as an event's
    would; a column the feedback does not have (``campaign``, a property) is missing on it,
    which passes only ``!=``.
    """
    own = [_answer_test(Condition.parse(text), feedback, events.columns) for text in where]
    if not own:
        return feedback
    return feedback.filter(feedback.person_id.notnull() | ibis.and_(*own))


def _answer_test(
    condition: Condition, answers: ibis.Table, columns: Collection[str]
) -> ir.BooleanValue:
    """Whether an answer's own values pass ``condition`` (read as on events of ``columns``)."""
    if condition.on_property(columns) or condition.column not in answers.columns:
        return ibis.literal(condition.op == "!=")
    return condition.test(answers)
