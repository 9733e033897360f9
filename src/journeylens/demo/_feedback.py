"""Demo survey answers: NPS, CSAT and CES sampled from the events they follow."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeylens.config import Config
from journeylens.demo._comments import COMMENTS
from journeylens.demo._journeys import EV, MOBILE
from journeylens.journey.catalog import match_event
from journeylens.schema import FEEDBACK, FEEDBACK_SCALES, arrow_schema

LANGUAGE_BY_MARKET = ("sv", "nb", "fi", "ro", "zh", "en")


class Trigger(NamedTuple):
    """A survey shown after an event: how often, which metrics, dimensions and base quality."""

    rate: float
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...]
    quality: float


TRIGGERS = {
    "purchase": Trigger(0.08, ("nps", "csat"), ("communication", "ease", "information"), 0.80),
    "checkout_payment": Trigger(0.03, ("ces", "csat"), ("ease", "self_service"), 0.72),
    "payment_error": Trigger(0.10, ("ces", "csat"), ("ease",), 0.45),
    "form_error": Trigger(0.08, ("ces",), ("ease", "self_service"), 0.40),
    "pricing_view": Trigger(0.01, ("csat",), ("information",), 0.62),
    "product_view": Trigger(0.004, ("csat",), ("information", "personalization"), 0.70),
    "help_article_view": Trigger(0.05, ("ces", "csat"), ("self_service", "information"), 0.62),
    "chat_start": Trigger(0.12, ("csat",), ("helpfulness", "communication"), 0.74),
    "support_ticket_created": Trigger(
        0.15, ("csat", "nps"), ("helpfulness", "communication"), 0.50
    ),
    "store_visit": Trigger(0.10, ("csat", "nps"), ("helpfulness", "personalization"), 0.84),
    "call_centre_call": Trigger(0.12, ("csat", "ces"), ("helpfulness", "communication"), 0.68),
    "newsletter_click": Trigger(0.02, ("csat",), ("personalization", "communication"), 0.60),
    "onboarding_email_open": Trigger(0.03, ("csat",), ("communication", "information"), 0.72),
    "app_open": Trigger(0.01, ("nps", "csat"), ("ease", "personalization"), 0.76),
}
PAYMENT = (EV["checkout_payment"], EV["payment_error"])


def feedback_table(
    config: Config,
    names: pa.Array,
    steps: dict[str, np.ndarray],
    events: pa.Table,
    rng: np.random.Generator,
    first_id: int,
    friction: bool = True,
) -> pa.Table:
    """Survey answers for one chunk, tied to the touchpoint of the event that triggered them."""
    code = steps["code"]
    rate = np.zeros(len(names))
    touchpoint: list[str | None] = [None] * len(names)
    for name, trigger in TRIGGERS.items():
        tp = match_event(name, config.touchpoints)
        if tp is not None:
            rate[EV[name]] = trigger.rate
            touchpoint[EV[name]] = tp.touchpoint
    rows = np.flatnonzero(rng.random(code.size) < rate[code])
    picked = code[rows]
    n = rows.size
    metric = np.empty(n, object)
    dimension = np.full(n, None, object)
    quality = np.empty(n)
    for name, trigger in TRIGGERS.items():
        hit = np.flatnonzero(picked == EV[name])
        metric[hit] = np.array(trigger.metrics)[rng.integers(0, len(trigger.metrics), hit.size)]
        dims = np.array(trigger.dimensions)[rng.integers(0, len(trigger.dimensions), hit.size)]
        rated = rng.random(hit.size) < 0.6
        dimension[hit[rated]] = dims[rated]
        quality[hit] = trigger.quality
    mobile_payment = np.isin(picked, PAYMENT) & (steps["device"][rows] == MOBILE) & friction
    quality = np.clip(quality - 0.25 * mobile_payment + rng.normal(0.0, 0.15, n), 0.0, 1.0)
    score = _scale(metric, quality)
    ts = pc.add(
        events.column("ts").take(pa.array(rows)).combine_chunks(),
        pa.array(rng.integers(60, 7200, n) * 1_000_000, pa.duration("us")),
    )
    language = np.array(LANGUAGE_BY_MARKET)[steps["market"][rows]]
    comment = _comments(rng, language, quality, np.isin(picked, PAYMENT))
    take = pa.array(rows)
    columns = {
        "feedback_id": pc.binary_join_element_wise(
            "demo-fb-", pc.cast(pa.array(rows + first_id), pa.string()), ""
        ),
        "ts": ts,
        "received_at": pc.add(ts, pa.array(rng.integers(1, 30, n) * 1_000_000, pa.duration("us"))),
        "anonymous_id": events.column("anonymous_id").take(take),
        "user_id": events.column("user_id").take(take),
        "person_id": pa.nulls(n, pa.string()),
        "touchpoint": pa.array(np.array(touchpoint, object)[picked], pa.string()),
        "stage": pa.nulls(n, pa.string()),
        "channel": events.column("channel").take(take),
        "device": events.column("device").take(take),
        "interaction": events.column("interaction").take(take),
        "metric": pa.array(metric, pa.string()),
        "score": pa.array(score, pa.float64()),
        "dimension": pa.array(dimension, pa.string()),
        "comment": pa.array(comment, pa.string()),
        "language": pa.array(language, pa.string()),
        "sentiment": pa.nulls(n, pa.float64()),
        "properties": pa.nulls(n, pa.string()),
        "derived": pa.nulls(n, pa.int8()),
    }
    return pa.table(columns, schema=arrow_schema(FEEDBACK))


def _scale(metric: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Map quality in [0, 1] onto each metric's whole-number scale."""
    score = np.zeros(quality.size)
    for name in ("nps", "csat", "ces"):
        low, high = FEEDBACK_SCALES[name]
        hit = metric == name
        score[hit] = np.round(low + quality[hit] * (high - low))
    return score


def _comments(
    rng: np.random.Generator, language: np.ndarray, quality: np.ndarray, payment: np.ndarray
) -> np.ndarray:
    """A comment for ~40% of answers with a clear opinion, in the respondent's language."""
    comment = np.full(quality.size, None, object)
    wants = rng.random(quality.size) < 0.4
    for lang, bank in COMMENTS.items():
        for kind, mask in (
            ("positive", quality >= 0.62),
            ("negative", (quality < 0.45) & ~payment),
            ("payment", (quality < 0.45) & payment),
        ):
            hit = np.flatnonzero(wants & mask & (language == lang))
            comment[hit] = np.array(bank[kind], object)[rng.integers(0, len(bank[kind]), hit.size)]
    return comment
