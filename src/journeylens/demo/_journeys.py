"""Vectorised journey simulation: people → ordered steps (event codes, gaps, sessions, devices).

Every function works on whole arrays of people at once; the only Python loops run over the
positions of a Markov walk (a few dozen), never over people or events. A journey is a sequence of
segments (arrive, exposures, consider, decide, assisted, after); each segment yields steps with
the gap before them, whether they open a session and which of the person's devices they use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HOUR = 3600.0
DAY = 24 * HOUR

# Devices and anonymous-id slots: slot 0 is the device a person arrives on, slot 1 a second
# device (30% of people), slot 2 the mobile app (app users). Slot -1 is an offline step.
DEVICES = ("mobile", "desktop", "tablet")
MOBILE, DESKTOP, TABLET = 0, 1, 2
OFFLINE = -1

# The events the behaviour model knows; every shipped template maps them the same way.
KNOWN_EVENTS = (
    "search_ad_click", "social_ad_click", "display_ad_click", "organic_search_visit",
    "social_post_click", "email_campaign_click", "promo_code_tv", "promo_code_print",
    "heard_about_us_press", "referral_visit", "blog_view", "landing_page_view",
    "product_view", "pricing_view", "reviews_view", "comparison_view", "video_play",
    "cta_click", "form_submit", "form_error", "whitepaper_download", "trial_start",
    "add_to_cart", "cart_view", "checkout_start", "checkout_payment", "payment_error",
    "purchase", "store_visit", "call_centre_call", "identify", "login_failed",
    "onboarding_email_open", "app_open", "help_article_view", "chat_start",
    "support_ticket_created", "newsletter_click", "coupon_redeemed", "loyalty_points_earned",
    "referral_invite_sent", "page_not_found",
)  # fmt: skip
EV = {name: i for i, name in enumerate(KNOWN_EVENTS)}

# How people arrive: (arrival event, share, intent multiplier). Intent is who the channel brings,
# not what it causes; causal lifts are in LIFT below.
ARRIVALS = (
    ("search_ad_click", 0.18, 1.0),
    ("organic_search_visit", 0.20, 1.15),
    ("social_ad_click", 0.11, 1.0),
    ("social_post_click", 0.06, 0.9),
    ("display_ad_click", 0.12, 1.0),
    ("email_campaign_click", 0.07, 1.2),
    ("promo_code_tv", 0.08, 1.0),
    ("promo_code_print", 0.03, 1.0),
    ("heard_about_us_press", 0.03, 1.0),
    ("referral_visit", 0.08, 1.3),
    ("blog_view", 0.04, 0.9),
)
# Paid retargeting exposures after arrival: (ad click event, probability).
EXPOSURES = (("search_ad_click", 0.25), ("social_ad_click", 0.20), ("display_ad_click", 0.35))
# Causal odds lifts of an exposure (arrival or retargeting) on (consider, decide).
# display_ad_click is deliberately absent: it has no effect at all.
LIFT = {"search_ad_click": (1.40, 1.30), "social_ad_click": (1.20, 1.15)}

P_CONSIDER, P_DECIDE = 0.36, 0.30
P_SECOND_DEVICE, P_APP_USER = 0.30, 0.20
P_POSTPONE = 0.20
# Checkout friction by device (mobile, desktop, tablet): a payment error, then giving up.
P_PAYMENT_ERROR = np.array([0.32, 0.05, 0.12])
P_ABANDON_AFTER_PAYMENT = np.array([0.38, 0.08, 0.18])
P_ABANDON_CART, P_ABANDON_CHECKOUT = 0.12, 0.10
P_ASSISTED = 0.35  # of people who gave up an online checkout: go to a store or call

CONSIDER_WALK: dict[str, dict[str, float]] = {
    "product_view": {
        "pricing_view": 3,
        "reviews_view": 2,
        "comparison_view": 1,
        "video_play": 1.5,
        "cta_click": 1,
        "product_view": 2,
        "page_not_found": 0.15,
    },
    "pricing_view": {
        "reviews_view": 4,
        "product_view": 2,
        "comparison_view": 1.5,
        "cta_click": 1,
        "trial_start": 0.6,
    },
    "reviews_view": {"pricing_view": 4.5, "product_view": 2, "comparison_view": 1},
    "comparison_view": {
        "pricing_view": 2,
        "product_view": 2,
        "reviews_view": 1,
        "whitepaper_download": 0.6,
    },
    "video_play": {"product_view": 2, "pricing_view": 1.5, "cta_click": 1},
    "cta_click": {"form_submit": 2, "form_error": 0.7, "trial_start": 1, "pricing_view": 1},
    "form_submit": {"identify": 3, "product_view": 1},
    "form_error": {"form_submit": 3, "form_error": 0.8, "product_view": 1},
    "whitepaper_download": {"identify": 1.5, "blog_view": 1, "product_view": 1.5},
    "trial_start": {"identify": 4, "product_view": 1},
    "identify": {"product_view": 2, "pricing_view": 1.5},
    "blog_view": {"product_view": 2, "comparison_view": 1, "blog_view": 1},
    "page_not_found": {"product_view": 3, "blog_view": 1},
}
CONSIDER_START: dict[str, float] = {
    "product_view": 5,
    "pricing_view": 2,
    "reviews_view": 1,
    "comparison_view": 1,
    "video_play": 1,
}

AFTER_WALK: dict[str, dict[str, float]] = {
    "onboarding_email_open": {"app_open": 3, "help_article_view": 2, "newsletter_click": 1},
    "app_open": {
        "app_open": 2,
        "product_view": 1,
        "help_article_view": 1,
        "loyalty_points_earned": 1,
        "newsletter_click": 1,
    },
    "help_article_view": {
        "chat_start": 1.2,
        "support_ticket_created": 0.6,
        "app_open": 2,
        "newsletter_click": 1,
    },
    "chat_start": {"app_open": 1, "newsletter_click": 1, "support_ticket_created": 0.3},
    "support_ticket_created": {"help_article_view": 1, "newsletter_click": 1, "app_open": 1},
    "newsletter_click": {
        "product_view": 1.2,
        "app_open": 1,
        "coupon_redeemed": 0.4,
        "referral_invite_sent": 0.3,
        "newsletter_click": 1,
    },
    "coupon_redeemed": {"product_view": 3, "newsletter_click": 1},
    "product_view": {"add_to_cart": 1.1, "app_open": 1, "newsletter_click": 0.6},
    "add_to_cart": {"checkout_start": 4, "newsletter_click": 1},
    "checkout_start": {"checkout_payment": 9, "newsletter_click": 1},
    "checkout_payment": {"purchase": 9, "newsletter_click": 1},
    "purchase": {
        "loyalty_points_earned": 2,
        "newsletter_click": 2,
        "referral_invite_sent": 0.5,
        "app_open": 1,
    },
    "loyalty_points_earned": {"app_open": 2, "newsletter_click": 2, "referral_invite_sent": 0.5},
    "referral_invite_sent": {"newsletter_click": 2, "app_open": 1},
}
# After-purchase steps that open a new session (days later); the others follow within minutes.
AFTER_SESSION_STARTERS = (
    "onboarding_email_open", "app_open", "help_article_view", "newsletter_click",
    "coupon_redeemed", "referral_invite_sent",
)  # fmt: skip


@dataclass
class People:
    """Per-person attributes of one chunk."""

    n: int
    market: np.ndarray
    arrival: np.ndarray
    slot_device: np.ndarray  # (n, 3) device of each anonymous-id slot
    has_second: np.ndarray
    app_user: np.ndarray
    start: np.ndarray  # seconds since the window start


@dataclass
class Steps:
    """Steps appended segment by segment; ``finish`` orders them per person."""

    cols: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {
            k: [] for k in ("person", "key", "code", "gap", "new", "slot", "chan")
        }
    )

    def add(
        self,
        person: np.ndarray,
        seg: int,
        pos: np.ndarray,
        code: np.ndarray,
        gap: np.ndarray,
        new: np.ndarray,
        slot: np.ndarray,
        chan: np.ndarray | None = None,
    ) -> None:
        n = len(person)
        self.cols["person"].append(person.astype(np.int64))
        self.cols["key"].append(seg * 100_000 + pos.astype(np.int64))
        self.cols["code"].append(code.astype(np.int32))
        self.cols["gap"].append(gap.astype(np.float64))
        self.cols["new"].append(new.astype(bool))
        self.cols["slot"].append(slot.astype(np.int8))
        self.cols["chan"].append(np.full(n, -1, np.int8) if chan is None else chan.astype(np.int8))

    def finish(self) -> dict[str, np.ndarray]:
        out = {k: np.concatenate(v) for k, v in self.cols.items()}
        order = np.lexsort((out["key"], out["person"]))
        return {k: v[order] for k, v in out.items()}


def walk_matrix(walk: dict[str, dict[str, float]], codes: int) -> np.ndarray:
    """Cumulative transition matrix (codes × codes) from a weight table."""
    matrix = np.zeros((codes, codes))
    for src, targets in walk.items():
        for dst, weight in targets.items():
            matrix[EV[src], EV[dst]] = weight
    sums = matrix.sum(axis=1, keepdims=True)
    matrix = np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)
    return np.cumsum(matrix, axis=1)


def categorical(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    names = list(weights)
    p = np.array([weights[k] for k in names], dtype=float)
    picks = rng.choice(len(names), size=n, p=p / p.sum())
    return np.array([EV[k] for k in names])[picks]


def markov_walk(
    rng: np.random.Generator, first: np.ndarray, lengths: np.ndarray, cumulative: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walks of the given lengths; returns (row, position, code) of every step."""
    rows, positions, codes = [], [], []
    current = first.copy()
    alive = np.arange(len(first))
    for pos in range(int(lengths.max(initial=0))):
        alive = alive[lengths[alive] > pos]
        if alive.size == 0:
            break
        if pos > 0:
            u = rng.random(alive.size)
            nxt = (u[:, None] > cumulative[current[alive]]).sum(axis=1)
            current[alive] = np.minimum(nxt, cumulative.shape[1] - 1)
        rows.append(alive)
        positions.append(np.full(alive.size, pos))
        codes.append(current[alive].copy())
    if not rows:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    return np.concatenate(rows), np.concatenate(positions), np.concatenate(codes)


def small_gaps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds between clicks inside a session (median ~40 s, never near the session gap)."""
    return np.clip(rng.lognormal(np.log(40.0), 0.9, n), 3.0, 900.0)


def session_gaps(rng: np.random.Generator, n: int, low: float = HOUR, high: float = 10 * DAY):
    """Seconds between sessions: log-uniform between ``low`` and ``high``."""
    return np.exp(rng.uniform(np.log(low), np.log(high), n))


def pick_slot(rng: np.random.Generator, people: People, who: np.ndarray) -> np.ndarray:
    """The anonymous-id slot (device) a new session of each person in ``who`` uses."""
    u, v = rng.random(who.size), rng.random(who.size)
    slot = np.where(people.has_second[who] & (u < 0.4), 1, 0)
    return np.where(people.app_user[who] & (v < 0.25), 2, slot)


def make_people(rng: np.random.Generator, n: int, window: float) -> People:
    market = rng.choice(6, size=n, p=[0.22, 0.14, 0.13, 0.14, 0.12, 0.25])
    shares = np.array([a[1] for a in ARRIVALS])
    arrival_idx = rng.choice(len(ARRIVALS), size=n, p=shares / shares.sum())
    arrival = np.array([EV[a[0]] for a in ARRIVALS])[arrival_idx]
    primary = rng.choice(3, size=n, p=[0.55, 0.35, 0.10])
    second = np.where(primary == DESKTOP, MOBILE, DESKTOP)
    second = np.where(rng.random(n) < 0.15, TABLET, second)
    second = np.where(second == primary, DESKTOP, second)
    slot_device = np.stack([primary, second, np.full(n, MOBILE)], axis=1)
    return People(
        n=n,
        market=market,
        arrival=arrival,
        slot_device=slot_device,
        has_second=rng.random(n) < P_SECOND_DEVICE,
        app_user=rng.random(n) < P_APP_USER,
        start=rng.uniform(0.0, window, n),
    )
