"""The demo generator: schemas, determinism, identity, revenue, feedback and planted friction."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pyarrow as pa
import pytest

from journeylens.config import LANGUAGES, Config, parse_config
from journeylens.demo import generate
from journeylens.errors import SpecError
from journeylens.journey.catalog import match_event
from journeylens.journey.templates import TEMPLATES, load_template
from journeylens.schema import DIMENSIONS, EVENTS, FEEDBACK, FEEDBACK_SCALES, arrow_schema


def _config(name: str = "four_stage_delight") -> Config:
    return parse_config({"workspace": {"name": "t", "template": name}, **load_template(name)})


@cache
def _demo(events: int = 60_000, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    batches = list(generate(_config(), events=events, seed=seed, batch_events=25_000))
    ev = pa.concat_tables(b[0] for b in batches).to_pandas()
    fb = pa.concat_tables(b[1] for b in batches).to_pandas()
    return ev, fb


@pytest.mark.parametrize("name", TEMPLATES)
def test_batches_have_canonical_schemas_on_every_template(name: str) -> None:
    batches = list(generate(_config(name), events=6_000, seed=3, batch_events=2_000))
    assert len(batches) >= 3
    for ev, fb in batches:
        assert ev.schema == arrow_schema(EVENTS)
        assert fb.schema == arrow_schema(FEEDBACK)
    names = set(pa.concat_tables(b[0] for b in batches).column("event").to_pylist())
    touchpoints = _config(name).touchpoints
    assert match_event("purchase", touchpoints) is not None
    assert {"purchase", "checkout_payment", "identify", "payment_error"} <= names


def test_same_seed_same_data_other_seed_other_data() -> None:
    def run(seed: int) -> pa.Table:
        return pa.concat_tables(ev for ev, _ in generate(_config(), events=5_000, seed=seed))

    assert run(1).equals(run(1))
    assert not run(1).equals(run(2))


@pytest.mark.parametrize("target", [3_000, 40_000])
def test_event_count_is_near_the_target(target: int) -> None:
    total = sum(ev.num_rows for ev, _ in generate(_config(), events=target, batch_events=10_000))
    assert abs(total - target) <= 0.03 * target


def test_derived_columns_are_left_to_journeylens() -> None:
    ev, fb = _demo()
    for column in ("person_id", "session_id", "touchpoint", "stage"):
        assert ev[column].isna().all()
    assert fb["stage"].isna().all()
    assert fb["sentiment"].isna().all()
    assert ev["event_id"].is_unique
    assert fb["feedback_id"].is_unique
    assert (ev["received_at"] > ev["ts"]).all()
    assert ev["ts"].min() >= pd.Timestamp("2026-05-01")
    assert ev["ts"].max() < pd.Timestamp("2026-11-01")


def test_identify_links_anonymous_and_user_ids() -> None:
    ev, _ = _demo()
    identify = ev[ev["event"] == "identify"]
    assert (identify["type"] == "identify").all()
    assert identify["anonymous_id"].notna().all()
    assert identify["user_id"].notna().all()
    assert ev["user_id"].isna().mean() > 0.5  # anonymous browsing dominates
    never = set(ev.loc[ev["user_id"].isna(), "anonymous_id"]) - set(
        ev["anonymous_id"][ev["user_id"].notna()]
    )
    assert never  # some people never identify


def test_some_people_use_several_devices() -> None:
    ev, _ = _demo()
    linked = ev.dropna(subset=["anonymous_id", "user_id"])
    per_user = linked.groupby("user_id")["anonymous_id"].nunique()
    assert (per_user >= 2).mean() > 0.2
    assert set(ev["device"].dropna()) == {"mobile", "desktop", "tablet"}
    assert {"search", "social", "display", "email", "offline", "referral", "store"} <= set(
        ev["channel"]
    )


def test_revenue_only_on_purchases_and_positive() -> None:
    ev, _ = _demo()
    paid = ev[ev["revenue"].notna()]
    assert (paid["event"] == "purchase").all()
    assert (paid["revenue"] > 0).all()
    assert ev.loc[ev["event"] == "purchase", "revenue"].notna().all()
    assert set(paid["currency"]) == {"EUR", "SEK", "NOK", "RON", "CNY"}
    assert ev["currency"].notna().sum() == len(paid)


def test_people_buy_in_store_after_abandoning_online() -> None:
    ev, _ = _demo()
    store = ev[(ev["event"] == "purchase") & (ev["channel"] == "store")]
    assert len(store) > 0
    assert (store["interaction"] == "assisted").all()
    # They logged in at an online checkout before, and most never bought online before the store.
    assert set(store["user_id"]) <= set(ev.loc[ev["event"] == "identify", "user_id"])
    online = ev[(ev["event"] == "purchase") & ev["channel"].isin(["web", "app"])]
    first_online = online.groupby("user_id")["ts"].min()
    before = store["ts"] > store["user_id"].map(first_online)
    assert before.mean() < 0.2


def test_feedback_scores_lie_on_their_scales() -> None:
    _, fb = _demo()
    assert set(fb["metric"]) == {"nps", "csat", "ces"}
    for metric, (low, high) in FEEDBACK_SCALES.items():
        scores = fb.loc[fb["metric"] == metric, "score"]
        assert scores.between(low, high).all()
    assert set(fb["dimension"].dropna()) <= set(DIMENSIONS)
    assert set(fb["touchpoint"]) <= {t.touchpoint for t in _config().touchpoints}
    assert (fb["user_id"].notna() | fb["anonymous_id"].notna()).all()


def test_comments_come_in_all_six_languages() -> None:
    _, fb = _demo()
    with_comment = fb[fb["comment"].notna()]
    assert set(with_comment["language"]) == set(LANGUAGES)
    swedish = with_comment.loc[with_comment["language"] == "sv", "comment"]
    assert swedish.str.contains("[åäö]").any()


def test_mobile_abandons_checkout_payment_far_more_than_desktop() -> None:
    ev, fb = _demo()
    payment = ev[ev["event"] == "checkout_payment"].sort_values("ts").groupby("user_id").first()
    online = ev[(ev["event"] == "purchase") & ev["channel"].isin(["web", "app"])]
    abandoned = ~payment.index.isin(online["user_id"])
    rate = pd.Series(abandoned, index=payment.index).groupby(payment["device"]).mean()
    assert rate["mobile"] > 2 * rate["desktop"]
    errors = ev[ev["event"] == "payment_error"]
    per_device = errors["device"].value_counts() / payment["device"].value_counts()
    assert per_device["mobile"] > 3 * per_device["desktop"]
    scores = fb[fb["touchpoint"] == "payment"].groupby("device")["score"].mean()
    assert scores["mobile"] < scores["desktop"]


def test_payment_errors_are_retried_within_seconds() -> None:
    ev, _ = _demo()
    user = ev[ev["user_id"].notna()].sort_values(["user_id", "ts"])
    nxt = user.groupby("user_id")[["event", "ts"]].shift(-1)
    after_error = nxt[user["event"] == "payment_error"].dropna()
    retried = after_error[after_error["event"] == "checkout_payment"]
    assert len(retried) > 0
    errors_ts = user.loc[retried.index, "ts"]
    assert ((retried["ts"] - errors_ts).dt.total_seconds() <= 10).all()


def test_search_ads_lift_purchases_and_display_ads_do_not() -> None:
    ev, _ = _demo(events=150_000)
    link = ev.dropna(subset=["anonymous_id", "user_id"]).groupby("anonymous_id")["user_id"].first()
    person = ev["user_id"].fillna(ev["anonymous_id"].map(link)).fillna(ev["anonymous_id"])
    buyers = set(person[ev["event"] == "purchase"])

    def lift(event: str) -> float:
        exposed = set(person[ev["event"] == event])
        others = set(person) - exposed
        return (len(exposed & buyers) / len(exposed)) / (len(others & buyers) / len(others))

    assert lift("search_ad_click") > 1.5
    assert lift("social_ad_click") > 1.2
    assert 0.8 < lift("display_ad_click") < 1.2


def test_the_demo_fills_only_an_empty_workspace(make_workspace) -> None:
    # Loading it twice stored every event again (and the rebuild multiplied them); now the
    # second load is refused and the first one's data stays as it was.
    ws = make_workspace()
    ws.load_demo(events=2_000, seed=3)
    held = ws.status()
    with pytest.raises(SpecError, match=r"already holds .* the demo fills an empty workspace"):
        ws.load_demo(events=2_000, seed=3)
    with pytest.raises(SpecError, match="at least 1"):
        ws.load_demo(events=-5)
    assert ws.status() == held
