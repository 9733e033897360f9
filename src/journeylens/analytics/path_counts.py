"""Attribution from path counts: rows such as ``search > email > direct, 12 conversions, 980 of
value, 340 without conversion``, as ChannelAttribution takes them and as conversion-path reports
(Google Analytics' "Top Conversion Paths") export them.

Each row becomes that many journeys: ``conversions`` that end in a conversion worth
``value / conversions`` each, and ``nulls`` that end without one (a row with value and no
conversion is refused: nothing could carry its value). Every model then runs on those journeys
exactly as on events (see :mod:`.attribution`). A path has no times: every touch is within any
lookback, and time decay weighs a path's touches alike (it gives what linear gives).

Every model is linear in how many times a journey occurs (sums of per-journey credit, transition
and coalition counts), so each row runs as two journeys, one converting and one not, each
weighted by its count (:func:`build_path_touches`): a row counting millions of journeys costs
what one does, and the result is that of the journeys written out one by one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from journeylens.analytics._touches import is_direct_channel
from journeylens.analytics.attribution import (
    ALL_MODELS,
    AttributionResult,
    AttributionSpec,
    attribute_touches,
)
from journeylens.collect.columns import loosely_named
from journeylens.collect.importer import detail_at, unread_lines
from journeylens.collect.readers import (
    FileReader,
    check_sheets_read,
    open_readers,
    sheet_source,
    unread_sheets,
)
from journeylens.errors import ImportFileError, SpecError
from journeylens.store.duckdb import DuckDBStore

if TYPE_CHECKING:
    import ibis.expr.types as ir

GOAL = "conversion"
SEPARATOR = ">"
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


def read_path_counts(
    path: Path, sheets: Sequence[str] = (), encoding: str | None = None
) -> PathCounts:
    """Read a path-counts file (CSV, TSV, Parquet, JSON Lines or an Excel workbook, gzipped or
    not).

    The ``path`` column and one of ``conversions`` or ``nulls`` are required; ``value`` is 0
    when absent. Counts must be whole numbers ≥ 0 and values numbers ≥ 0, and a row with value
    needs conversions to carry it; a row that breaks this stops the run with an error naming the
    file, line, column and value (counts are totals: one wrong row would skew every model). So
    does a line that could not be read as a row, and a workbook whose sheets with values are not
    all read: its first sheet is read, or those ``sheets`` select (names or glob patterns, as
    ``import --sheet``), their rows together. A text file not in UTF-8 is read in the
    ``encoding`` named (as ``import --encoding``).
    """
    path = Path(path)
    try:
        return PathCounts(pd.concat(_read(path, sheets, encoding), ignore_index=True), str(path))
    except ImportFileError as exc:
        if exc.reason is None:  # an error of this module's, in its words already
            raise
        raise exc.worded_for("attributed") from exc


def _read(path: Path, sheets: Sequence[str], encoding: str | None) -> list[pd.DataFrame]:
    readers = open_readers(path, encoding, sheets=sheets)
    try:
        check_sheets_read(readers, sheets)
        for reader in readers:
            _check_sheets(reader, path)
        return [_counts(reader, sheet_source(reader, path)) for reader in readers]
    finally:
        for reader in readers:
            reader.close()


def _counts(reader: FileReader, path: Path) -> pd.DataFrame:
    """The checked rows of the file ``reader`` reads, shown as ``path``."""
    batches = list(reader.batches())
    _check_all_read(reader, path)
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
    _check_value_has_conversions(frame, raw, columns, path)
    return frame


def _check_sheets(reader: FileReader, path: Path) -> None:
    """Refuse a workbook whose first sheet alone would be read while others hold values."""
    if reader.sheet is None or not reader.sheet.unread:
        return
    raise ImportFileError(
        f"{path}: its first sheet, '{reader.sheet.title}', is not its only sheet with values; "
        f"nothing was attributed.{unread_sheets(reader)}"
    )


def _check_all_read(reader: FileReader, path: Path) -> None:
    """Refuse a file with lines that could not be read as rows (see :func:`.unread_lines`):
    left out, they would skew every model as a wrong count would."""
    unread = sorted(
        (line, reason, detail_at(detail, line), text)
        for reason, lines, detail in unread_lines(reader, again="run again")
        for line, text in lines.items()
    )
    if not unread:
        return
    line, reason, detail, text = unread[0]
    if reason == "invalid_encoding":  # its detail says the line is shown
        detail = f"{detail}: {text}"
    more = f"; {len(unread)} lines could not be read" if len(unread) > 1 else ""
    raise ImportFileError(
        f"{path}, line {line}: could not be read ({reason}: {detail}){more}. Nothing was "
        "attributed."
    )


def _check_value_has_conversions(
    frame: pd.DataFrame, raw: pd.DataFrame, columns: Mapping[str, str], path: Path
) -> None:
    """Refuse a row with value but no conversion: a journey's revenue is its conversion's, so
    nothing could carry it (ChannelAttribution would credit it; dropping it would lose it)."""
    stranded = (frame["value"] > 0) & (frame["conversions"] == 0)
    if not stranded.any():
        return
    at = int(np.flatnonzero(stranded.to_numpy())[0])
    given = columns["value"]
    counted = columns.get("conversions")
    why = f"{counted} is 0" if counted else "the file has no conversions column"
    raise ImportFileError(
        f"{path}, line {int(raw['_line'].iloc[at])}, column '{given}': {raw[given].iloc[at]!r} "
        f"of value with no conversions ({why}). Value is credited through conversions, each "
        "worth value / conversions, and this row has none to carry it: give its conversions, "
        "or set its value to 0. Nothing was attributed."
    )


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


def build_path_touches(
    counts: PathCounts, spec: AttributionSpec, con: ibis.BaseBackend | None = None
) -> ir.Table:
    """The touches of the journeys the rows stand for, as :func:`.attribute_touches` takes them:
    per row one converting journey (if it has conversions) and one without a conversion (if it
    has nulls), each with a ``weight``, how many such journeys the row counts. A converting
    journey is worth ``value / conversions``.

    A path has no times: every touch is within any lookback and as long before the journey's
    end as the last (``dt``), so time decay weighs a path's touches alike. Only the rows and
    their paths go to the engine: a row counting millions of journeys costs no more than one.

    Examples
    --------
    >>> rows = pd.DataFrame({"path": [["a", "b"]], "conversions": [3], "nulls": [1],
    ...                      "value": [12.0]})
    >>> spec = AttributionSpec("linear", level="channel", goal=GOAL)
    >>> touches = build_path_touches(PathCounts(rows, "x"), spec).order_by("person", "pos")
    >>> columns = ["person", "key", "pos", "converted", "revenue", "weight"]
    >>> touches.select(*columns).execute().values.tolist()
    [[0, 'a', 1, 1, 4.0, 3], [0, 'b', 2, 1, 4.0, 3], [1, 'a', 1, 0, 0.0, 1], [1, 'b', 2, 0, 0.0, 1]]
    """
    tables = _path_tables(counts.frame)
    if con is None:
        rows, places = (ibis.memtable(t) for t in tables.values())
    else:
        rows, places = (con.create_table(f"_path_{n}", t, temp=True) for n, t in tables.items())
    lags = spec.markov_order if "markov" in spec.models else 0
    in_row = ibis.window(group_by="row", order_by="place")
    places = places.mutate(
        direct=is_direct_channel(places.name, spec.direct_channels),
        **{f"prev_{b}": places.name.lag(b).over(in_row) for b in range(1, lags + 1)},
    )
    kept = places.group_by("row").aggregate(last_non_direct=places.place.max(where=~places.direct))
    nulls = rows.journeys - rows.conversions
    converting = rows.filter(rows.conversions > 0).select(
        "row",
        "length",
        person=rows.row * 2,
        converted=1,
        revenue=rows.worth,
        weight=rows.conversions,
    )
    lost = rows.filter(nulls > 0).select(
        "row", "length", person=rows.row * 2 + 1, converted=0, revenue=0.0, weight=nulls
    )
    journeys = converting.union(lost).inner_join(kept, "row")
    both = journeys.inner_join(places, "row")
    return both.select(
        person=both.person.cast("int64"),
        journey=ibis.literal(0, "int64"),
        key=both.name,
        converted=both.converted.cast("int64"),
        revenue=both.revenue.cast("float64"),
        pos=(both.place + 1).cast("int64"),
        n=both.length.cast("int64"),
        # A path has no times: its touches are as long before the journey's end as its last
        # (a converting journey ends a second later, at its conversion), so time decay weighs
        # them alike.
        dt=both.converted.cast("int64"),
        latest_dt=both.converted.cast("int64"),
        last_non_direct_pos=(both.last_non_direct + 1).fill_null(0).cast("int64"),
        **{f"prev_{b}": both[f"prev_{b}"] for b in range(1, lags + 1)},
        weight=both.weight.cast("int64"),
    )


def _path_tables(frame: pd.DataFrame) -> dict[str, pa.Table]:
    """Per row: its number, journeys, conversions, the number of its first journey, its path's
    length and the worth of each conversion; and per row its touches (``place``, ``name``)."""
    conversions = frame["conversions"].to_numpy(np.int64)
    journeys = conversions + frame["nulls"].to_numpy(np.int64)
    lengths = frame["path"].map(len).to_numpy(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        worth = np.where(conversions > 0, frame["value"].to_numpy(float) / conversions, 0.0)
    rows = pa.table(
        {
            "row": np.arange(len(frame)),
            "journeys": journeys,
            "conversions": conversions,
            "first": np.cumsum(journeys) - journeys,
            "length": lengths,
            "worth": worth,
        }
    )
    touches = pa.table(
        {
            "row": np.repeat(np.arange(len(frame)), lengths),
            "place": np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths),
            "name": pa.array([n for names in frame["path"] for n in names], pa.string()),
        }
    )
    return {"rows": rows, "touches": touches}


def run_path_attribution(
    path: Path,
    models: Sequence[str] = ("all",),
    value: str = "conversions",
    half_life: str = "7d",
    markov_order: int = 1,
    seed: int = 0,
    sheets: Sequence[str] = (),
    encoding: str | None = None,
) -> AttributionResult:
    """Every credit-sharing model in ``models`` on the journeys of a path-counts file, per
    channel (the names in the paths); a workbook's ``sheets`` and a text file's ``encoding``
    (see :func:`read_path_counts`)."""
    wanted = list(ALL_MODELS) if "all" in models else list(models)
    if "incrementality" in wanted:
        raise SpecError(
            "Incrementality compares people exposed to a touchpoint with comparable people who "
            "were not: it needs events, not path counts."
        )
    counts = read_path_counts(path, sheets, encoding)
    spec = AttributionSpec(
        wanted if len(wanted) > 1 else wanted[0],
        level="channel",
        goal=GOAL,
        value=value,  # type: ignore[arg-type]
        half_life=half_life,
        markov_order=markov_order,
        seed=seed,
    )
    # A scratch database: the engine's memory limit holds (JOURNEYLENS_MEMORY_LIMIT), and past it
    # the millions of journeys a file may count spill to this directory, not the current one.
    with (
        TemporaryDirectory(prefix="journeylens-paths-") as scratch,
        DuckDBStore(Path(scratch)) as store,
    ):
        return attribute_touches(build_path_touches(counts, spec, store.con), spec)
