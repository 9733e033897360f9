"""Synthetic event files for the benchmarks, written with numpy in bounded batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EVENTS = np.array(
    [
        "landing_view",
        "search_ad_click",
        "blog_view",
        "pricing_view",
        "review_view",
        "product_view",
        "add_to_cart",
        "checkout_start",
        "checkout_payment",
        "purchase",
        "newsletter_open",
        "chat_start",
        "help_article_view",
        "identify",
        "payment_error",
    ]
)
CHANNELS = np.array(["web", "app", "email", "search", "social", "store", "call_centre"])
DEVICES = np.array(["mobile", "desktop", "tablet"])
START = np.datetime64("2026-05-01T00:00:00", "us")


def event_batches(
    rows: int, seed: int = 1, batch: int = 1_000_000, prefix: str = "b", people: int | None = None
) -> Iterator[pa.Table]:
    """Yield tables of canonical-looking input rows, ``batch`` rows at a time: ids
    ``<prefix>0, <prefix>1, ...``, from ``people`` people (default: 25 events each)."""
    rng = np.random.default_rng(seed)
    people = people or max(rows // 25, 1)
    done = 0
    while done < rows:
        n = min(batch, rows - done)
        person = rng.integers(0, people, n)
        seconds = rng.integers(0, 180 * 86_400, n)
        event = EVENTS[rng.integers(0, len(EVENTS), n)]
        identified = rng.random(n) < 0.4
        revenue = np.where(event == "purchase", np.round(rng.lognormal(4, 0.6, n), 2), np.nan)
        yield pa.table(
            {
                "event_id": pa.array(np.char.add(prefix, (np.arange(n) + done).astype(str))),
                "ts": pa.array(START + seconds.astype("timedelta64[s]")),
                "event": pa.array(event),
                "anonymous_id": pa.array(np.char.add("a", person.astype(str))),
                "user_id": pa.array(
                    np.where(identified, np.char.add("u", person.astype(str)), None)
                ),
                "channel": pa.array(CHANNELS[rng.integers(0, len(CHANNELS), n)]),
                "device": pa.array(DEVICES[rng.integers(0, len(DEVICES), n)]),
                "revenue": pa.array(revenue),
                "plan": pa.array(np.where(rng.random(n) < 0.1, "pro", None)),
            }
        )
        done += n


def write_parquet(path: Path, rows: int, seed: int = 1, **options: Any) -> Path:
    """Write ``rows`` synthetic events to ``path`` (one row group per million rows); options
    as for :func:`event_batches`."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for table in event_batches(rows, seed, **options):
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return path


def write_csv(path: Path, parquet: Path) -> Path:
    """The same rows as a CSV file (timestamps as ISO-8601 with Z)."""
    import pyarrow.csv as pacsv

    if path.exists():
        return path
    with pacsv.CSVWriter(path, pq.ParquetFile(parquet).schema_arrow) as writer:
        for batch in pq.ParquetFile(parquet).iter_batches(batch_size=500_000):
            writer.write_batch(batch)
    return path


def write_jsonl(path: Path, parquet: Path) -> Path:
    """The same rows as JSON Lines, as a Segment export nests them: ``plan`` in a
    ``properties`` object, timestamps as ISO-8601 with Z."""
    import duckdb

    if path.exists():
        return path
    duckdb.execute(
        "COPY (SELECT event_id, strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, event, anonymous_id, "
        "user_id, channel, device, CASE WHEN NOT isnan(revenue) THEN revenue END AS revenue, "
        "CASE WHEN plan IS NOT NULL THEN {'plan': plan} END AS properties "
        "FROM read_parquet(?)) TO '" + str(path).replace("'", "''") + "' (FORMAT json)",
        [str(parquet)],
    )
    return path


def write_xes(path: Path, parquet: Path) -> Path:
    """The same rows as an XES event log: a trace per anonymous id (its ``concept:name``, the
    case), its events in time order with ``identity:id``, ``concept:name``, ``time:timestamp``,
    ``channel`` and ``device``. The generator's values need no XML escaping."""
    import duckdb

    if path.exists():
        return path
    attribute = "'<string key=\"{0}\" value=\"' || {1} || '\"/>'"
    fields = " || ".join(
        [
            attribute.format("identity:id", "event_id"),
            attribute.format("concept:name", "event"),
            "'<date key=\"time:timestamp\" value=\"' || strftime(ts, '%Y-%m-%dT%H:%M:%S')"
            " || 'Z\"/>'",
            attribute.format("channel", "channel"),
            attribute.format("device", "device"),
        ]
    )
    query = (
        "SELECT '<trace><string key=\"concept:name\" value=\"' || anonymous_id || '\"/>' || "
        f"string_agg('<event>' || {fields} || '</event>', '\n' ORDER BY ts, event_id) || "
        "'</trace>' AS trace FROM read_parquet(?) GROUP BY anonymous_id ORDER BY anonymous_id"
    )
    with duckdb.connect() as con, path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1849-2016">\n')
        reader = con.execute(query, [str(parquet)]).fetch_record_batch(100_000)
        for batch in reader:
            out.write("\n".join(batch.column(0).to_pylist()))
            out.write("\n")
        out.write("</log>\n")
    return path
