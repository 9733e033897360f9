"""The workspace config's keys: an unknown one is an error naming the file, where it is, the key,
the likely one meant and the keys known there; every key the code writes or the docs show loads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from journeylens.config import (
    CONFIG_FILE,
    ENTRIES,
    TABLES,
    TOP_LEVEL,
    load_config,
    parse_config,
    save_config,
)
from journeylens.errors import ConfigError
from journeylens.journey.templates import TEMPLATES, load_template
from journeylens.workspace import init_workspace, open_workspace

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


@pytest.fixture
def written(tmp_path: Path) -> Path:
    """A config as ``journeylens init`` writes it."""
    init_workspace(tmp_path / "ws", "four_stage_delight").close()
    return tmp_path / "ws" / CONFIG_FILE


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "key", "where", "meant", "known"),
    [
        ("[goals]", "[goal]", "'goal'", "at the top level", "goals", "currency, description"),
        (
            "retry_seconds = 30",
            "retry_second = 30",
            "'friction.retry_second'",
            "in [friction]",
            "retry_seconds",
            "error_patterns, postpone_hours, retry_seconds",
        ),
        (
            "inactivity_minutes = 30",
            "inactivity_minutes = 30\ninactivty_minutes = 10",
            "'sessions.inactivty_minutes'",
            "in [sessions]",
            "inactivity_minutes",
            "inactivity_minutes.",
        ),
    ],
)
def test_a_misspelt_key_is_an_error_that_names_it_and_suggests_the_right_one(
    written, old, new, key, where, meant, known
):
    _edit(written, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(written.parent)
    message = str(caught.value)
    assert message.startswith(f"{written}: unknown key {key} {where}.")
    assert f"Did you mean '{meant}'?" in message
    assert f"Known keys there: {known}" in message


def test_an_unknown_key_in_a_stage_or_touchpoint_entry_names_the_entry(written):
    _edit(written, 'key = "decision"', 'key = "decision"\nlabel = "Decide"')
    with pytest.raises(ConfigError, match=r"'stages\[2\]\.label' in a \[\[stages\]\] entry"):
        load_config(written.parent)
    _edit(written, 'label = "Decide"', "")
    _edit(written, 'cost_period = "month"', 'cost_priod = "month"')
    with pytest.raises(ConfigError) as caught:
        load_config(written.parent)
    assert "'touchpoints[0].cost_priod' in a [[touchpoints]] entry." in str(caught.value)
    assert "Did you mean 'cost_period'?" in str(caught.value)
    assert "Known keys there: channel, content_type, cost, cost_period, kind," in str(caught.value)


def test_a_key_of_another_table_says_where_it_belongs(written):
    # Written at the end of the file, it lands in the last [[touchpoints]] entry.
    written.write_text(written.read_text(encoding="utf-8") + "inactivity_minutes = 10\n")
    with pytest.raises(ConfigError, match=r"'inactivity_minutes' is a key of \[sessions\];"):
        load_config(written.parent)


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_loads_as_a_file_and_as_a_body(tmp_path, template):
    parse_config(load_template(template))  # its description is accepted
    with init_workspace(tmp_path / "ws", template) as ws:
        assert load_config(ws.path) == ws.config


def _full_config() -> dict[str, Any]:
    """A config with every table and key of the layout."""
    raw = tomllib.loads(DOCS.read_text(encoding="utf-8").split("```toml\n")[1].split("```")[0])
    raw["goals"]["revenue_property"] = "price"
    raw["stages"] = load_template("four_stage_delight")["stages"]
    return raw


def test_every_key_the_docs_show_loads_and_the_docs_show_every_key():
    raw = _full_config()
    config = parse_config(raw)
    assert (config.name, config.retry_seconds, config.report_currency) == ("shop", 30, "EUR")
    text = DOCS.read_text(encoding="utf-8")
    for table, keys in {**TABLES, **ENTRIES}.items():
        for key in keys:
            assert re.search(rf"^#? ?{key} = ", text, re.MULTILINE), f"{table}.{key}"


def _every_key() -> list[tuple[str, ...]]:
    paths = [(key,) for key in TOP_LEVEL if key not in TABLES and key not in ENTRIES]
    paths += [(table, key) for table, keys in TABLES.items() for key in keys]
    paths += [(name, "0", key) for name, keys in ENTRIES.items() for key in keys]
    return paths


@pytest.mark.parametrize("path", _every_key(), ids=".".join)
def test_the_loader_reads_and_checks_every_key_of_the_layout(path):
    # A value of the wrong type in any key is reported with its name: the layout is what the
    # loader reads, no key listed there is ignored.
    raw = _full_config()
    *parents, key = path
    table: Any = raw
    for part in parents:
        table = table[int(part)] if part.isdigit() else table[part]
    table[key] = True
    pattern = re.escape(".".join(path).replace(".0.", "[0]."))
    with pytest.raises(ConfigError, match=pattern):
        parse_config(raw)


def test_what_the_code_writes_loads(tmp_path):
    config = parse_config(_full_config())
    assert config.revenue_property
    assert config.currency_rates
    assert config.touchpoints
    save_config(config, tmp_path)
    assert load_config(tmp_path) == config


def test_a_config_written_by_a_catalog_import_loads(tmp_path):
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "Touchpoint,Events,Stage,Channel,Kind,Cost,Cost period,Team,Content type,Notes\n"
        "Support chat,support_chat|chat_*,delight,chat,owned,500,month,cx,chat,ours\n"
    )
    with init_workspace(tmp_path / "ws", "four_stage_delight") as ws:
        assert ws.import_files([catalog], kind="touchpoints").stored == 1
        imported = ws.config
    assert load_config(tmp_path / "ws") == imported
    with open_workspace(tmp_path / "ws") as ws:
        chat = next(t for t in ws.config.touchpoints if t.touchpoint == "Support chat")
        assert (chat.owner, chat.content_type, chat.cost) == ("cx", "chat", 500.0)


def test_a_demo_config_with_currency_loads(tmp_path):
    with init_workspace(tmp_path / "ws", "five_stage") as ws:
        ws.load_demo(events=2_000)
        written = ws.config
    assert written.report_currency is not None
    assert load_config(tmp_path / "ws") == written


def test_a_field_limit_below_the_ids_journeylens_makes_is_refused(written: Path) -> None:
    # A limit of 31 rejected every row of a file without ids, for the id made for it.
    _edit(written, "max_field_chars = 4096", "max_field_chars = 31")
    with pytest.raises(ConfigError, match=r"'import.max_field_chars' must be a whole number of 32"):
        load_config(written.parent)
