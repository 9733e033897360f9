"""``python -m journeylens``: the command line, as the ``journeylens`` script runs it."""

from __future__ import annotations

from journeylens.cli import main

if __name__ == "__main__":  # pragma: no cover - run as a module by the tests' child process
    main()
