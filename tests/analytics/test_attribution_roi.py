"""Touchpoint ROI from catalog and cost-table costs, and the cut list's reasons."""

from __future__ import annotations

from collections.abc import Callable

import ibis
import pandas as pd
import pytest

from journeylens.analytics.attribution import AttributionSpec
from journeylens.analytics.incrementality import IncrementalitySpec
from journeylens.analytics.roi import (
    CutListResult,
    RoiSpec,
    cost_per_touchpoint,
    run_cut_list,
    run_roi,
)
from journeylens.errors import SpecError
from journeylens.testing import journeys

# Ten days of data: ann buys for 120 after an ad, bob for 30 after an ad and a mail.
PEOPLE = {
    "ann": [("ad", "2026-01-01"), ("purchase", "+1d", {"revenue": 120.0})],
    "bob": [("ad", "2026-01-05"), ("mail", "+1d"), ("purchase", "+5d", {"revenue": 30.0})],
}
CATALOG = pd.DataFrame(
    {"touchpoint": ["ad", "mail"], "cost": [7.0, 500.0], "cost_period": ["week", "total"]}
)


def test_catalog_costs_are_prorated_over_the_range():
    assert cost_per_touchpoint(CATALOG, 10).to_dict() == {"ad": 10.0, "mail": 500.0}
    month = pd.DataFrame({"touchpoint": ["tv"], "cost": [365.25], "cost_period": ["year"]})
    assert cost_per_touchpoint(month, 30)["tv"] == pytest.approx(30)


def test_unknown_cost_period_is_named():
    bad = CATALOG.assign(cost_period=["fortnight", "week"])
    with pytest.raises(SpecError, match="Unknown cost_period 'fortnight'"):
        cost_per_touchpoint(bad, 10)


def test_roi_per_model_from_the_catalog():
    spec = RoiSpec(attribution=AttributionSpec("last_touch"))
    frame = run_roi(ibis.memtable(journeys(PEOPLE)), spec, ibis.memtable(CATALOG)).to_frame()
    rows = frame.set_index("touchpoint")
    # ann's purchase is 10 days after her ad: the range is 10 days, the ad costs 7 a week.
    assert rows.loc["ad", "cost"] == pytest.approx(10)
    assert rows.loc["ad", "cpa"] == pytest.approx(10)
    assert rows.loc["ad", "roas"] == pytest.approx(12)
    assert rows.loc["mail", "roi"] == pytest.approx(30 / 500 - 1)


def test_cost_table_by_day_is_summed_within_the_range():
    costs = ibis.memtable(
        pd.DataFrame(
            {
                "day": pd.to_datetime(["2026-01-01", "2026-01-09", "2026-03-01"]),
                "touchpoint": ["ad", "ad", "ad"],
                "cost": [5.0, 5.0, 100.0],
            }
        )
    )
    spec = RoiSpec(attribution=AttributionSpec("first_touch"))
    frame = run_roi(ibis.memtable(journeys(PEOPLE)), spec, costs=costs).to_frame()
    assert frame.set_index("touchpoint").loc["ad", "cost"] == pytest.approx(10)


def cut_list_people() -> dict:
    people = {f"buyer{i}": [("ad", "2026-01-01"), ("purchase", "+1d")] for i in range(40)}
    people.update(
        {f"lurker{i}": [("banner", "2026-01-01"), ("newsletter", "+1h")] for i in range(40)}
    )
    for i in range(2):  # podcast: 4 people, half buy — too few to tell
        people[f"pod{i}"] = [("podcast", "2026-01-02"), ("ad", "+1h"), ("purchase", "+1h")]
        people[f"pod-lurker{i}"] = [("podcast", "2026-01-02")]
    return people


def test_cut_list_tells_harmful_uncertain_and_never_converting_apart():
    catalog = pd.DataFrame(
        {
            "touchpoint": ["ad", "banner", "newsletter", "podcast"],
            "cost": [10.0, 50.0, 0.0, 20.0],
            "cost_period": ["day"] * 4,
        }
    )
    spec = RoiSpec(incrementality=IncrementalitySpec(strata=[], bootstrap=300))
    cuts = run_cut_list(ibis.memtable(journeys(cut_list_people())), spec, ibis.memtable(catalog))
    rows = cuts.to_frame().set_index("touchpoint")
    assert rows["reason"].to_dict() == {
        "banner": "harmful",
        "podcast": "uncertain",
        "newsletter": "never_converts",
    }
    assert rows.loc["banner", "savings"] == pytest.approx(rows.loc["banner", "cost"])
    assert {"touchpoint", "cost", "lift", "reason"} <= set(cuts.to_dict()[0])
    # The drop is said as a drop (no "by -2.7 to -0.6"), and people are counted whole.
    drop = rows.loc["banner", "explanation"]
    assert drop.startswith("lowers conversion by ")
    assert "-" not in drop
    assert all(isinstance(r["exposed_people"], int | None) for r in cuts.to_dict())


def _cut_list_with(costs: dict[str, float], **spec: float) -> CutListResult:
    """The cut list of :func:`cut_list_people` with these costs a day (ad, banner and podcast
    are touched; other names only cost)."""
    catalog = pd.DataFrame(
        {"touchpoint": list(costs), "cost": list(costs.values()), "cost_period": "day"}
    )
    roi = RoiSpec(incrementality=IncrementalitySpec(strata=[], bootstrap=300), **spec)
    return run_cut_list(ibis.memtable(journeys(cut_list_people())), roi, ibis.memtable(catalog))


def test_among_over_a_hundred_equal_costs_each_is_weighed():
    # banner and 120 more touchpoints cost 50 each: 1% of all costs is 1.21 banners, but a
    # touchpoint costing the average is no trivial cost: banner is still harmful.
    cuts = _cut_list_with({"banner": 50.0} | {f"tp{i}": 50.0 for i in range(120)})
    assert cuts.to_frame().set_index("touchpoint").loc["banner", "reason"] == "harmful"
    assert cuts.skipped == 0
    assert cuts.skipped_note() is None


def test_touchpoints_under_the_cost_floor_are_skipped_and_counted_in_a_note():
    # ad 10, banner 50, podcast 20 and an untouched billboard 2,000 a day: 1% of the 2,080
    # is 20.8 (under the average, 520), so ad and podcast are not weighed and podcast is not
    # "uncertain" as it is at 1% of 80.
    costs = {"ad": 10.0, "banner": 50.0, "podcast": 20.0, "billboard": 2000.0}
    cuts = _cut_list_with(costs)
    rows = cuts.to_frame().set_index("touchpoint")
    assert rows["reason"].to_dict() == {"banner": "harmful", "newsletter": "never_converts"}
    assert cuts.skipped == 2
    assert cuts.floor == pytest.approx(rows.loc["banner", "cost"] * 20.8 / 50)  # over the range
    note = cuts.skipped_note()
    assert note is not None
    assert note.startswith("2 costed touchpoint(s) cost under ")
    assert "--min-cost-share" in note
    every = _cut_list_with(costs, min_cost_share=0.0)
    assert every.to_frame().set_index("touchpoint").loc["podcast", "reason"] == "uncertain"
    assert every.skipped == 0


def _ad_against_mail(n: int, ad_buys: Callable[[int], bool]) -> pd.DataFrame:
    """The cut list of ``n`` people who saw an ad (person ``i`` buys when ``ad_buys(i)``)
    against ``n`` who got a mail (every other one buys); both cost the same, min_lift 10."""
    bought = [("purchase", "+1d")]
    people = {f"a{i}": [("ad", "2026-01-01")] + bought * ad_buys(i) for i in range(n)}
    people.update(
        {f"b{i}": [("mail", "2026-01-01")] + [("purchase", "+1d")] * (i % 2) for i in range(n)}
    )
    catalog = pd.DataFrame(
        {"touchpoint": ["ad", "mail"], "cost": [5.0, 5.0], "cost_period": ["day"] * 2}
    )
    spec = RoiSpec(incrementality=IncrementalitySpec(strata=[], bootstrap=300), min_lift=10)
    return run_cut_list(ibis.memtable(journeys(people)), spec, ibis.memtable(catalog)).to_frame()


def test_no_effect_when_the_interval_is_tight_around_zero():
    cuts = _ad_against_mail(400, lambda i: i % 2 == 1)
    assert set(cuts["reason"]) == {"no_effect"}


def test_no_effect_when_the_whole_interval_is_under_min_lift_even_above_zero():
    cuts = _ad_against_mail(2000, lambda i: i % 20 < 11)
    ad = cuts.set_index("touchpoint").loc["ad"]
    assert ad["lift"] == pytest.approx(5)  # 55 % against 50 %
    assert 0 < ad["lift_low"] < ad["lift_high"] < 10
    assert ad["reason"] == "no_effect"


def test_a_touchpoint_that_costs_and_earns_nothing_shows_in_roi():
    # banner costs the most and precedes no purchase: under last touch it earns no credit, and
    # ROI lists it with none (its ROI −100%) instead of leaving it out.
    people = {
        "ann": [("ad", "2026-01-01"), ("purchase", "+1d", {"revenue": 30.0})],
        "bob": [("banner", "2026-01-01")],
    }
    catalog = pd.DataFrame(
        {"touchpoint": ["ad", "banner"], "cost": [10.0, 50.0], "cost_period": ["day"] * 2}
    )
    spec = RoiSpec(attribution=AttributionSpec("last_touch"))
    rows = run_roi(ibis.memtable(journeys(people)), spec, ibis.memtable(catalog)).to_frame()
    banner = rows.set_index("touchpoint").loc["banner"]
    assert (banner["conversions"], banner["cost"], banner["roi"]) == (0.0, 50.0, -1.0)


@pytest.mark.parametrize("bad", [-500.0, None])
def test_a_cost_table_with_a_negative_or_missing_cost_is_refused(bad):
    costs = ibis.memtable(
        pd.DataFrame(
            {
                "day": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                "touchpoint": ["ad", "ad"],
                "cost": [5.0, bad],
            }
        )
    )
    spec = RoiSpec(attribution=AttributionSpec("first_touch"))
    with pytest.raises(SpecError, match="1 row\\(s\\) with a negative or missing cost"):
        run_roi(ibis.memtable(journeys(PEOPLE)), spec, costs=costs)


def test_campaign_costs_keyed_by_numbers_meet_the_campaigns_the_events_name():
    people = {
        "ann": [("ad", "2026-01-01", {"campaign": "26037572"}), ("purchase", "+1d")],
        "bob": [("ad", "2026-01-02", {"campaign": "30491418"}), ("purchase", "+1d")],
    }
    costs = ibis.memtable(
        pd.DataFrame(
            {
                "day": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                "campaign": [26037572, 30491418],  # ids read as numbers, as pandas reads them
                "cost": [3.5, 2.0],
            }
        )
    )
    spec = RoiSpec(attribution=AttributionSpec("last_touch", level="campaign"))
    rows = run_roi(ibis.memtable(journeys(people)), spec, costs=costs).to_frame()
    assert len(rows) == 2
    assert rows.set_index("campaign")["cost"].to_dict() == {"26037572": 3.5, "30491418": 2.0}


def test_costs_show_when_no_touchpoint_earned_anything():
    people = {"bob": [("banner", "2026-01-01")], "cy": [("ad", "2026-01-02")]}
    catalog = pd.DataFrame(
        {"touchpoint": ["ad", "banner"], "cost": [10.0, 50.0], "cost_period": ["day"] * 2}
    )
    spec = RoiSpec(attribution=AttributionSpec(["first_touch", "linear"]))
    rows = run_roi(ibis.memtable(journeys(people)), spec, ibis.memtable(catalog)).to_frame()
    assert sorted(zip(rows["model"], rows["touchpoint"], rows["roi"], strict=True)) == [
        ("first_touch", "ad", -1.0),
        ("first_touch", "banner", -1.0),
        ("linear", "ad", -1.0),
        ("linear", "banner", -1.0),
    ]


def test_costed_touchpoints_without_a_lift_or_any_event_are_named_in_a_note():
    # Everyone meets the ad first, so no one comparable went without it: its lift is blank;
    # no event reaches the billboard. Neither is on the list, and the note names both.
    people = {f"buyer{i}": [("ad", "2026-01-01"), ("purchase", "+1d")] for i in range(20)}
    people.update({f"lurker{i}": [("ad", "2026-01-01")] for i in range(20)})
    catalog = pd.DataFrame(
        {"touchpoint": ["ad", "billboard"], "cost": [10.0, 100.0], "cost_period": "day"}
    )
    spec = RoiSpec(incrementality=IncrementalitySpec(strata=[], bootstrap=100))
    cuts = run_cut_list(ibis.memtable(journeys(people)), spec, ibis.memtable(catalog))
    assert cuts.to_frame().empty
    assert (cuts.unmeasured, cuts.never_reached) == (("ad",), ("billboard",))
    note = cuts.unweighed_note()
    assert note is not None
    assert "1 costed touchpoint(s) have no measurable lift (ad)" in note
    assert "1 costed touchpoint(s) are reached by no event (billboard)" in note
    assert _cut_list_with({"banner": 50.0}).unweighed_note() is None
