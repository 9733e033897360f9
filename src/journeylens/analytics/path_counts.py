"""Attribution from path counts: rows such as ``search > email > direct, 12 conversions, 980 of
value, 340 without conversion``, as ChannelAttribution takes them and as conversion-path reports
(Google Analytics' "Top Conversion Paths") export them.

Each row becomes that many journeys: ``conversions`` that end in a conversion worth
``value / conversions`` each, and ``nulls`` that end without one. Every model then runs on those
journeys exactly as on events (see :mod:`.attribution`). A path has no times: its touches are one
second apart, so every touch is within any lookback and time decay weighs them alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from journeylens.analytics.attribution import (
    ALL_MODELS,
    AttributionResult,
    AttributionSpec,
    run_attribution,
)
from journeylens.collect.columns import loosely_named
from journeylens.collect.readers import open_file
from journeylens.errors import ImportFileError, SpecError
from journeylens.schema import EVENTS, arrow_schema

GOAL = "conversion"
SEPARATOR = ">"
START = datetime(2026, 1, 1)
# Names the columns have in ChannelAttribution's data and in conversion-path reports, matched
# by letters and digits in any case (see ``collect.columns.loose_name``).
NAMES: Mapping[str, Sequence[str]] = {
    "path": (
        "path",
        "paths",
        "conversion_path",
        "source_medium_path",
        "channel_grouping_path",
        "mcf_channel_grouping_path",
        "channel_path",
    ),
    "conversions": ("total_conversions", "conversions", "conv", "conversion"),
    "value": ("total_conversion_value", "conversion_value", "value", "revenue"),
    "nulls": ("total_null", "total_nulls", "null", "nulls", "non_conversions"),
}


@dataclass(frozen=True)
class PathCounts:
    """The rows of a path-counts file: ``path`` (a list of names), ``conversions``, ``value``
    and ``nulls`` per row."""

    frame: pd.DataFrame
    source: str


def read_path_counts(path: Path) -> PathCounts:
    """Read a path-counts file (CSV, TSV, Parquet or JSON Lines, gzipped or not).

    The ``path`` column and one of ``conversions`` or ``nulls`` are required; ``value`` is 0
    when absent. Counts must be whole numbers ≥ 0 and values numbers ≥ 0; a row that breaks
    this stops the run with an error naming the file, line, column and value (counts are
    totals: one wrong row would skew every model).
    """
    with open_file(Path(path)) as reader:
        batches = list(reader.batches())
    table = pa.concat_tables(batches) if batches else pa.table({})
    raw = table.to_pandas()
    columns = _columns(list(raw.columns), str(path))
    lines = raw["_line"]  # every reader numbers its records
    frame = pd.DataFrame({"path": [_names(v) for v in raw[columns["path"]]]})
    for name in ("conversions", "nulls", "value"):
        given = columns.get(name)
        if given is None:
            frame[name] = 0
            continue
        numbers = pd.to_numeric(raw[given].map(report_number), errors="coerce")
        whole = name != "value"
        bad = numbers.isna() | (numbers < 0) | (whole & (numbers % 1 != 0))
        if bad.any():
            at = int(np.flatnonzero(bad.to_numpy())[0])
            expected = "a whole number ≥ 0" if whole else "a number ≥ 0"
            raise ImportFileError(
                f"{path}, line {int(lines.iloc[at])}, column '{given}': {raw[given].iloc[at]!r} "
                f"is not {expected}; nothing was attributed."
            )
        frame[name] = numbers.astype("int64" if whole else "float64")
    empty = frame["path"].map(len) == 0
    if empty.any():
        at = int(np.flatnonzero(empty.to_numpy())[0])
        raise ImportFileError(
            f"{path}, line {int(lines.iloc[at])}, column '{columns['path']}': the path is empty; "
            "nothing was attributed."
        )
    return PathCounts(frame, str(path))


# A number as reports write it: a currency before or after it, thousands grouped.
_AMOUNT = re.compile(r"^[^\d.,-]*(-?[\d.,]+)[^\d.,]*$")
_GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})+$")


def report_number(value: object) -> object:
    """A report's number as plain text: ``"US$1,200.50"`` → ``"1200.50"``, ``"1.200,50 €"`` →
    ``"1200.50"``, ``"12,5"`` → ``"12.5"``, ``"1,200"`` → ``"1200"``; anything else as given.

    Of ``,`` and ``.`` in one number the last is the decimal mark; a lone ``,`` is a thousands
    separator when it groups three digits, else the decimal mark.

    >>> [report_number(v) for v in ("US$1,200.50", "1.200,50 €", "12,5", "1,200", 3, "x")]
    ['1200.50', '1200.50', '12.5', '1200', 3, 'x']
    """
    if not isinstance(value, str):
        return value
    match = _AMOUNT.match(value.strip())
    if match is None:
        return value
    text = match.group(1)
    if "," in text and "." in text:
        decimal = "," if text.rfind(",") > text.rfind(".") else "."
        grouping = "." if decimal == "," else ","
        return text.replace(grouping, "").replace(decimal, ".")
    if "," in text:
        return text.replace(",", "") if _GROUPED.match(text) else text.replace(",", ".")
    return text


def _columns(found: list[str], source: str) -> dict[str, str]:
    """``role → column`` of the file, by exact then loose name."""
    columns = loosely_named([c for c in found if c != "_line"], NAMES)
    if "path" not in columns or not {"conversions", "nulls"} & set(columns):
        raise ImportFileError(
            f"{source}: a path-counts file needs a path column ({', '.join(NAMES['path'][:2])}) "
            f"and a count column ({NAMES['conversions'][0]} or {NAMES['nulls'][0]}); found "
            f"{', '.join(c for c in found if c != '_line') or 'none'}."
        )
    return columns


def _names(value: object) -> list[str]:
    """``"search > email"`` → ``["search", "email"]`` (names trimmed, empty ones dropped)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [name.strip() for name in str(value).split(SEPARATOR) if name.strip()]


def journeys_from_path_counts(counts: PathCounts) -> pa.Table:
    """The events of every journey the rows stand for (canonical schema, vectorised): per
    journey its touches, one second apart, then a ``conversion`` event for converting ones.

    Examples
    --------
    >>> rows = pd.DataFrame({"path": [["a", "b"]], "conversions": [1], "nulls": [1],
    ...                      "value": [10.0]})
    >>> table = journeys_from_path_counts(PathCounts(rows, "x"))
    >>> table.column("event").to_pylist()
    ['a', 'b', 'conversion', 'a', 'b']
    """
    frame = counts.frame
    conversions = frame["conversions"].to_numpy(np.int64)
    runs = conversions + frame["nulls"].to_numpy(np.int64)  # journeys per row
    row = np.repeat(np.arange(len(frame)), runs)  # the row of each journey
    converted = np.arange(runs.sum()) - np.repeat(np.cumsum(runs) - runs, runs) < conversions[row]
    lengths = frame["path"].map(len).to_numpy(np.int64)
    touches = lengths[row] + converted  # events per journey
    journey = np.repeat(np.arange(row.size), touches)
    place = np.arange(touches.sum()) - np.repeat(np.cumsum(touches) - touches, touches)
    names = np.array([name for names in frame["path"] for name in names] + [GOAL], dtype=object)
    first_name = np.cumsum(lengths) - lengths
    is_goal = place >= lengths[row][journey]
    name = names[np.where(is_goal, len(names) - 1, first_name[row][journey] + place)]
    with np.errstate(divide="ignore", invalid="ignore"):
        worth = np.where(conversions > 0, frame["value"].to_numpy(float) / conversions, 0.0)
    ts = np.datetime64(START, "us") + place.astype("timedelta64[s]")
    person = np.char.add("j", journey.astype(str))
    touched = name.copy()  # a touch's name; the conversion is no touch
    touched[is_goal] = None
    columns = {
        "event_id": np.char.add(person, np.char.add("-", place.astype(str))),
        "ts": ts,
        "received_at": ts,
        "event": name,
        "type": np.full(name.size, "track"),
        "user_id": person,
        "person_id": person,
        "touchpoint": touched,
        "channel": touched,
        "revenue": np.where(is_goal, worth[row][journey], np.nan),
    }
    schema = arrow_schema(EVENTS)
    arrays = [
        pa.array(columns[f.name], f.type, from_pandas=True)
        if f.name in columns
        else pa.nulls(name.size, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def run_path_attribution(
    path: Path,
    models: Sequence[str] = ("all",),
    value: str = "conversions",
    half_life: str = "7d",
    markov_order: int = 1,
    seed: int = 0,
) -> AttributionResult:
    """Every credit-sharing model in ``models`` on the journeys of a path-counts file, per
    channel (the names in the paths)."""
    import ibis

    wanted = list(ALL_MODELS) if "all" in models else list(models)
    if "incrementality" in wanted:
        raise SpecError(
            "Incrementality compares people exposed to a touchpoint with comparable people who "
            "were not: it needs events, not path counts."
        )
    events = ibis.memtable(journeys_from_path_counts(read_path_counts(path)))
    spec = AttributionSpec(
        wanted if len(wanted) > 1 else wanted[0],
        level="channel",
        goal=GOAL,
        value=value,  # type: ignore[arg-type]
        half_life=half_life,
        markov_order=markov_order,
        seed=seed,
    )
    return run_attribution(events, spec)
