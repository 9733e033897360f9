"""Revenue in one reporting currency.

Events keep the ``revenue`` and ``currency`` they were sent with. A workspace whose config names
a reporting currency and exchange rates (``[currency]``, see ``docs/configuration.md``) reads its
events with ``revenue`` in that currency: every analysis that sums revenue (attribution, ROI,
incrementality, friction's lost revenue) then adds like to like, and costs, which the catalog
states in the reporting currency, compare with it.

A rate is the units of a currency that make one unit of the reporting currency (``SEK = 11.4``
with ``report = "EUR"``: 11.4 SEK make 1 EUR). Revenue in the reporting currency, or without a
currency, is taken as it is; revenue in a currency without a rate has no value in the reporting
currency (null: left out of sums) and keeps its currency, so :func:`revenue_currencies` can
name it.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

__all__ = ["in_report_currency", "normalized_code", "revenue_currencies"]


def normalized_code(code: str) -> str:
    """A currency code as compared: trimmed, upper case (``" sek"`` → ``"SEK"``)."""
    return code.strip().upper()


def in_report_currency(events: ir.Table, report: str, rates: Mapping[str, float]) -> ir.Table:
    """``events`` with ``revenue`` (and ``currency``) in the ``report`` currency.

    Examples
    --------
    >>> t = ibis.memtable({"revenue": [114.0, 10.0, 5.0, 7.0],
    ...                    "currency": ["SEK", "eur", None, "XYZ"]})
    >>> out = in_report_currency(t, "EUR", {"SEK": 11.4}).execute()
    >>> out["revenue"].tolist(), out["currency"].tolist()
    ([10.0, 10.0, 5.0, nan], ['EUR', 'EUR', 'EUR', 'XYZ'])
    """
    # Rows without revenue (nearly all) are settled by the first case: the engines evaluate the
    # code, text work, only for the rest.
    free = events.revenue.isnull()
    code = events.currency.strip().upper()
    as_is = code.isnull() | (code == normalized_code(report))
    cases = [(code == normalized_code(name), events.revenue / rate) for name, rate in rates.items()]
    value = ibis.cases(
        (free, ibis.null("float64")), (as_is, events.revenue), *cases, else_=ibis.null("float64")
    )
    known = as_is | code.isin([normalized_code(n) for n in rates])
    currency = ibis.cases(
        (free, events.currency),
        (known, ibis.literal(normalized_code(report))),
        else_=events.currency,
    )
    return events.mutate(revenue=value.cast("float64"), currency=currency)


def revenue_currencies(events: ir.Table) -> pd.DataFrame:
    """Per currency of the events that carry revenue (more than 0: a log that writes 0 on
    every other event has no revenue there): ``currency`` (upper case; None for none),
    ``events`` and ``revenue``, most revenue first (one small aggregate).

    Examples
    --------
    >>> t = ibis.memtable({"revenue": [1.0, 2.0, None, 0.0],
    ...                    "currency": ["sek", "SEK", "EUR", "USD"]})
    >>> revenue_currencies(t).to_dict("records")
    [{'currency': 'SEK', 'events': 2, 'revenue': 3.0}]
    """
    paid = events.filter(events.revenue > 0)
    code = paid.currency.strip().upper()
    grouped = paid.group_by(currency=code).aggregate(
        events=paid.count(), revenue=paid.revenue.sum()
    )
    frame = grouped.execute()
    frame = frame.astype({"events": "int64", "revenue": "float64"})
    frame["currency"] = frame["currency"].astype(object).where(frame["currency"].notna(), None)
    order = frame.sort_values(["revenue", "currency"], ascending=[False, True], na_position="last")
    return order.reset_index(drop=True)
