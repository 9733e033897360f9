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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from journeylens.errors import SpecError, did_you_mean

T = TypeVar("T")

# The command line's names of options whose Python name differs, per analysis.
PATHS_NAMES = {"from_": "from_node", "to": "to_node", "ends": "include_end"}
FRICTION_NAMES = {"all": "include_all"}
# What the workspace's analyses take besides their spec's fields (``funnel(where=...)``).
WHERE = ("where",)


def renamed(options: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``options`` with the command line's names (``names``) as the fields'."""
    return {names.get(key, key): value for key, value in options.items()}


def spec_of(
    factory: Callable[..., T],
    options: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
    also: Sequence[str] = WHERE,
) -> T:
    """``factory(**options)`` (a dataclass, or a function of keywords), the command line's
    ``names`` taken too; ``also``: the caller's own options, named among the options when
    one is unknown."""
    given = renamed(options, names or {})
    check_options(factory, given, also)
    return factory(**given)


def check_options(
    factory: Callable[..., Any], options: Mapping[str, Any], also: Sequence[str] = WHERE
) -> None:
    """Raise for a key of ``options`` that is none of ``factory``'s keywords (the error names
    them and ``also``, the caller's own)."""
    fields = list(inspect.signature(factory).parameters)
    for key in options:
        if key not in fields:
            named = [*fields, *(name for name in also if name not in fields)]
            raise SpecError(
                f"Unknown option {key!r}.{did_you_mean(key, named)} The options: "
                f"{', '.join(named)}."
            )
