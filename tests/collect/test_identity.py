"""Identity stitching through the real import path, on DuckDB and on Spark alike.

One file holds four people's hand-made journeys, another aliases that loop and chain on; each
is imported once per engine and each test reads the person it is about.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from unittest import mock

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.collect.identity import unlinked_shared_ids
from journeylens.journey import rebuild
from journeylens.workspace import init_workspace

# ts, event, type, anonymous_id, user_id
ROWS = [
    # alice browses on her phone and her laptop, logs in on the laptop, then on the phone.
    ("2026-03-01T09:00:00Z", "pricing_view", "track", "phone-a", ""),
    ("2026-03-01T09:10:00Z", "product_view", "track", "laptop-a", ""),
    ("2026-03-01T09:20:00Z", "identify", "identify", "laptop-a", "alice"),
    ("2026-03-02T08:00:00Z", "identify", "identify", "phone-a", "alice"),
    ("2026-03-02T08:05:00Z", "purchase", "track", "phone-a", "alice"),
    # A shop kiosk: carol's login comes first in the file but an hour after bob's.
    ("2026-03-01T11:00:00Z", "identify", "identify", "kiosk", "carol"),
    ("2026-03-01T11:05:00Z", "purchase", "track", "kiosk", "carol"),
    ("2026-03-01T09:55:00Z", "product_view", "track", "kiosk", ""),
    ("2026-03-01T10:00:00Z", "identify", "identify", "kiosk", "bob"),
    # dave signs up as 'dave-old'; an alias (previousId dave-old) renames him 'dave'.
    ("2026-03-01T12:00:00Z", "login", "track", "dev-d", "dave-old"),
    ("2026-03-01T12:30:00Z", "alias", "alias", "dave-old", "dave"),
    ("2026-03-01T13:00:00Z", "purchase", "track", "dev-d2", "dave"),
    # erin is renamed three times, each alias naming the id before (previousId): one person.
    ("2026-03-02T09:00:00Z", "pricing_view", "track", "dev-e", "erin-1"),
    ("2026-03-02T09:10:00Z", "alias", "alias", "erin-1", "erin-2"),
    ("2026-03-02T09:20:00Z", "alias", "alias", "erin-2", "erin-3"),
    ("2026-03-02T09:30:00Z", "alias", "alias", "erin-3", "erin-4"),
    ("2026-03-02T09:40:00Z", "purchase", "track", "dev-e2", "erin-4"),
    # ghost never logs in.
    ("2026-03-01T14:00:00Z", "blog_view", "track", "ghost", ""),
    ("2026-03-01T14:05:00Z", "pricing_view", "track", "ghost", ""),
]


def aliases(ids: list[str], day: int) -> list[tuple[str, ...]]:
    """An alias from each of ``ids`` to the next (the next renames it), a minute apart."""
    return [
        (f"2026-03-{day:02d}T10:{minute:02d}:00Z", "alias", "alias", old, new)
        for minute, (old, new) in enumerate(pairwise(ids))
    ]


def purchases(ids: list[str], day: int) -> list[tuple[str, ...]]:
    """A purchase by each of ``ids`` as a user, after the aliases of the day."""
    return [
        (f"2026-03-{day:02d}T12:{n:02d}:00Z", "purchase", "track", "", u) for n, u in enumerate(ids)
    ]


# Aliases that loop back to an id before them, and long chains. A loop has no last id: its ids,
# and the ids linked into it, are one person, named by the loop's least id.
LOOPS = [
    # ua is renamed ub, then uc, then ua again; dev-c logged in as uc before.
    ("2026-03-01T09:00:00Z", "login", "track", "dev-c", "uc"),
    *aliases(["ua", "ub", "uc", "ua"], 1),
    *purchases(["ua", "ub", "uc"], 1),
    # Two aliases that undo each other.
    *aliases(["u5", "u6", "u5"], 2),
    *purchases(["u5", "u6"], 2),
    # A loop of four, its least id neither first nor last; dev-w logged in as w2.
    ("2026-03-03T09:00:00Z", "login", "track", "dev-w", "w2"),
    *aliases(["w4", "w2", "w3", "w1", "w4"], 3),
    *purchases(["w4", "w2", "w3", "w1"], 3),
    # 40 aliases in a chain (k00 → k01 → ... → k40); dev-k logged in as k00.
    ("2026-03-04T09:00:00Z", "login", "track", "dev-k", "k00"),
    *aliases([f"k{n:02d}" for n in range(41)], 4),
    *purchases(["k00", "k40"], 4),
    # 40 aliases in a chain that ends in a loop of three: m40 → m41 → m42 → m40.
    *aliases([*(f"m{n:02d}" for n in range(43)), "m40"], 5),
    *purchases(["m00", "m41"], 5),
]

Imported = Callable[[str], tuple[pd.DataFrame, dict]]


def write_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    lines = ["ts,event,type,anonymous_id,user_id", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def importer(factory: pytest.TempPathFactory, rows: list[tuple[str, ...]]) -> Imported:
    """Import ``rows`` once per engine: (events sorted by time and id, status)."""
    cache: dict[str, tuple[pd.DataFrame, dict]] = {}

    def load(engine: str) -> tuple[pd.DataFrame, dict]:
        if engine not in cache:
            directory = factory.mktemp(f"identity-{engine}")
            csv = write_csv(directory / "events.csv", rows)
            with init_workspace(directory / "ws", "four_stage_delight", engine=engine) as ws:
                summary = ws.import_files([csv])
                assert (summary.stored, summary.rejected) == (len(rows), 0)
                frame = ws.store.execute(ws.events.order_by(["ts", "event_id"]))
                cache[engine] = (frame, ws.status().to_dict())
        return cache[engine]

    return load


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return importer(tmp_path_factory, ROWS)


@pytest.fixture(scope="module")
def imported_loops(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return importer(tmp_path_factory, LOOPS)


@pytest.fixture
def events(engine: str, imported: Imported) -> pd.DataFrame:
    return imported(engine)[0]


@pytest.fixture
def loops(engine: str, imported_loops: Imported) -> pd.DataFrame:
    return imported_loops(engine)[0]


def bought(events: pd.DataFrame, users: list[str]) -> list[str]:
    """The person of each of ``users``' purchases, in the order of ``users``."""
    buys = events[events.event == "purchase"].set_index("user_id").person_id
    return buys.loc[users].tolist()


def people_of(events: pd.DataFrame, anonymous_id: str) -> list[str]:
    return events.loc[events.anonymous_id == anonymous_id, "person_id"].tolist()


def test_anonymous_events_on_two_devices_join_the_user_who_logs_in(events):
    # The 09:00 phone view and the 09:10 laptop view happened before any login.
    assert people_of(events, "phone-a") == ["alice", "alice", "alice"]
    assert people_of(events, "laptop-a") == ["alice", "alice"]


def test_an_anonymous_id_shared_by_two_users_goes_to_the_first_by_time(events):
    # kiosk met bob at 10:00 and carol at 11:00: its anonymous 09:55 view is bob's, even though
    # carol's rows come first in the file; rows carrying a user id stay with that user.
    kiosk = events[events.anonymous_id == "kiosk"]
    assert list(zip(kiosk.user_id.fillna(""), kiosk.person_id, strict=True)) == [
        ("", "bob"),
        ("bob", "bob"),
        ("carol", "carol"),
        ("carol", "carol"),
    ]


def test_an_alias_merges_the_previous_user_id_into_the_new_one(events):
    # The login as dave-old (on dev-d), the alias row and the purchase as dave are one person.
    dave = events[events.anonymous_id.isin(["dev-d", "dave-old", "dev-d2"])]
    assert dave.person_id.tolist() == ["dave", "dave", "dave"]
    assert "dave-old" not in set(events.person_id)


def test_a_chain_of_aliases_resolves_to_its_last_id(events):
    erin = events[events.anonymous_id.str.match(r"dev-e|erin")]
    assert erin.person_id.tolist() == ["erin-4"] * 5


def test_people_who_never_identify_keep_their_anonymous_id(events):
    assert people_of(events, "ghost") == ["ghost", "ghost"]


def test_status_counts_each_stitched_person_once(engine, imported):
    # alice, bob, carol, dave, erin, ghost; 19 rows.
    status = imported(engine)[1]
    assert (status["events"], status["people"]) == (19, 6)


def test_a_loop_of_aliases_is_one_person_named_by_its_least_id(loops):
    # Each purchase stays with its buyer, whose ids are all one person: no rotation of people.
    assert bought(loops, ["ua", "ub", "uc"]) == ["ua"] * 3
    assert people_of(loops, "dev-c") == ["ua"]
    # The map's hops take two links at a time, which split a loop of four into two: not here.
    assert bought(loops, ["w4", "w2", "w3", "w1"]) == ["w1"] * 4
    assert people_of(loops, "dev-w") == ["w1"]


def test_two_aliases_that_undo_each_other_are_one_person(loops):
    assert bought(loops, ["u5", "u6"]) == ["u5", "u5"]
    assert set(loops[loops.user_id.isin(["u5", "u6"])].person_id) == {"u5"}


def test_a_chain_of_forty_aliases_resolves_to_its_last_id(loops):
    assert bought(loops, ["k00", "k40"]) == ["k40", "k40"]
    assert people_of(loops, "dev-k") == ["k40"]
    assert set(loops[loops.user_id.str.startswith("k", na=False)].person_id) == {"k40"}


def test_a_chain_into_a_loop_joins_the_loop_s_person(loops):
    # m00 → ... → m40 → m41 → m42 → m40: the chain's ids are the loop's person.
    assert bought(loops, ["m00", "m41"]) == ["m40", "m40"]
    assert set(loops[loops.user_id.str.startswith("m", na=False)].person_id) == {"m40"}


def test_status_counts_each_loop_and_chain_as_one_person(engine, imported_loops):
    status = imported_loops(engine)[1]
    assert (status["events"], status["people"]) == (len(LOOPS), 5)


@pytest.mark.parametrize(
    ("first", "later"),
    [(["ua", "ub", "uc"], ["uc", "ua"]), (["u5", "u6"], ["u6", "u5"])],
    ids=["three", "two"],
)
def test_an_alias_that_closes_a_loop_in_a_later_import_makes_one_person(
    engine, make_workspace, tmp_path, first, later
):
    ws = make_workspace()
    ws.import_files([write_csv(tmp_path / "one.csv", [*aliases(first, 1), *purchases(first, 1)])])
    with (
        mock.patch.object(rebuild, "APPEND_MAX_SHARE", 1000.0),
        mock.patch.object(rebuild, "rebuild_all", wraps=rebuild.rebuild_all) as rebuilt,
    ):
        ws.import_files([write_csv(tmp_path / "two.csv", aliases(later, 2))])
    assert rebuilt.call_count == (engine == "spark")  # DuckDB appends, Spark rebuilds
    events = ws.store.execute(ws.events)
    assert bought(events, first) == [min(first)] * len(first)
    assert set(events.person_id) == {min(first)}
    assert events.person_key.nunique() == 1
    assert ws.status().people == 1


def looped_person(renames: dict[str, str], user: str) -> str:
    """The reference: follow ``user``'s renames to the last id, or to the loop they enter,
    named by its least id."""
    path = [user]
    while path[-1] in renames:
        after = renames[path[-1]]
        if after in path:
            return min(path[path.index(after) :])
        path.append(after)
    return path[-1]


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    renames=st.dictionaries(st.sampled_from("abcdefg"), st.sampled_from("abcdefg"), min_size=1),
    order=st.randoms(use_true_random=False),
    cut=st.integers(1, 6),
)
def test_aliases_in_any_graph_give_each_purchase_its_buyer_s_person(
    tmp_path_factory, renames, order, cut
):
    renames = {old: new for old, new in renames.items() if old != new}
    users = sorted({*renames, *renames.values()}) or ["a"]
    edges = list(renames.items())
    order.shuffle(edges)  # the aliases in any order of time
    rows = [
        (f"2026-03-01T10:{minute:02d}:00Z", "alias", "alias", old, new)
        for minute, (old, new) in enumerate(edges)
    ]
    rows += purchases(users, 2)
    folder = tmp_path_factory.mktemp("loops")
    with (
        init_workspace(folder / "ws") as ws,
        mock.patch.object(rebuild, "APPEND_MAX_SHARE", 1000.0),
    ):
        ws.import_files([write_csv(folder / "one.csv", rows[:cut])])
        if rows[cut:]:
            ws.import_files([write_csv(folder / "two.csv", rows[cut:])])
        events = ws.store.execute(ws.events)
    assert bought(events, users) == [looped_person(renames, u) for u in users]


@pytest.mark.spark
def test_duckdb_and_spark_store_the_same_events(imported, imported_loops):
    # received_at is the moment of each import, so the two runs differ there only.
    for load in (imported, imported_loops):
        duck, spark = (load(e)[0].drop(columns="received_at") for e in ("duckdb", "spark"))
        pd.testing.assert_frame_equal(duck, spark)
        assert load("duckdb")[1] == load("spark")[1]


def test_anonymous_ids_written_as_unlinked_user_ids_are_found():
    # Visitor 1 and customer 1 (separate counters) are read as one; 'u9' logs in as itself
    # (PostHog's distinct_id once identified), carol's anonymous id names her only from her
    # first row as a user on, and an alias names a previous user id: all fine. The rows of
    # ROWS, with their aliases, have none.
    columns = ["ts", "event", "type", "anonymous_id", "user_id"]
    rows = [
        ("2026-01-01 10:00", "page_view", "track", "1", None),
        ("2026-01-02 09:00", "login", "track", "7", "1"),
        ("2026-01-02 09:00", "page_view", "track", "2", None),
        ("2026-01-03 09:00", "login", "track", "8", "2"),
        ("2026-01-03 10:00", "login", "track", "u9", "u9"),
        ("2026-01-03 11:00", "page_view", "track", "u9", None),
        ("2026-01-03 12:00", "alias", "alias", "old", "new"),
        ("2026-01-03 12:00", "login", "track", "d", "old"),
        # PostHog: carol's distinct_id is her anonymous id from the $identify on.
        ("2026-01-04 10:00", "$pageview", "track", "anon-x", None),
        ("2026-01-04 10:02", "$identify", "track", "anon-x", "carol"),
        ("2026-01-04 10:03", "signup_done", "track", "carol", None),
    ]
    frame = pd.DataFrame(rows, columns=columns).assign(ts=lambda f: pd.to_datetime(f.ts))
    assert unlinked_shared_ids(ibis.memtable(frame)) == (2, ["1", "2"])
    clean = pd.DataFrame([r[:5] for r in ROWS], columns=columns).replace("", None)
    assert unlinked_shared_ids(ibis.memtable(clean.assign(ts=pd.to_datetime(clean.ts)))) == (0, [])


# A visitor pays on a phone as 'X' and answers the payment's survey logged in as 'U'; the day
# after, 'U' lands on a laptop. Only the answer carries both ids.
VISIT = (
    "ts,event,anonymous_id,user_id,device\n"
    "2026-01-02T09:00:00Z,checkout_payment,X,,mobile\n"
    "2026-01-03T09:00:00Z,landing_page_view,,U,desktop\n"
)
ANSWER = (
    "feedback_id,ts,anonymous_id,user_id,metric,score,touchpoint\n"
    "q1,2026-01-02T09:10:00Z,X,U,ces,1,payment\n"
)


def import_texts(ws, tmp_path: Path, texts: list[tuple[str, str]]) -> None:
    """Import each ``(kind, text)`` in turn, one file each."""
    for number, (kind, text) in enumerate(texts):
        path = tmp_path / f"{kind}{number}.csv"
        path.write_text(text, encoding="utf-8")
        ws.import_files([path], kind=kind)


@pytest.mark.parametrize("answer_first", [False, True], ids=["events-first", "answer-first"])
def test_an_answer_with_both_ids_links_the_anonymous_events_to_the_user(
    make_workspace, tmp_path, answer_first
):
    texts = [("events", VISIT), ("feedback", ANSWER)]
    ws = make_workspace()
    import_texts(ws, tmp_path, texts[::-1] if answer_first else texts)
    events = ws.store.execute(ws.events.order_by("ts"))
    assert events.person_id.tolist() == ["U", "U"]
    assert events.session_id.tolist() == ["U#1", "U#2"]  # a day apart: two sessions
    assert events.person_seq.tolist() == [1, 2]
    assert events.person_key.nunique() == 1
    assert ws.store.execute(ws.feedback).person_id.tolist() == ["U"]
    assert ws.status().people == 1


@pytest.mark.parametrize(("answered", "owner"), [("09:30", "carol"), ("10:30", "bob")])
def test_an_id_linked_by_an_event_and_an_answer_goes_to_the_first_user_by_time(
    make_workspace, tmp_path, answered, owner
):
    # kiosk logs in as bob at 10:00; an answer on it names carol before or after.
    visit = (
        "ts,event,anonymous_id,user_id\n"
        "2026-03-01T09:00:00Z,product_view,kiosk,\n"
        "2026-03-01T10:00:00Z,identify,kiosk,bob\n"
    )
    answer = (
        "feedback_id,ts,anonymous_id,user_id,metric,score\n"
        f"q1,2026-03-01T{answered}:00Z,kiosk,carol,nps,3\n"
    )
    ws = make_workspace()
    import_texts(ws, tmp_path, [("events", visit), ("feedback", answer)])
    events = ws.store.execute(ws.events.order_by("ts"))
    assert events.person_id.tolist() == [owner, "bob"]
    assert ws.store.execute(ws.feedback).person_id.tolist() == ["carol"]
