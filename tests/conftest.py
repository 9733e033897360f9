"""Shared fixtures: the engine matrix and workspaces on each engine.

Every test that takes ``engine`` runs once on DuckDB and once on Spark; the Spark run carries the
``spark`` marker (``-m "not spark"`` for a quick run). The Spark session starts on the first Spark
test and is shared by the whole run (see :func:`journeylens.store.spark.spark_session`); in a
parallel run, all of them run on one worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from journeylens.workspace import Workspace, init_workspace

ENGINES = [pytest.param("duckdb"), pytest.param("spark", marks=pytest.mark.spark)]

MakeWorkspace = Callable[..., Workspace]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Spark tests run on one worker of a parallel run (``--dist loadgroup``): each worker
    that runs one starts a Spark session of its own, which takes tens of seconds. First among
    the hooks, so that xdist, which groups the tests in its own hook, finds the marks."""
    for item in items:
        if item.get_closest_marker("spark"):
            item.add_marker(pytest.mark.xdist_group("spark"))


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine name; session-scoped so the tests of one engine run together."""
    return str(request.param)


@pytest.fixture
def make_workspace(engine: str, tmp_path: Path) -> Iterator[MakeWorkspace]:
    """A factory of fresh workspaces on ``engine``, closed after the test."""
    opened: list[Workspace] = []

    def make(template: str = "four_stage_delight", name: str = "ws") -> Workspace:
        workspace = init_workspace(tmp_path / name, template, engine=engine)
        opened.append(workspace)
        return workspace

    yield make
    for workspace in opened:
        workspace.close()
