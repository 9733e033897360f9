"""The channel UTM tags name, for events without one from their row or the catalog."""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest

from journeylens.journey.traffic import tagged_channel
from journeylens.workspace import init_workspace


@pytest.mark.parametrize(
    ("source", "medium", "channel"),
    [
        ("google", "cpc", "search"),
        ("bing", " PPC ", "search"),
        ("facebook", "cpc", "social"),  # paid, on a social network
        ("instagram", "paid_social", "social"),
        ("linkedin", None, "social"),
        ("newsletter", "email", "email"),
        ("google", "organic", "search"),
        ("dv360", "display", "display"),
        ("blog.example", "referral", "referral"),
        ("partner", "affiliate", "affiliate"),
        ("(direct)", "(none)", "direct"),
        ("direct", None, "direct"),
        ("google", None, None),  # a source alone says nothing
        ("spring_promo", "qr", None),
        (None, None, None),
    ],
)
def test_tags_name_a_channel_by_the_default_channel_rules(source, medium, channel):
    table = ibis.memtable(
        {"source": [source], "medium": [medium]}, schema={"source": "string", "medium": "string"}
    )
    found = table.select(c=tagged_channel(table.source, table.medium)).execute()["c"].iloc[0]
    assert (None if found is None or found != found else found) == channel


def test_only_events_without_a_channel_take_the_tags_one(tmp_path: Path):
    # A row's own channel stays; a catalogued touchpoint's channel stays (search_ad_click is
    # the catalog's search ad, channel search, though tagged as e-mail here); an unmapped visit
    # takes its tags' channel; an untagged one has none.
    data = tmp_path / "tagged.csv"
    data.write_text(
        "ts,event,user_id,channel,utm_source,utm_medium\n"
        "2026-01-01T10:00:00Z,visit,u1,store,google,cpc\n"
        "2026-01-01T10:01:00Z,search_ad_click,u1,,newsletter,email\n"
        "2026-01-01T10:02:00Z,visit,u1,,newsletter,email\n"
        "2026-01-01T10:03:00Z,visit,u1,,,\n"
    )
    with init_workspace(tmp_path / "ws", "four_stage_delight") as ws:
        ws.import_files([data])
        channels = ws.events.order_by("ts").execute()["channel"].tolist()
    assert channels[:3] == ["store", "search", "email"]
    assert channels[3] is None or channels[3] != channels[3]
