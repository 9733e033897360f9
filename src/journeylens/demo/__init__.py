"""The synthetic multi-channel demo data generator (see :mod:`journeylens.demo.generator`)."""

from __future__ import annotations

from journeylens.demo.generator import MONTHLY_COSTS, REPORT_CURRENCY, currency_rates, generate

__all__ = ["MONTHLY_COSTS", "REPORT_CURRENCY", "currency_rates", "generate"]
