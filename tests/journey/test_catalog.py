"""Catalog matching: names, glob patterns, and entries with property conditions."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeylens.config import Touchpoint
from journeylens.errors import ConfigError, ImportFileError
from journeylens.journey.catalog import conditional_matches, match_event
from journeylens.workspace import open_workspace

# One event name for every page, as PostHog sends it: the URL says which touchpoint it is.
CATALOG = [
    Touchpoint("pricing", ("$pageview[$current_url~*/pricing*]",), "consideration", "web"),
    Touchpoint("blog", ("$pageview[$current_url~*/blog/*]", "blog_*"), "awareness"),
    Touchpoint("big_order", ("purchase[revenue>=100]",), "decision", "web"),
    Touchpoint("purchase", ("purchase",), "decision", "store"),
    Touchpoint("website", ("$pageview",), "awareness", "web"),
    Touchpoint("variant", ("test_[ab]",), "consideration"),  # a glob's character class
]

ROWS = [
    ("e1", "$pageview", {"$current_url": "https://shop.example/pricing?plan=pro"}, None, None),
    ("e2", "$pageview", {"$current_url": "https://shop.example/blog/how-to"}, None, None),
    ("e3", "$pageview", {"$current_url": "https://shop.example/"}, None, None),
    ("e4", "purchase", {}, 150.0, None),
    ("e5", "purchase", {}, 20.0, None),
    ("e6", "purchase", {}, 150.0, "email"),  # a channel given on the row is kept
    ("e7", "blog_post_view", {}, None, None),
    ("e8", "test_b", {}, None, None),
    ("e9", "$pageview", {"$current_url": 42}, None, None),  # not text: no glob matches
]


def _write(path: Path) -> Path:
    lines = []
    for i, (event_id, event, properties, revenue, channel) in enumerate(ROWS):
        row = {
            "event_id": event_id,
            "ts": f"2026-03-01T10:0{i}:00Z",
            "event": event,
            "anonymous_id": "p1",
            "properties": properties,
            "revenue": revenue,
            "channel": channel,
        }
        lines.append(json.dumps({k: v for k, v in row.items() if v is not None}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_conditions_place_events_that_share_a_name(make_workspace, tmp_path):
    ws = make_workspace()
    ws.set_catalog(CATALOG)
    ws.import_files([_write(tmp_path / "posthog.jsonl")])
    frame = ws.store.execute(ws.events.order_by("event_id"))
    placed = {r.event_id: (r.touchpoint, r.stage, r.channel) for r in frame.itertuples(index=False)}
    assert placed == {
        "e1": ("pricing", "consideration", "web"),
        "e2": ("blog", "awareness", None),  # the winner's channel, not website's
        "e3": ("website", "awareness", "web"),
        "e4": ("big_order", "decision", "web"),  # the condition beats the exact name
        "e5": ("purchase", "decision", "store"),
        "e6": ("big_order", "decision", "email"),
        "e7": ("blog", "awareness", None),
        "e8": ("variant", "consideration", None),
        "e9": ("website", "awareness", "web"),
    }
    report = ws.touchpoint_report()
    people = report.catalog.set_index("touchpoint")["events"].to_dict()
    assert (people["pricing"], people["website"], people["big_order"]) == (1, 2, 2)
    assert report.unmapped.empty


def test_a_touchpoint_given_on_the_row_takes_the_catalog_s_stage_and_channel(
    make_workspace, tmp_path
):
    # A store's till names its touchpoint itself; the catalog says where it sits.
    ws = make_workspace()
    ws.set_catalog(CATALOG)
    header = "event_id,ts,event,anonymous_id,touchpoint,stage,channel\n"
    first = tmp_path / "till.csv"
    first.write_text(
        header + "t1,2026-03-01T10:00:00Z,pos_sale,p1,purchase,,\n"
        "t2,2026-03-01T10:01:00Z,pos_sale,p2,purchase,,kiosk\n"
        "t3,2026-03-01T10:02:00Z,pos_sale,p3,counter,,\n"  # not in the catalog: as given
        "t4,2026-03-01T10:03:00Z,$pageview,p4,purchase,,\n"  # its own, whatever matches
    )
    later = tmp_path / "later.csv"  # appended to the stored events where the engine appends
    later.write_text(header + "t5,2026-03-02T10:00:00Z,pos_sale,p5,pricing,,\n")
    if ws.store.updates_in_place:
        ws.import_files([first])
        ws.import_files([later])
    else:  # Spark places everything again on every import: once is enough here
        ws.import_files([first, later])
    frame = ws.store.execute(ws.events.order_by("event_id"))
    placed = {r.event_id: (r.touchpoint, r.stage, r.channel) for r in frame.itertuples(index=False)}
    assert placed == {
        "t1": ("purchase", "decision", "store"),
        "t2": ("purchase", "decision", "kiosk"),
        "t3": ("counter", None, None),
        "t4": ("purchase", "decision", "store"),
        "t5": ("pricing", "consideration", "web"),
    }
    assert ws.stages().to_frame().set_index("stage")["people"]["decision"] == 3


def test_a_touchpoint_and_stage_given_on_the_row_outlive_catalog_changes(make_workspace, tmp_path):
    # The till names its touchpoint, a form its stage: a catalog entry that matches their
    # events, and its removal, leave both as given (they were overwritten, then lost).
    ws = make_workspace()
    data = tmp_path / "given.csv"
    data.write_text(
        "event_id,ts,event,user_id,touchpoint,stage\n"
        "g1,2026-09-10T10:00:00Z,till_sale,u1,pos_till,\n"
        "g2,2026-09-10T10:05:00Z,store_visit,u1,,awareness\n"
        "g3,2026-09-10T10:06:00Z,store_visit,u1,,\n"
    )
    ws.import_files([data])

    def placed() -> dict[str, tuple[object, object]]:
        frame = ws.store.execute(ws.events.order_by("event_id"))
        return {r.event_id: (r.touchpoint, r.stage) for r in frame.itertuples(index=False)}

    store = Touchpoint("store_visit", ("store_visit", "till_sale"), "decision")
    ws.set_catalog([*CATALOG, store])
    assert placed() == {
        "g1": ("pos_till", None),
        "g2": ("store_visit", "awareness"),
        "g3": ("store_visit", "decision"),
    }
    ws.set_catalog([*CATALOG, Touchpoint("store_visit", ("store_visit_x",), "decision")])
    assert placed() == {"g1": ("pos_till", None), "g2": (None, "awareness"), "g3": (None, None)}


def test_a_condition_that_does_not_parse_names_the_touchpoint(make_workspace, tmp_path):
    ws = make_workspace()
    bad = [*CATALOG, Touchpoint("broken", ("signup[plan>pro]",), "decision")]
    with pytest.raises(ConfigError, match=r"Touchpoint 'broken', match 'signup\[plan>pro\]'"):
        ws.set_catalog(bad)
    assert "broken" not in {t.touchpoint for t in ws.config.touchpoints}  # nothing saved
    ws.close()
    open_workspace(ws.path).close()  # the saved catalog still opens


def test_names_and_patterns_ignore_entries_with_conditions():
    assert match_event("$pageview", CATALOG).touchpoint == "website"
    assert match_event("purchase", CATALOG).touchpoint == "purchase"
    assert match_event("test_a", CATALOG).touchpoint == "variant"
    matches = conditional_matches(CATALOG)
    assert [(m.touchpoint.touchpoint, m.name) for m in matches] == [
        ("pricing", "$pageview"),
        ("blog", "$pageview"),
        ("big_order", "purchase"),
    ]


def test_a_catalog_file_row_whose_condition_does_not_parse_is_rejected(make_workspace, tmp_path):
    ws = make_workspace()
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "touchpoint,match,stage\n"
        "pricing,$pageview[$current_url~*/pricing*]|pricing_view,consideration\n"
        "broken,signup[plan>pro],decision\n"
        "unclosed,signup[=pro,decision\n"
        "empty,signup[],decision\n"
    )
    summary = ws.import_files([catalog], kind="touchpoints")
    assert (summary.stored, summary.rejected_by_reason) == (1, {"invalid_touchpoint": 3})
    ws.import_files([catalog], kind="touchpoints")  # again: its rejections replaced, not added
    rejected = ws.store.execute(ws.rejected.order_by("line"))
    assert rejected["field"].tolist() == ["match"] * 3
    detail = rejected["detail"].tolist()
    assert "catalog.csv line 3: match 'signup[plan>pro]'" in detail[0]
    assert "opens neither a property condition" in detail[1]
    assert "'signup[]'" in detail[2]
    pricing = next(t for t in ws.config.touchpoints if t.touchpoint == "pricing")
    assert pricing.match == ("$pageview[$current_url~*/pricing*]", "pricing_view")
    ws.import_files([_write(tmp_path / "posthog.jsonl")])
    placed = ws.store.execute(ws.events.filter(ws.events.event_id == "e1"))
    assert placed["touchpoint"].tolist() == ["pricing"]


def test_a_catalog_row_with_another_number_of_fields_is_rejected(make_workspace, tmp_path):
    ws = make_workspace()
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "touchpoint,match,stage\n"
        "chat,chat_start,delight\n"
        "quiz,quiz_start,consideration,extra\n"
        "faq,faq_view,delight\n"
    )
    summary = ws.import_files([catalog], kind="touchpoints")
    assert (summary.rows, summary.stored) == (3, 2)
    assert summary.rejected_by_reason == {"wrong_field_count": 1}
    rejected = ws.store.execute(ws.rejected)
    assert rejected[["kind", "line", "reason"]].values.tolist() == [
        ["touchpoints", 3, "wrong_field_count"]
    ]
    assert rejected["row"].tolist() == ["quiz,quiz_start,consideration,extra"]
    assert rejected["detail"].tolist() == ["the row has 4 fields, the header 3"]
    assert {"chat", "faq"} <= {t.touchpoint for t in ws.config.touchpoints}
    assert "quiz" not in {t.touchpoint for t in ws.config.touchpoints}


def test_a_spreadsheet_catalog_with_its_own_headers(make_workspace, tmp_path):
    # Headers as a team's spreadsheet writes them: any case, spaces, "Events" for the match.
    ws = make_workspace()
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "Touchpoint,Events,Stage,Channel,Cost,Cost period,Team\n"
        "Support chat,support_chat|chat_*,delight,chat,500,month,cx\n"
    )
    assert ws.import_files([catalog], kind="touchpoints").stored == 1
    chat = next(t for t in ws.config.touchpoints if t.touchpoint == "Support chat")
    assert (chat.match, chat.channel, chat.cost, chat.owner) == (
        ("support_chat", "chat_*"),
        "chat",
        500.0,
        "cx",
    )


def test_a_catalog_column_named_nearly_as_one_is_refused_and_others_left_out(
    make_workspace, tmp_path
):
    # "Chanel" would drop every channel unseen; "Notes" is named unlike any catalog column.
    ws = make_workspace()
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("touchpoint,match,stage,Chanel,Notes\nchat,chat_*,delight,web,x\n")
    with pytest.raises(ImportFileError, match=r"'Chanel' is no catalog column\. Did you mean"):
        ws.import_files([catalog], kind="touchpoints")
    catalog.write_text("touchpoint,match,stage,channel,Notes\nchat,chat_*,delight,web,x\n")
    assert ws.import_files([catalog], kind="touchpoints").stored == 1


def test_the_starter_catalog_maps_segment_spec_event_names(make_workspace, tmp_path):
    ws = make_workspace()
    names = [
        "Product Viewed",
        "Product Added",
        "Cart Viewed",
        "Checkout Started",
        "Order Completed",
    ]
    lines = [
        json.dumps(
            {
                "messageId": f"m{i}",
                "timestamp": f"2026-03-01T10:0{i}:00Z",
                "event": name,
                "anonymousId": "a1",
            }
        )
        for i, name in enumerate(names)
    ]
    path = tmp_path / "segment.jsonl"
    path.write_text("\n".join(lines) + "\n")
    ws.import_files([path])
    placed = ws.store.execute(ws.events.order_by("ts"))
    assert placed["touchpoint"].tolist() == [
        "product_page",
        "add_to_cart",
        "cart",
        "checkout",
        "purchase",
    ]


def _first_match(name: str, touchpoints: list[Touchpoint]) -> str | None:
    """The rule spelled out: an exact name first, else the first pattern in catalog order."""
    for tp in touchpoints:
        if name in tp.match:
            return tp.touchpoint
    for tp in touchpoints:
        if any(fnmatch.fnmatchcase(name, m) for m in tp.match if any(c in m for c in "*?")):
            return tp.touchpoint
    return None


ENTRY = st.text(alphabet="ab_*?", min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(st.lists(ENTRY, min_size=1, max_size=3), min_size=1, max_size=5),
    names=st.lists(st.text(alphabet="ab_", max_size=6), max_size=20),
)
def test_names_match_the_first_entry_in_catalog_order_exact_names_first(entries, names):
    catalog = [Touchpoint(f"t{i}", tuple(m), "decision") for i, m in enumerate(entries)]
    for name in names:
        found = match_event(name, catalog)
        assert (found.touchpoint if found else None) == _first_match(name, catalog)


def test_a_catalog_entry_an_earlier_touchpoint_shares_is_named_on_import(tmp_path):
    from journeylens.testing import run_cli

    catalog = tmp_path / "catalog.csv"
    catalog.write_text("touchpoint,match,stage\nbasket,cart|basket_view,decision\n")
    ws = tmp_path / "ws"
    run_cli("init", str(ws), "--template", "three_stage")
    out = run_cli("import", str(catalog), "--kind", "touchpoints", "--workspace", str(ws))
    assert "touchpoint 'basket' gets no event by its match 'cart'" in out.stderr
    assert "the touchpoint 'cart', earlier in the catalog" in out.stderr
