"""An analysis's options given as keywords in Python: by its field's name or by the command
line's, and an unknown one a clear error instead of a ``TypeError`` from deep inside.

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Spec:
...     include_end: bool = False
>>> spec_of(Spec, {"ends": True}, {"ends": "include_end"})
Spec(include_end=True)
>>> spec_of(Spec, {"include_ed": True})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
journeylens.errors.SpecError: Unknown option 'include_ed'. Did you mean 'include_end'? ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from journeylens.errors import SpecError, did_you_mean

T = TypeVar("T")

# The command line's names of options whose Python name differs, per analysis.
PATHS_NAMES = {"from_": "from_node", "to": "to_node", "ends": "include_end"}
FRICTION_NAMES = {"all": "include_all"}


def renamed(options: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``options`` with the command line's names (``names``) as the fields'."""
    return {names.get(key, key): value for key, value in options.items()}


def spec_of(
    factory: Callable[..., T], options: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> T:
    """``factory(**options)`` (a dataclass, or a function of keywords), the command line's
    ``names`` taken too."""
    given = renamed(options, names or {})
    check_options(factory, given)
    return factory(**given)


def check_options(factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Raise for a key of ``options`` that is none of ``factory``'s keywords."""
    fields = list(inspect.signature(factory).parameters)
    for key in options:
        if key not in fields:
            raise SpecError(
                f"Unknown option {key!r}.{did_you_mean(key, fields)} The options: "
                f"{', '.join(fields)}."
            )
