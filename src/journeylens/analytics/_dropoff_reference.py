"""What became of the people who dropped out of a funnel, as a tiny pure-Python reference.

The engine (:mod:`journeylens.analytics.dropoff`) is property-tested against this module; when they
disagree, the engine is wrong.

Rules
-----
The funnel is counted by the funnel rules (:mod:`journeylens.analytics._funnel_reference`). A unit
whose counted attempt reached step *k − 1* but not step *k* (2 ≤ k ≤ n) *dropped at step k*.

Times are whole seconds since the epoch. The attempt entered at ``t0`` (its step-1 time).

Deadline.
    The last second at which step *k* could still have counted: ``t0 + within``; with a per-step
    window for step *k*, the earlier of that and ``t(k−1) + step_within[k]``.

End of data.
    ``as_of`` when given, else the time of the latest event in the data (any person); with
    ``until``, at most the second before ``until`` (nothing later can be seen).

Goal.
    The ``goal`` step when given, else the funnel's last step *without its filters* (its kind and
    name only): a funnel ending in ``event:purchase[channel=web]`` has the goal ``event:purchase``,
    so a purchase in the store or by phone is the goal reached another way. A last step made of
    filters alone (``[plan=pro]``) is its own goal.

Classes, the first that holds wins (every dropped unit gets exactly one):

``in_progress``
    The deadline is after the end of data: the unit may still move on. Not a drop-off yet.
``changed``
    The person (``person_id``, all their sessions and devices) did a goal event at or after ``t0``
    and at or before the deadline: they reached the goal by another route — another channel,
    product or plan, or without the funnel's path.
``postponed``
    The person did an event matching step *k* or the goal after the deadline: they came back and
    moved on, later than the funnel allows.
``abandoned``
    Nothing of the above: no step *k* and no goal after entering.

Only events within ``since``/``until`` are looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from journeylens.analytics._funnel_reference import Event, reference_outcomes, seconds
from journeylens.journey.steps import step_matches

if TYPE_CHECKING:
    from journeylens.analytics.dropoff import DropoffSpec

Classified = tuple[tuple[str, ...], int, str | None, str]


def _in_range(events: Sequence[Event], spec: DropoffSpec) -> list[Event]:
    since, until = spec.funnel.since, spec.funnel.until
    return [
        e for e in events if (since is None or e[1] >= since) and (until is None or e[1] < until)
    ]


def reference_dropoff(events: Sequence[Event], spec: DropoffSpec) -> list[Classified]:
    """Every dropped unit as ``(unit, step, segment, kind)``, by the rules above.

    Examples
    --------
    >>> from datetime import datetime as d
    >>> from journeylens.analytics.dropoff import DropoffSpec
    >>> from journeylens.analytics.funnels import FunnelSpec
    >>> log = [("ann", d(2026, 1, 1), "1", {"event": "a"}), ("bob", d(2026, 2, 1), "2", {})]
    >>> reference_dropoff(log, DropoffSpec(FunnelSpec(steps=["a", "b"], within="1d")))
    [(('ann',), 2, None, 'abandoned')]
    """
    funnel, n = spec.funnel, len(spec.funnel.steps)
    scope = _in_range(events, spec)
    if not scope:
        return []
    end = max(seconds(e[1]) for e in events)
    if spec.funnel.until is not None:
        end = min(end, seconds(spec.funnel.until) - 1)
    if spec.as_of is not None:
        end = seconds(spec.as_of)
    out = []
    for outcome in reference_outcomes(events, funnel):
        if outcome.reach >= n:
            continue
        step = outcome.reach + 1
        deadline = outcome.times[0] + funnel.window
        limit = funnel.step_windows[outcome.reach]
        if limit is not None:
            deadline = min(deadline, outcome.times[-1] + limit)
        mine = [(seconds(e[1]), e[3]) for e in scope if e[0] == outcome.unit[0]]
        goal = [sec for sec, row in mine if step_matches(spec.goal_step, row)]
        again = [sec for sec, row in mine if step_matches(funnel.parsed_steps[step - 1], row)]
        if deadline > end:
            kind = "in_progress"
        elif any(outcome.times[0] <= sec <= deadline for sec in goal):
            kind = "changed"
        elif any(sec > deadline for sec in goal + again):
            kind = "postponed"
        else:
            kind = "abandoned"
        out.append((outcome.unit, step, outcome.segment, kind))
    return sorted(out, key=lambda r: (r[0], r[1]))
