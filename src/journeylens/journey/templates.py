"""Stage templates: the journey models journeylens ships, each a TOML file beside this module.

A template file has ``description``, ``[[stages]]`` (``key`` and ``labels`` in en, sv, nb, fi, ro
and zh) and ``[[touchpoints]]`` (a starter catalog in the workspace config's format).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from journeylens.errors import unknown

TEMPLATES = ("three_stage", "four_stage_delight", "four_stage_retention", "five_stage")
DEFAULT_TEMPLATE = "four_stage_delight"


def load_template(name: str) -> dict[str, Any]:
    """The decoded template ``name``, ready to be the body of a workspace config."""
    if name not in TEMPLATES:
        raise unknown("template", name, TEMPLATES)
    text = resources.files("journeylens.journey").joinpath("templates", f"{name}.toml")
    return tomllib.loads(text.read_text(encoding="utf-8"))
