"""The synthetic multi-channel demo: events and feedback for any workspace config.

People arrive through search ads, organic search, paid and organic social, display, e-mail,
offline media (a promo-code event) and referrals, on mobile, desktop or tablet; 30% also use a
second device and app users a third anonymous id. They browse anonymously, identify (a lead
form, a trial or the checkout login) and move through the stages with drop-off: about 100%
awareness → 45% consideration → 15% decision → 8–9% purchase. Consideration loops between
pricing and reviews; 20% of people who reach the cart postpone by 15–45 days. Of those who
abandon an online checkout, 35% change channel to a store visit or a call to the customer centre,
and most of them buy there (``purchase`` with channel ``store``/``call_centre``, interaction
``assisted``). Buyers get onboarding e-mails, use the app, the help centre, chat and tickets,
click newsletters and coupons, and some buy again.

Planted effects that the analytics tests rely on:

- **Incremental**: ``search_ads`` (``search_ad_click``) multiplies the odds of consideration by
  1.40 and of decision by 1.30; ``paid_social`` (``social_ad_click``) by 1.20 and 1.15. Exposure
  (arrival or a random retargeting click) is assigned independently of everything else.
- **Useless**: ``display_ads`` (``display_ad_click``, the costliest digital touchpoint at
  18 000/month) is clicked by ~45% of people and has no effect on any transition.
- **Friction**: ``checkout_payment`` on mobile fails with ``payment_error`` 32% of the time
  (desktop 5%, tablet 12%), retried within seconds (``checkout_payment``, ``payment_error`` …),
  and mobile abandons after payment 38% of the time (desktop 8%, tablet 18%), +15 points after an
  error. ``form_error`` follows CTAs; ``page_not_found`` and ``login_failed`` appear too.
  Feedback at the payment touchpoint scores lower on mobile and after errors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeylens.config import Config
from journeylens.demo import _journeys as jm
from journeylens.demo._feedback import feedback_table
from journeylens.demo._segments import AFTER, ARRIVE, CH, CHANNELS, CONSIDER, DECIDE, simulate
from journeylens.journey.catalog import is_pattern, match_event
from journeylens.schema import EVENTS, arrow_schema

END = datetime(2026, 11, 1)
WINDOW_DAYS = 180
MARKETS = (  # (language, currency, units per EUR)
    ("sv", "SEK", 11.4),
    ("nb", "NOK", 11.7),
    ("fi", "EUR", 1.0),
    ("ro", "RON", 4.97),
    ("zh", "CNY", 7.8),
    ("en", "EUR", 1.0),
)
REPORT_CURRENCY = "EUR"  # the demo's catalog costs are in euros; its markets pay in their own
# What the demo company spends per month on each touchpoint, in euros (the starter catalogs
# hold no costs: a team enters its own).
MONTHLY_COSTS = {
    "search_ads": 12000.0,
    "paid_social": 9000.0,
    "display_ads": 18000.0,
    "organic_search": 1500.0,
    "social_posts": 600.0,
    "email_campaign": 1200.0,
    "tv_radio": 30000.0,
    "pr_print": 6000.0,
    "blog": 3000.0,
    "landing_page": 500.0,
    "reviews": 1200.0,
    "comparison_guide": 800.0,
    "product_video": 2000.0,
    "whitepaper": 1500.0,
    "onboarding_email": 300.0,
    "help_centre": 200.0,
    "chat": 1000.0,
    "newsletter": 800.0,
    "loyalty_programme": 2500.0,
    "referral_programme": 1000.0,
}


def currency_rates() -> dict[str, float]:
    """The demo markets' exchange rates: units of each currency per euro."""
    return {code: rate for _, code, rate in MARKETS if code != REPORT_CURRENCY}


UTM: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "search_ad_click": (
        ("google", "cpc", "brand_search"),
        ("google", "cpc", "generic_search"),
        ("bing", "cpc", "generic_search"),
    ),
    "organic_search_visit": (("google", "organic", None), ("bing", "organic", None)),
    "social_ad_click": (
        ("facebook", "paid_social", "autumn_video"),
        ("instagram", "paid_social", "autumn_video"),
        ("tiktok", "paid_social", "retarget_q3"),
    ),
    "social_post_click": (("linkedin", "social", None), ("instagram", "social", None)),
    "display_ad_click": (
        ("google_display", "display", "awareness_banner"),
        ("programmatic", "display", "retarget_q3"),
    ),
    "email_campaign_click": (("newsletter", "email", "welcome_series"),),
    "promo_code_tv": (("tv", "offline", "tv_autumn"),),
    "promo_code_print": (("print", "offline", "print_q3"),),
    "heard_about_us_press": (("press", "pr", None),),
    "referral_visit": (("friend", "referral", "refer_a_friend"),),
    "onboarding_email_open": (("onboarding", "email", "onboarding_series"),),
    "newsletter_click": (("newsletter", "email", "monthly_newsletter"),),
    "coupon_redeemed": (("crm", "email", "winback_coupon"),),
}
PROPERTIES: dict[str, tuple[str, ...]] = {
    "product_view": tuple(f'{{"sku":"SKU-{i:03d}"}}' for i in range(120)),
    "add_to_cart": tuple(f'{{"sku":"SKU-{i:03d}","quantity":1}}' for i in range(120)),
    "purchase": tuple(f'{{"items":{i}}}' for i in range(1, 5)),
    "checkout_payment": tuple(f'{{"method":"{m}"}}' for m in ("card", "invoice", "wallet")),
    "payment_error": tuple(
        f'{{"code":"{c}"}}' for c in ("card_declined", "3ds_timeout", "network_error")
    ),
    "form_error": ('{"field":"email"}', '{"field":"phone"}'),
    "page_not_found": ('{"path":"/offer/summer"}', '{"path":"/products/old-model"}'),
}
PAGE_VIEWS = (
    "blog_view",
    "landing_page_view",
    "product_view",
    "pricing_view",
    "reviews_view",
    "comparison_view",
    "cart_view",
    "help_article_view",
    "organic_search_visit",
    "referral_visit",
    "page_not_found",
)
ASSISTED = ("store_visit", "call_centre_call", "chat_start", "support_ticket_created")


class _Vocabulary:
    """Event codes: the known events plus the config's own, with their channel and phase."""

    def __init__(self, config: Config) -> None:
        names = list(jm.KNOWN_EVENTS)
        self.extras: dict[int, list[int]] = {}
        phases = (ARRIVE, CONSIDER, DECIDE, AFTER)
        stage_index = {key: i for i, key in enumerate(config.stage_keys)}
        for tp in config.touchpoints:
            name = next((m for m in tp.match if not is_pattern(m)), None)
            if name is None or name in jm.EV:
                continue
            names.append(name)
            phase = phases[min(stage_index[tp.stage], 3)]
            self.extras.setdefault(phase, []).append(len(names) - 1)
        self.names = pa.array(names, pa.string())
        channel = []
        for name in names:
            found = match_event(name, config.touchpoints)
            chan = found.channel if found is not None and found.channel in CH else "web"
            channel.append(CH[chan])
        self.channel = np.array(channel, np.int8)
        self.page = np.isin(np.arange(len(names)), [jm.EV[n] for n in PAGE_VIEWS])
        self.assisted = np.isin(np.arange(len(names)), [jm.EV[n] for n in ASSISTED])


def generate(
    config: Config,
    events: int = 200_000,
    seed: int = 7,
    batch_events: int = 1_000_000,
    friction: bool = True,
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Yield ``(events, feedback)`` Arrow batches of a realistic demo workspace.

    Batches hold whole people (about ``batch_events`` events each); together they hold about
    ``events`` events over the 180 days ending 2026-10-31. The output depends only on the
    config, ``seed`` and ``friction``: without it the planted checkout friction is gone (every
    device pays, fails and abandons as desktop does, and payment feedback is not lower on mobile)
    while every other planted effect stays as it is.

    Examples
    --------
    >>> from journeylens.config import parse_config
    >>> from journeylens.journey.templates import load_template
    >>> cfg = parse_config({"workspace": {"name": "demo"}, **load_template("five_stage")})
    >>> batches = list(generate(cfg, events=5_000, seed=1))
    >>> 4_500 < sum(ev.num_rows for ev, _ in batches) < 5_500
    True
    """
    vocab = _Vocabulary(config)
    pilot = _simulate(vocab, np.random.default_rng([seed, 0, 1]), 3_000, 0, friction)
    per_person = max(pilot["code"].size / 3_000, 1.0)
    chunk_people = max(int(batch_events / per_person), 100)
    done, offset, chunk = 0, 0, 0
    while done < events:
        remaining = events - done
        n = min(chunk_people, math.ceil(remaining / per_person * 1.1) + 50)
        steps = _simulate(vocab, np.random.default_rng([seed, 1, chunk]), n, offset, friction)
        steps = _trim(steps, remaining)
        ev = _events_table(vocab, steps, seed, done)
        fb_rng = np.random.default_rng([seed, 2, chunk])
        fb = feedback_table(config, vocab.names, steps, ev, fb_rng, done, friction)
        yield ev, fb
        done += ev.num_rows
        offset += n
        chunk += 1


def _simulate(
    vocab: _Vocabulary, rng: np.random.Generator, n: int, offset: int, friction: bool = True
):
    window = WINDOW_DAYS * jm.DAY
    people = jm.make_people(rng, n, window)
    out = simulate(rng, people, vocab.extras, friction).finish()
    person = out["person"]
    first = np.r_[True, person[1:] != person[:-1]]
    out["new"][first] = True
    gap = np.where(first, 0.0, out["gap"])
    total = np.cumsum(gap)
    out["t"] = people.start[person] + total - total[np.flatnonzero(first)][np.cumsum(first) - 1]
    session = np.cumsum(out["new"]) - 1
    starts = np.flatnonzero(out["new"])
    slot = out["slot"]
    slot = np.where(slot == -2, slot[starts][session], slot)
    out["slot"] = np.where(slot == -2, 0, slot).astype(np.int8)
    out["session_start"] = starts[session]
    is_id = out["code"] == jm.EV["identify"]
    t_id = np.full(n, np.inf)
    np.minimum.at(t_id, person[is_id], out["t"][is_id])
    out["known"] = out["t"] >= t_id[person]
    out["device"] = np.where(out["slot"] >= 0, people.slot_device[person, out["slot"]], -1)
    out["market"] = people.market[person]
    out["global"] = person + offset
    keep = out["t"] < window
    # Dropped rows are each person's tail, so a kept row's session start is kept too.
    renumber = np.cumsum(keep) - 1
    out["session_start"] = renumber[out["session_start"]]
    return {k: v[keep] for k, v in out.items() if k not in ("key", "gap", "new")}


def _trim(steps: dict[str, np.ndarray], remaining: int) -> dict[str, np.ndarray]:
    """Keep whole people, stopping at the first person boundary after ``remaining`` events."""
    person = steps["person"]
    if person.size <= remaining:
        return steps
    cut = int(np.searchsorted(person, person[remaining - 1], side="right")) if remaining else 0
    return {k: v[:cut] for k, v in steps.items()}


def _strings(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _pick(values: pa.Array, index: np.ndarray) -> pa.Array:
    """``values[index]``, null where ``index`` < 0."""
    return values.take(pa.array(np.where(index < 0, 0, index), mask=index < 0))


def _mix(keys: np.ndarray) -> np.ndarray:
    """SplitMix64: distinct keys → distinct, random-looking 64-bit ids."""
    z = keys.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _events_table(
    vocab: _Vocabulary, steps: dict[str, np.ndarray], seed: int, first_id: int
) -> pa.Table:
    rng = np.random.default_rng([seed, 3, first_id])
    code, slot, n = steps["code"], steps["slot"], steps["code"].size
    start_us = int((END - EPOCH).total_seconds() * 1e6) - WINDOW_DAYS * 86_400 * 1_000_000
    ts = start_us + (steps["t"] * 1e6).astype(np.int64)
    delay = np.where(slot < 0, rng.uniform(60.0, 3600.0, n), rng.uniform(0.2, 5.0, n))
    offline = slot < 0
    person_key = (steps["global"].astype(np.uint64) << np.uint64(2)) + np.where(
        offline, 0, slot
    ).astype(np.uint64)
    anon_keys = _mix(person_key ^ (np.uint64(seed) << np.uint64(48)))
    anonymous = pc.binary_join_element_wise(
        "anon-", pc.cast(pa.array(anon_keys, mask=offline), pa.string()), ""
    )
    user = pc.binary_join_element_wise(
        f"user-{seed}-", pc.cast(pa.array(steps["global"], mask=~steps["known"]), pa.string()), ""
    )
    app = slot == 2
    chan = np.where(steps["chan"] >= 0, steps["chan"], vocab.channel[code])
    chan = np.where(app & (chan == CH["web"]), CH["app"], chan)
    chan = np.where(~app & (chan == CH["app"]), CH["web"], chan)
    kind = np.where(vocab.page[code], np.where(app, 1, 2), 0)
    kind = np.where(code == jm.EV["identify"], 3, kind)
    assisted = vocab.assisted[code] | (steps["chan"] >= 0)
    source = _utm(vocab, rng, steps)
    revenue, currency = _revenue(rng, steps)
    null = pa.nulls(n, pa.string())
    columns = {
        "event_id": _strings(f"demo-{seed}-", np.arange(first_id, first_id + n)),
        "ts": pa.array(ts, pa.timestamp("us")),
        "received_at": pa.array(ts + (delay * 1e6).astype(np.int64), pa.timestamp("us")),
        "event": vocab.names.take(pa.array(code)),
        "type": pa.array(["track", "screen", "page", "identify"]).take(pa.array(kind)),
        "anonymous_id": anonymous,
        "user_id": user,
        "person_id": null,
        "session_id": null,
        "person_key": pa.nulls(len(null), pa.int64()),
        "person_seq": pa.nulls(len(null), pa.int64()),
        "touchpoint": null,
        "stage": null,
        "channel": pa.array(CHANNELS).take(pa.array(chan)),
        "device": _pick(pa.array(jm.DEVICES), steps["device"]),
        "interaction": pa.array(["self_service", "assisted"]).take(pa.array(assisted.astype(int))),
        "source": _pick(UTM_TABLE.column("source").combine_chunks(), source),
        "medium": _pick(UTM_TABLE.column("medium").combine_chunks(), source),
        "campaign": _pick(UTM_TABLE.column("campaign").combine_chunks(), source),
        "revenue": revenue,
        "currency": currency,
        "properties": _properties(vocab, rng, code),
        "derived": pa.nulls(n, pa.int8()),
    }
    return pa.table(columns, schema=arrow_schema(EVENTS))


def _utm(vocab: _Vocabulary, rng: np.random.Generator, steps: dict[str, np.ndarray]):
    """Index into UTM_TABLE per step: set on entry steps, inherited by the rest of the session."""
    code = steps["code"]
    own = np.full(code.size, -1)
    for name, (first, count) in UTM_RANGES.items():
        hit = np.flatnonzero(code == jm.EV[name])
        own[hit] = first + rng.integers(0, count, hit.size)
    return np.where(own >= 0, own, own[steps["session_start"]])


def _revenue(rng: np.random.Generator, steps: dict[str, np.ndarray]) -> tuple[pa.Array, pa.Array]:
    buy = steps["code"] == jm.EV["purchase"]
    market = steps["market"]
    rate = np.array([m[2] for m in MARKETS])[market]
    eur = rng.lognormal(np.log(70.0), 0.6, buy.size) * np.where(steps["slot"] < 0, 1.4, 1.0)
    amount = np.round(np.maximum(eur * rate, 1.0), 2)
    revenue = pa.array(amount, pa.float64(), mask=~buy)
    currency = _pick(pa.array([m[1] for m in MARKETS]), np.where(buy, market, -1))
    return revenue, currency


def _properties(vocab: _Vocabulary, rng: np.random.Generator, code: np.ndarray) -> pa.Array:
    index = np.full(code.size, -1)
    for name, (first, count) in PROPERTY_RANGES.items():
        hit = np.flatnonzero(code == jm.EV[name])
        index[hit] = first + rng.integers(0, count, hit.size)
    return _pick(PROPERTY_VALUES, index)


def _ranges(table: dict[str, tuple]) -> dict[str, tuple[int, int]]:
    out, first = {}, 0
    for name, values in table.items():
        out[name] = (first, len(values))
        first += len(values)
    return out


EPOCH = datetime(1970, 1, 1)
UTM_RANGES = _ranges(UTM)
UTM_TABLE = pa.Table.from_pylist(
    [{"source": s, "medium": m, "campaign": c} for rows in UTM.values() for s, m, c in rows],
    schema=pa.schema([("source", pa.string()), ("medium", pa.string()), ("campaign", pa.string())]),
)
PROPERTY_RANGES = _ranges(PROPERTIES)
PROPERTY_VALUES = pa.array([v for values in PROPERTIES.values() for v in values], pa.string())
