"""journeylens: customer-journey analytics on DuckDB or Spark.

>>> import journeylens
>>> {"open_workspace", "init_workspace", "JourneyLensError"} <= set(journeylens.__all__)
True

The public surface is loaded on first use, so ``import journeylens`` (and the command line's
``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "open_workspace": "journeylens.workspace",
    "init_workspace": "journeylens.workspace",
    "Workspace": "journeylens.workspace",
    "Config": "journeylens.config",
    "Touchpoint": "journeylens.config",
    "Stage": "journeylens.config",
    "ImportSummary": "journeylens.collect.importer",
    "JourneyLensError": "journeylens.errors",
    "ConfigError": "journeylens.errors",
    "WorkspaceError": "journeylens.errors",
    "ImportFileError": "journeylens.errors",
    "SpecError": "journeylens.errors",
    "UnknownNameError": "journeylens.errors",
    "EngineError": "journeylens.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'journeylens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
