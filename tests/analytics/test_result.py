"""Results keep the expressions they ran; their SQL is compiled when it is read."""

from __future__ import annotations

import ibis
import pytest

from journeylens.analytics.attribution import AttributionSpec, run_attribution
from journeylens.analytics.paths import run_transitions
from journeylens.analytics.stages import run_stage_flow
from journeylens.testing import journeys


@pytest.fixture
def events() -> ibis.Table:
    people = {
        "ann": [("ad", "2026-01-01", {"stage": "awareness"}), ("purchase", "+1d")],
        "bo": [("mail", "2026-01-02", {"stage": "awareness"})],
    }
    return ibis.duckdb.connect().create_table("events", journeys(people))


def test_each_query_of_a_result_reads_as_sql(events: ibis.Table) -> None:
    results = [
        run_transitions(events),
        run_attribution(events, AttributionSpec(["linear", "markov"])),
        run_stage_flow(events, ["awareness", "decision"]),
    ]
    for result in results:
        statements = result.sql.split(";\n")
        assert len(statements) == len(result.queries) >= 1
        assert all(s.lstrip().startswith(("SELECT", "WITH")) for s in statements)
