"""Catalog suggestions: by name where the catalog says so, else where sessions place the event."""

from __future__ import annotations

import ibis
import pytest

from journeylens.analytics.suggest import FAMILY_MIN, name_words, suggest_catalog
from journeylens.config import Touchpoint, parse_config
from journeylens.journey.catalog import match_event
from journeylens.journey.templates import load_template
from journeylens.testing import journeys

CONFIG = parse_config(load_template("four_stage_delight"))
NONE = {"touchpoint": None}


def suggested(people: dict) -> dict[str, dict]:
    frame = suggest_catalog(ibis.memtable(journeys(people)), CONFIG).to_frame()
    return {row["events"]: row for row in frame.to_dict("records")}


@pytest.mark.parametrize(
    ("event", "touchpoint"),
    [
        ("support_chat", "chat"),  # the catalog's chat: its key is a word of the name
        ("checkout_bug", "checkout"),
        ("cart", "cart"),  # cart, not add_to_cart: all of add_to_cart's words are not there
        ("compare", "comparison_guide"),  # the word of its pattern compare_*
        ("wishlist_add", "wishlist_add"),  # "add" alone is not add_to_cart
        ("search", "search"),  # search ads and organic search alike: no answer by name
        ("ProductViewed", "product_page"),  # camel case, and "viewed" says nothing
    ],
)
def test_an_event_joins_the_touchpoint_its_name_says_and_no_other(event, touchpoint):
    found = suggested({"ann": [(event, "2026-01-01", NONE)]})
    assert found[event]["touchpoint"] == touchpoint


def test_a_catalogued_touchpoint_keeps_its_fields_and_gains_the_event():
    chat = next(t for t in CONFIG.touchpoints if t.touchpoint == "chat")
    row = suggested({"ann": [("agent_chat", "2026-01-01", NONE)]})["agent_chat"]
    assert row["match"] == "|".join((*chat.match, "agent_chat"))
    assert (row["stage"], row["channel"], row["cost"], row["owner"]) == (
        chat.stage,
        chat.channel,
        chat.cost,
        chat.owner,
    )
    assert row["why"] == "agent_chat: named like 'chat'"


def test_other_events_take_the_stage_their_sessions_put_them_in():
    # home starts both sessions: the first stage. delivery_options comes after the cart (a decision
    # event) in both; the payment_error is an error and stays unmapped.
    def visit(start: str) -> list:
        return [
            ("home", start, NONE),
            ("product_view", "+1m", {"stage": "consideration", "touchpoint": "product_page"}),
            ("cart_view", "+1m", {"stage": "decision", "touchpoint": "cart"}),
            ("delivery_options", "+1m", {**NONE, "channel": "web"}),
            ("payment_error", "+1m", NONE),
        ]

    found = suggested({"ann": visit("2026-01-01"), "bob": visit("2026-01-02")})
    assert set(found) == {"home", "delivery_options"}
    assert (found["home"]["stage"], found["home"]["volume"]) == ("awareness", 2)
    assert found["home"]["why"] == "home: nothing staged before it in 100% of its sessions"
    assert (found["delivery_options"]["stage"], found["delivery_options"]["channel"]) == (
        "decision",
        "web",
    )
    assert (
        found["delivery_options"]["why"]
        == "delivery_options: after decision events in 100% of its sessions"
    )


def test_name_words_leave_out_what_every_name_says():
    assert name_words("Add to Cart") == {"add", "cart"}
    assert name_words("page_view") == frozenset()


def test_every_engine_suggests_alike(make_workspace, tmp_path):
    ws = make_workspace()
    data = tmp_path / "shop.csv"
    data.write_text(
        "ts,event,user_id,channel\n"
        "2026-01-01T10:00:00Z,home,u1,web\n2026-01-01T10:01:00Z,product_view,u1,web\n"
        "2026-01-01T10:02:00Z,agent_chat,u1,\n2026-01-01T10:03:00Z,wishlist_add,u1,web\n"
    )
    ws.import_files([data])
    frame = suggest_catalog(ws.events, ws.config).to_frame()
    assert frame[["touchpoint", "stage", "channel", "volume"]].values.tolist() == [
        ["chat", "delight", "web", 1],
        ["home", "awareness", "web", 1],
        ["wishlist_add", "delight", "web", 1],
    ]


def test_names_that_differ_by_an_id_are_one_pattern_where_many_share_it():
    # A shop that names an event per product page, and a three-step form: the product pages
    # are one row matching them all (named like the catalog's product page); the form's steps
    # are too few to be read as ids and stay names of their own (of the catalog's lead form).
    n = FAMILY_MIN + 5
    products = [(f"page_view:/product/{1000 + i}", f"+{i}m", NONE) for i in range(n)]
    steps = [(f"form_step{k}", f"+{60 + k}m", NONE) for k in (1, 2, 3)]
    frame = suggest_catalog(
        ibis.memtable(journeys({"ann": [("home", "2026-01-01", NONE), *products, *steps]})),
        CONFIG,
    ).to_frame()
    rows = {row["touchpoint"]: row for row in frame.to_dict("records")}
    product = rows["product_page"]
    assert product["match"].split("|")[-1] == "page_view:/product/*"
    assert (product["names"], product["volume"]) == (n, n)
    assert product["events"] == f"page_view:/product/* ({n} names)"
    form = rows["lead_form"]
    assert form["match"].split("|")[-3:] == ["form_step1", "form_step2", "form_step3"]
    assert form["names"] == 3
    # Imported, the pattern maps every product page, and pages added since.
    others = [t for t in CONFIG.touchpoints if t.touchpoint != "product_page"]
    pages = Touchpoint("product_page", tuple(product["match"].split("|")), "consideration")
    assert match_event("page_view:/product/999999", [*others, pages]).touchpoint == "product_page"


def test_a_session_counts_once_for_an_event_at_its_first_occurrence():
    # The catalog opens both sessions; browsed again after a product page it is still what
    # the sessions start with: the first stage, not consideration (3 of its 5 events).
    product = ("product_view", "+1m", {"stage": "consideration", "touchpoint": "product_page"})
    again = [("catalog", "+1m", NONE)] * 3
    found = suggested(
        {"ann": [("catalog", "2026-01-01", NONE), product, *again, ("catalog", "+1d", NONE)]}
    )
    assert found["catalog"]["stage"] == CONFIG.stage_keys[0]
    assert found["catalog"]["why"] == "catalog: nothing staged before it in 100% of its sessions"


def test_the_stored_keys_place_events_as_the_text_order_does():
    # Events at the same instant (received in file order), several sessions and people: the
    # sessions read in person_seq order give what the times and ids give.
    staged = {"stage": "consideration", "touchpoint": "product_page"}
    people = {
        "ann": [
            ("catalog", "2026-01-01 10:00", NONE),
            ("product_view", "2026-01-01 10:00", staged),
            ("catalog", "2026-01-01 10:00", NONE),
            ("zebra_tile", "2026-01-02 09:00", NONE),
            ("product_view", "+1m", staged),
            ("zebra_tile", "+1m", NONE),
        ],
        "bo": [("zebra_tile", "2026-01-01 08:00", NONE), ("catalog", "+1m", NONE)],
    }
    table = ibis.memtable(journeys(people))
    assert {"person_key", "person_seq"} <= set(table.columns)
    keyed = suggest_catalog(table, CONFIG).to_frame()
    text = suggest_catalog(table.drop("person_key", "person_seq"), CONFIG).to_frame()
    assert keyed.equals(text)
    assert set(keyed["touchpoint"]) == {"catalog", "zebra_tile"}
