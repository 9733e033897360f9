"""Annotations: a change a team made to a touchpoint on a date ("new payment form").

Friction and funnels compare the period before an annotation's date with the period after it
(see :mod:`journeylens.analytics.changes`). Annotations live in the workspace's ``annotations``
table; their times are naive UTC like every other time in journeylens.

>>> import tempfile
>>> from journeylens.workspace import init_workspace
>>> ws = init_workspace(tempfile.mkdtemp())
>>> note = add_annotation(ws.store, "payment", datetime(2026, 9, 1), "new form", ["payment"])
>>> list_annotations(ws.store)["note"].tolist()
['new form']
>>> ws.close()
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from journeylens.errors import SpecError, unknown
from journeylens.instants import naive_utc
from journeylens.schema import ANNOTATIONS, arrow_schema
from journeylens.store import Store

TABLE = "annotations"


def add_annotation(
    store: Store, touchpoint: str, when: datetime | date | str, note: str, known: Sequence[str]
) -> dict[str, Any]:
    """Store an annotation on ``touchpoint`` (one of ``known``) at ``when`` (a datetime, a date
    or ISO 8601 text; see :func:`~journeylens.instants.naive_utc`); return it, its times as
    ISO 8601 text."""
    if touchpoint not in known:
        raise unknown("touchpoint", touchpoint, known, "to annotate")
    if not note.strip():
        raise SpecError("An annotation needs a note: say what changed, e.g. --note 'new form'.")
    record = {
        "annotation_id": uuid.uuid4().hex[:8],
        "touchpoint": touchpoint,
        "ts": naive_utc(when, "annotation date"),
        "note": note.strip(),
        "created_at": datetime.now(UTC).replace(tzinfo=None, microsecond=0),
    }
    store.write(TABLE, pa.Table.from_pylist([record], schema=arrow_schema(ANNOTATIONS)))
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}


def list_annotations(store: Store) -> pd.DataFrame:
    """Every annotation, in date order."""
    table = store.table(TABLE)
    return store.execute(table.order_by([table.ts, table.created_at]))


def get_annotation(store: Store, annotation_id: str) -> dict[str, Any]:
    """One annotation by id, or an error listing the ids there are."""
    table = store.table(TABLE)
    found = store.execute(table.filter(table.annotation_id == annotation_id))
    if found.empty:
        ids = store.execute(table.select("annotation_id"))["annotation_id"].tolist()
        raise unknown("annotation", annotation_id, ids)
    return {str(k): v for k, v in found.iloc[0].to_dict().items()}


def compared_touchpoint(annotated: str | None, touchpoint: str | None) -> str | None:
    """The touchpoint a before/after comparison is about: the annotation's (``annotated``),
    else the one named; a :class:`SpecError` when both are given and differ."""
    if annotated and touchpoint and touchpoint != annotated:
        raise SpecError(
            f"--annotation is about '{annotated}', not '{touchpoint}': leave out "
            "--touchpoint, or use --compare-at with the annotation's date."
        )
    return annotated or touchpoint


def remove_annotation(store: Store, annotation_id: str) -> None:
    """Delete one annotation (an error when there is no such id)."""
    get_annotation(store, annotation_id)
    table = store.table(TABLE)
    store.replace(TABLE, table.filter(table.annotation_id != annotation_id))
