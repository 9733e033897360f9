"""The journey segments, each simulated for all people of a chunk at once."""

from __future__ import annotations

import numpy as np

from journeylens.demo import _journeys as jm
from journeylens.demo._journeys import DAY, EV, HOUR, People, Steps

CHANNELS = (
    "search",
    "social",
    "web",
    "app",
    "email",
    "store",
    "call_centre",
    "display",
    "offline",
    "referral",
)
CH = {name: i for i, name in enumerate(CHANNELS)}
INHERIT = -2  # the step uses the device of the session it continues
ARRIVE, EXPOSE, CONSIDER, DECIDE, ASSIST, AFTER = range(6)


def _last_slot(person: np.ndarray, pos: np.ndarray, slot: np.ndarray, cur: np.ndarray) -> None:
    """Update ``cur`` (per person) with the slot of each person's last new session."""
    if person.size == 0:
        return
    order = np.lexsort((pos, person))
    p, s = person[order], slot[order]
    last = np.r_[p[1:] != p[:-1], True]
    cur[p[last]] = s[last]


def simulate(
    rng: np.random.Generator, people: People, extras: dict[int, list[int]], friction: bool = True
) -> Steps:
    """All steps of every person in ``people``; ``extras`` maps a phase to extra event codes.

    Without ``friction`` every device pays and abandons at the desktop rates (same draws).
    """
    steps = Steps()
    everyone = np.arange(people.n)
    cur_slot = np.zeros(people.n, np.int8)
    _arrive(rng, people, steps)
    exposed = _expose(rng, people, steps, cur_slot)
    intent = np.ones(people.n)
    for name, _share, mult in jm.ARRIVALS:
        intent[people.arrival == EV[name]] = mult
    lift_c, lift_d = np.ones(people.n), np.ones(people.n)
    for name, (lc, ld) in jm.LIFT.items():
        lift_c *= np.where(exposed[EV[name]], lc, 1.0)
        lift_d *= np.where(exposed[EV[name]], ld, 1.0)
    consider = rng.random(people.n) < np.minimum(0.95, jm.P_CONSIDER * intent * lift_c)
    decide = consider & (rng.random(people.n) < np.minimum(0.9, jm.P_DECIDE * lift_d))
    identified = _consider(rng, people, steps, cur_slot, consider, decide)
    buy_online, abandoned = _decide(rng, people, steps, cur_slot, decide, identified, friction)
    buy_assisted = _assist(rng, steps, abandoned, consider & ~decide & identified)
    _after(rng, people, steps, buy_online | buy_assisted)
    phases = {
        ARRIVE: everyone,
        CONSIDER: np.flatnonzero(consider),
        DECIDE: np.flatnonzero(decide),
        AFTER: np.flatnonzero(buy_online | buy_assisted),
    }
    for phase, codes in extras.items():
        who = phases[phase]
        for j, code in enumerate(codes):
            chosen = who[rng.random(who.size) < 0.15]
            seg = CONSIDER if phase == DECIDE else phase
            n = chosen.size
            steps.add(
                chosen,
                seg,
                np.full(n, 50_000 + j),
                np.full(n, code),
                jm.small_gaps(rng, n),
                np.zeros(n, bool),
                np.full(n, INHERIT),
            )
    return steps


def _arrive(rng: np.random.Generator, people: People, steps: Steps) -> None:
    n, everyone = people.n, np.arange(people.n)
    steps.add(
        everyone, ARRIVE, np.zeros(n), people.arrival, np.zeros(n), np.ones(n, bool), np.zeros(n)
    )
    direct = np.isin(people.arrival, [EV["organic_search_visit"], EV["blog_view"]])
    follow = [
        ("landing_page_view", ~direct & (rng.random(n) < 0.85)),
        ("blog_view", (people.arrival != EV["blog_view"]) & (rng.random(n) < 0.30)),
        ("page_not_found", rng.random(n) < 0.03),
    ]
    for pos, (name, mask) in enumerate(follow, start=1):
        who = everyone[mask]
        steps.add(
            who,
            ARRIVE,
            np.full(who.size, pos),
            np.full(who.size, EV[name]),
            jm.small_gaps(rng, who.size),
            np.zeros(who.size, bool),
            np.full(who.size, INHERIT),
        )


def _expose(rng: np.random.Generator, people: People, steps: Steps, cur_slot: np.ndarray):
    """Retargeting ad clicks, in random order, each opening a session days after arrival."""
    exposed: dict[int, np.ndarray] = {}
    persons, positions, slots = [], [], []
    for name, p in jm.EXPOSURES:
        code = EV[name]
        who = np.flatnonzero(rng.random(people.n) < p)
        exposed[code] = people.arrival == code
        exposed[code][who] = True
        pos = rng.integers(0, 400, who.size) * 2
        slot = jm.pick_slot(rng, people, who)
        steps.add(
            who,
            EXPOSE,
            pos,
            np.full(who.size, code),
            jm.session_gaps(rng, who.size, 2 * HOUR, 7 * DAY),
            np.ones(who.size, bool),
            slot,
        )
        land = who[rng.random(who.size) < 0.7]
        land_pos = pos[np.isin(who, land)] + 1
        steps.add(
            land,
            EXPOSE,
            land_pos,
            np.full(land.size, EV["landing_page_view"]),
            jm.small_gaps(rng, land.size),
            np.zeros(land.size, bool),
            np.full(land.size, INHERIT),
        )
        persons.append(who)
        positions.append(pos)
        slots.append(slot)
    _last_slot(np.concatenate(persons), np.concatenate(positions), np.concatenate(slots), cur_slot)
    return exposed


def _consider(
    rng: np.random.Generator,
    people: People,
    steps: Steps,
    cur_slot: np.ndarray,
    consider: np.ndarray,
    decide: np.ndarray,
) -> np.ndarray:
    """Browsing with loops (pricing ↔ reviews); returns who identified on the way."""
    idx = np.flatnonzero(consider)
    dec = decide[idx]
    lengths = np.minimum(
        np.where(dec, 3 + rng.poisson(4, idx.size), 2 + rng.poisson(3, idx.size)), 30
    )
    cumulative = jm.walk_matrix(jm.CONSIDER_WALK, len(jm.KNOWN_EVENTS))
    first = jm.categorical(rng, jm.CONSIDER_START, idx.size)
    row, pos, code = jm.markov_walk(rng, first, lengths, cumulative)
    person = idx[row]
    new = rng.random(row.size) < np.where(pos == 0, 0.6, 0.15)
    gap = np.where(new, jm.session_gaps(rng, row.size, HOUR, 5 * DAY), jm.small_gaps(rng, row.size))
    slot = np.full(row.size, INHERIT, np.int8)
    slot[new] = jm.pick_slot(rng, people, person[new])
    steps.add(person, CONSIDER, pos, code, gap, new, slot)
    _last_slot(person[new], pos[new], slot[new], cur_slot)
    carts = dec | (rng.random(idx.size) < 0.2)
    who = idx[carts]
    steps.add(
        who,
        CONSIDER,
        lengths[carts],
        np.full(who.size, EV["add_to_cart"]),
        jm.small_gaps(rng, who.size),
        np.zeros(who.size, bool),
        np.full(who.size, INHERIT),
    )
    identified = np.zeros(people.n, bool)
    identified[person[code == EV["identify"]]] = True
    return identified


def _decide(
    rng: np.random.Generator,
    people: People,
    steps: Steps,
    cur_slot: np.ndarray,
    decide: np.ndarray,
    identified: np.ndarray,
    friction: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Cart → checkout → payment (with device-dependent errors and abandonment) → purchase."""
    idx = np.flatnonzero(decide)
    n = idx.size
    postpone = rng.random(n) < jm.P_POSTPONE
    cont = ~postpone & (rng.random(n) < 0.45)
    gap0 = np.where(
        postpone,
        rng.uniform(15 * DAY, 45 * DAY, n),
        np.where(cont, jm.small_gaps(rng, n), jm.session_gaps(rng, n, HOUR, 5 * DAY)),
    )
    slot0 = np.where(cont, cur_slot[idx], jm.pick_slot(rng, people, idx))
    device = people.slot_device[idx, slot0]
    risk = device if friction else np.full(n, jm.DESKTOP)
    known = identified[idx]
    checkout = rng.random(n) > jm.P_ABANDON_CART
    payment = checkout & (rng.random(n) > jm.P_ABANDON_CHECKOUT)
    err = payment & (rng.random(n) < jm.P_PAYMENT_ERROR[risk])
    n_err = np.where(err, 1 + rng.binomial(2, 0.45, n), 0)
    gave_up = err & (rng.random(n) < 0.5)
    abandon = rng.random(n) < jm.P_ABANDON_AFTER_PAYMENT[risk] + 0.15 * err
    buy = payment & ~gave_up & ~abandon
    plan = [
        (0, "cart_view", np.ones(n, bool)),
        (1, "checkout_start", checkout),
        (2, "login_failed", checkout & ~known & (rng.random(n) < 0.06)),
        (3, "identify", checkout & ~known),
        (4, "checkout_payment", payment),
    ]
    for k in (1, 2, 3):
        plan.append((3 + 2 * k, "payment_error", n_err >= k))
        plan.append((4 + 2 * k, "checkout_payment", (n_err >= k) & ((n_err > k) | ~gave_up)))
    plan.append((11, "purchase", buy))
    for pos, name, mask in plan:
        who = np.flatnonzero(mask)
        gap: np.ndarray = jm.small_gaps(rng, who.size)
        new: np.ndarray = np.zeros(who.size, bool)
        slot: np.ndarray = np.full(who.size, INHERIT)
        if pos == 0:
            gap, new, slot = gap0, ~cont, np.where(cont, INHERIT, slot0)
        elif 5 <= pos <= 10:
            gap = rng.uniform(2.0, 10.0, who.size)
        steps.add(
            idx[who],
            DECIDE,
            np.full(who.size, pos),
            np.full(who.size, EV[name]),
            np.broadcast_to(gap, (who.size,)) if pos else gap,
            np.broadcast_to(new, (who.size,)) if pos else new,
            np.broadcast_to(slot, (who.size,)) if pos else slot,
        )
    buy_online = np.zeros(people.n, bool)
    buy_online[idx[buy]] = True
    abandoned = np.zeros(people.n, bool)
    abandoned[idx[checkout & ~buy]] = True
    return buy_online, abandoned


def _assist(
    rng: np.random.Generator, steps: Steps, abandoned: np.ndarray, asking: np.ndarray
) -> np.ndarray:
    """Store visits and calls: abandoned online checkouts that change channel, and questions."""
    n = abandoned.size
    changers = abandoned & (rng.random(n) < jm.P_ASSISTED)
    callers = asking & (rng.random(n) < 0.05)
    who = np.flatnonzero(changers | callers)
    store = changers[who] & (rng.random(who.size) < 0.6)
    chan = np.where(store, CH["store"], CH["call_centre"])
    code = np.where(store, EV["store_visit"], EV["call_centre_call"])
    steps.add(
        who,
        ASSIST,
        np.zeros(who.size),
        code,
        jm.session_gaps(rng, who.size, DAY, 10 * DAY),
        np.ones(who.size, bool),
        np.full(who.size, jm.OFFLINE),
        chan,
    )
    buys = changers[who] & (rng.random(who.size) < np.where(store, 0.7, 0.55))
    b = who[buys]
    steps.add(
        b,
        ASSIST,
        np.ones(b.size),
        np.full(b.size, EV["purchase"]),
        rng.uniform(120.0, 1500.0, b.size),
        np.zeros(b.size, bool),
        np.full(b.size, jm.OFFLINE),
        chan[buys],
    )
    bought = np.zeros(n, bool)
    bought[b] = True
    return bought


def _after(rng: np.random.Generator, people: People, steps: Steps, buyers: np.ndarray) -> None:
    """Onboarding, app use, service, newsletters, coupons and repeat purchases."""
    idx = np.flatnonzero(buyers)
    lengths = np.minimum(1 + rng.poisson(4.0, idx.size), 30)
    cumulative = jm.walk_matrix(jm.AFTER_WALK, len(jm.KNOWN_EVENTS))
    first = np.full(idx.size, EV["onboarding_email_open"])
    row, pos, code = jm.markov_walk(rng, first, lengths, cumulative)
    person = idx[row]
    starters = np.isin(code, [EV[c] for c in jm.AFTER_SESSION_STARTERS])
    gap = np.where(
        pos == 0,
        jm.session_gaps(rng, row.size, 2 * HOUR, 2 * DAY),
        jm.session_gaps(rng, row.size, DAY, 20 * DAY),
    )
    gap = np.where(starters, gap, jm.small_gaps(rng, row.size))
    slot = np.full(row.size, INHERIT, np.int8)
    slot[starters] = jm.pick_slot(rng, people, person[starters])
    slot[code == EV["app_open"]] = 2
    people.app_user[person[code == EV["app_open"]]] = True
    steps.add(person, AFTER, pos, code, gap, starters, slot)
