"""Proportions: a rate's Wilson interval, and whether two rates differ (z-test or Fisher's).

Funnels give each step's conversion its interval and test a breakdown's values against the
rest; drop-off, trends, drivers and before/after comparisons read the same.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(successes: int, trials: int) -> tuple[float | None, float | None]:
    """The Wilson score 95% interval of a proportion (None, None without trials).

    Examples
    --------
    >>> low, high = wilson(8, 10)
    >>> round(low, 3), round(high, 3)
    (0.49, 0.943)
    >>> wilson(7, 7)[1], wilson(0, 7)[0]
    (1.0, 0.0)
    """
    if trials <= 0:
        return None, None
    p, z2 = successes / trials, Z95 * Z95
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # At 0 and at every trial the bound is exactly 0 or 1 (the arithmetic leaves 1e-17s).
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


# Below this expected count in a cell of the 2×2 table, the normal approximation fails.
EXPECTED_MIN = 5


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float | None, float | None]:
    """Two-sided test of ``x1/n1`` against ``x2/n2``; returns (z, p-value), Nones when
    undefined (a side without units, or nobody or everybody converting on both).

    The pooled two-proportion z-test where every expected count of the 2×2 table is at least
    :data:`EXPECTED_MIN`; else Fisher's exact test (its p-value, and no z): two people against
    seven are too few for a normal approximation.

    Examples
    --------
    >>> z, p = two_proportion_test(30, 100, 50, 100)
    >>> round(z, 2), round(p, 4)
    (-2.89, 0.0039)
    >>> z, p = two_proportion_test(1, 2, 0, 7)  # z would say p = 0.047
    >>> z, round(p, 3)
    (None, 0.222)
    """
    if n1 <= 0 or n2 <= 0:
        return None, None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None, None
    hits = x1 + x2
    if min(n1, n2) * min(pooled, 1 - pooled) < EXPECTED_MIN:
        return None, _fisher_exact(x1, n1, n2, hits)
    z = (x1 / n1 - x2 / n2) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def _fisher_exact(x1: int, n1: int, n2: int, hits: int) -> float:
    """Two-sided Fisher's exact p-value of ``x1`` of ``n1`` against ``hits - x1`` of ``n2``:
    the probability, with the margins fixed, of every table no likelier than the one seen."""

    def log_p(x: int) -> float:  # hypergeometric: x of the n1 among the hits
        return _log_comb(n1, x) + _log_comb(n2, hits - x) - _log_comb(n1 + n2, hits)

    low, high = max(0, hits - n2), min(n1, hits)
    seen = log_p(x1)
    tables = (math.exp(lp) for x in range(low, high + 1) if (lp := log_p(x)) <= seen + 1e-9)
    return min(1.0, math.fsum(tables))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def ratio(top: float, bottom: float) -> float | None:
    """``top / bottom``, None where ``bottom`` is 0 (a rate of nobody)."""
    return top / bottom if bottom else None
