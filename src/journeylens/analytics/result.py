"""What every analysis result offers: a DataFrame, JSON-ready records and a Plotly figure."""

from __future__ import annotations

import html
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import ibis
import pandas as pd


def json_ready(value: Any) -> Any:
    """Convert engine/pandas scalars into plain JSON values (NaN → None, times → ISO, floats
    to 12 significant digits)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, float):
        # 12 significant digits: sums that the engine's threads add in another order differ in
        # the last bits, and JSON of the same input should read the same every run.
        return float(f"{value:.12g}")
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if hasattr(value, "item"):  # numpy scalar
        return json_ready(value.item())
    return value


def listed(names: Sequence[str], most: int = 5) -> str:
    """The first ``most`` names, and how many more.

    Examples
    --------
    >>> listed(["a", "b", "c"], most=2)
    'a, b and 1 more'
    """
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as a list of JSON-ready records."""
    return [json_ready(row) for row in frame.to_dict(orient="records")]


class Result(ABC):
    """Base of analysis results. Subclasses are dataclasses holding small aggregates.

    ``queries`` are the engine expressions the result ran; :attr:`sql` is their SQL, compiled
    when read (compiling a long expression into text cost up to a quarter of a funnel's run).
    """

    queries: tuple[Any, ...] = ()

    @property
    def sql(self) -> str:
        """The SQL of the queries that made the result, separated by ``;``."""
        return ";\n".join(str(ibis.to_sql(query)) for query in self.queries)

    @abstractmethod
    def to_frame(self) -> pd.DataFrame:
        """The result as a pandas DataFrame."""

    def to_dict(self) -> Any:
        """The documented JSON shape (records with snake_case fields by default)."""
        return frame_records(self.to_frame())

    @abstractmethod
    def figure(self) -> Any:
        """A Plotly figure of the result (its labels through :func:`plot_labels`)."""


def plot_label(value: object) -> str:
    """A value (an event name, a touchpoint, a breakdown's value) as a figure's label: Plotly
    reads tags in labels (``<a href>`` a link, ``<span style>``, ``<br>``), so ``&``, ``<`` and
    ``>`` are written as the entities it shows as those characters.

    >>> plot_label('<a href="x">pay</a>'), plot_label("R&D"), plot_label(3)
    ('&lt;a href="x"&gt;pay&lt;/a&gt;', 'R&amp;D', '3')
    """
    return html.escape(str(value), quote=False)


def plot_labels(values: Iterable[object]) -> list[str]:
    """Each of ``values`` as :func:`plot_label`."""
    return [plot_label(value) for value in values]
