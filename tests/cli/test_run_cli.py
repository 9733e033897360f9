"""``journeylens.testing.run_cli``: a command run in the test's process gives what a child gives,
and leaves the process as it found it."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

from journeylens.testing import run_cli
from journeylens.workspace import ENV_WORKSPACE

# The child names itself by how it was started; the command run here, as the installed script.
CHILD_NAME = "python -m journeylens.cli"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run_cli") / "ws"
    run_cli("init", str(path), check=True)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--format", "json"],
        ["stages"],
        ["--help"],
        [],  # no command: the help, exit 2
        ["nonsense"],  # a usage error
        ["status", "-w", "/nowhere/at/all"],  # a journeylens error
        ["import", "missing.csv"],
    ],
)
def test_a_command_run_here_gives_what_a_child_gives(workspace: Path, args: list[str]) -> None:
    here = run_cli(*args, workspace=workspace)
    child = run_cli(*args, workspace=workspace, child=True)
    assert here.returncode == child.returncode
    assert _named(here.stdout) == _named(child.stdout)
    assert _named(here.stderr) == _named(child.stderr)


def _named(text: str) -> list[str]:
    """``text``'s words, the child's name for itself as the command's (the help pads its lines
    to the width of the terminal, which the longer name moves)."""
    return text.replace(CHILD_NAME, "journeylens").split()


def test_the_process_is_left_as_it_was(workspace: Path, monkeypatch, tmp_path) -> None:
    # The caller's workspace variable is neither read nor changed, nor are the arguments, the
    # streams or the warning filters (which a test run may set to raise).
    monkeypatch.setenv(ENV_WORKSPACE, str(tmp_path / "another"))
    before = (dict(os.environ), list(sys.argv), sys.stdout, sys.stderr, list(warnings.filters))
    used = run_cli("status", "--format", "json", workspace=workspace, check=True)
    assert '"events": 0' in used.stdout
    unnamed = run_cli("status")
    assert unnamed.returncode == 2
    assert "another" not in unnamed.stderr
    assert (
        dict(os.environ),
        list(sys.argv),
        sys.stdout,
        sys.stderr,
        list(warnings.filters),
    ) == before


def test_check_names_the_exit_and_the_error(tmp_path) -> None:
    with pytest.raises(AssertionError, match="exit 2: Error: "):
        run_cli("status", "-w", str(tmp_path / "none"), check=True)
