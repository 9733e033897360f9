"""The synthetic multi-channel demo data generator (see :mod:`journeylens.demo.generator`)."""

from __future__ import annotations

from journeylens.demo.generator import generate

__all__ = ["generate"]
