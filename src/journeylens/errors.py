"""The errors journeylens raises, with messages written for the person who has to act on them.

Every error has a stable snake_case ``code`` (for the JSON API and scripts) and inherits the builtin
it resembles, so ``except ValueError`` keeps working for callers that do not know journeylens.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class JourneyLensError(Exception):
    """Root of every error journeylens raises on purpose."""

    code = "journeylens_error"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": str(self)}


class ConfigError(ValueError, JourneyLensError):
    """The workspace configuration file is missing, unreadable or invalid; ``field`` names
    the key at fault where there is one (a catalog row's ``cost``)."""

    code = "config_error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WorkspaceError(FileNotFoundError, JourneyLensError):
    """The workspace directory does not exist or is not a journeylens workspace."""

    code = "workspace_error"


class ImportFileError(ValueError, JourneyLensError):
    """A whole input file cannot be imported (missing column, wrong encoding, unreadable).

    A reader's refusal of a whole file (:meth:`nothing_done`) ends saying what the command did
    not do, and keeps its ``reason``: another command that reads files (``attribution
    --paths``) says it in its own words (:meth:`worded_for`)."""

    code = "import_file_error"
    reason: str | None = None

    @classmethod
    def nothing_done(cls, reason: str, done: str = "imported") -> ImportFileError:
        """``reason`` and "; nothing was <done>." (". Nothing was <done>." after a sentence).

        >>> str(ImportFileError.nothing_done("a.csv: the file is empty"))
        'a.csv: the file is empty; nothing was imported.'
        >>> str(ImportFileError.nothing_done("a.csv: no sheet 'May'.", "attributed"))
        "a.csv: no sheet 'May'. Nothing was attributed."
        """
        ending = f" Nothing was {done}." if reason.endswith(".") else f"; nothing was {done}."
        error = cls(reason + ending)
        error.reason = reason
        return error

    def worded_for(self, done: str) -> ImportFileError:
        """A reader's refusal as a command that ``done`` (``attributed``) words it; another
        error as it is."""
        return self if self.reason is None else self.nothing_done(self.reason, done)


class SpecError(ValueError, JourneyLensError):
    """An analysis was asked for with arguments that do not make sense."""

    code = "spec_error"


class UnknownNameError(KeyError, JourneyLensError):
    """A stage, touchpoint, event or template name that the workspace does not know."""

    code = "unknown_name"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class EngineError(RuntimeError, JourneyLensError):
    """The storage engine is not available (for example Spark is not installed)."""

    code = "engine_error"


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or an empty string."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown(kind: str, value: str, choices: Iterable[str], where: str = "") -> UnknownNameError:
    """Build the error for an unknown name, listing what is allowed."""
    options = sorted(set(choices))
    place = f" {where}" if where else ""
    listing = ", ".join(f"'{c}'" for c in options) if options else "none defined"
    return UnknownNameError(
        f"Unknown {kind} '{value}'{place}.{did_you_mean(value, options)} Known: {listing}."
    )
