"""The command line as a user and a script see it: output shapes, exit codes, speed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from journeylens.testing import run_cli

JOURNEYLENS = [sys.executable, "-m", "journeylens.cli"]


def run(
    *args: str, workspace: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    return run_cli(*args, workspace=workspace, check=check)


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "ws"
    run("init", str(path), "--template", "five_stage")
    run("demo", "--events", "20000", "--seed", "3", workspace=path)
    return path


def workspace_with_file(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    """A new workspace, and a data file ``name`` holding ``text``, both under ``tmp_path``."""
    ws = tmp_path / "ws"
    run("init", str(ws))
    data = tmp_path / name
    data.write_text(text)
    return ws, data


def test_status_json_has_the_documented_shape(demo_ws):
    data = json.loads(run("status", "--format", "json", workspace=demo_ws).stdout)
    expected = {"events", "people", "sessions", "feedback", "rejected", "rejected_by_reason"}
    assert expected <= set(data)
    assert data["events"] > 15_000
    assert 0 < data["people"] < data["events"]
    assert data["sessions"] >= data["people"]
    assert data["feedback"] > 0
    assert data["rejected"] == 0
    assert data["rejected_by_reason"] == {}
    # The demo's markets pay in five currencies, reported in euros (no note to print).
    assert set(data["revenue_by_currency"]) == {"EUR", "SEK", "NOK", "RON", "CNY"}
    assert (data["report_currency"], data["currency_note"]) == ("EUR", None)


def test_stages_json_records(demo_ws):
    rows = json.loads(run("stages", "--format", "json", workspace=demo_ws).stdout)
    assert [r["stage"] for r in rows] == [
        "awareness",
        "consideration",
        "purchase",
        "usage",
        "loyalty",
    ]
    for row in rows:
        assert {"stage", "people", "conversion_from_previous"} <= set(row)
    assert rows[0]["people"] >= rows[2]["people"] > 0


def test_stages_table_names_the_touchpoints_that_move_people_on_and_precede_leaving(demo_ws):
    rows = json.loads(run("stages", "--format", "json", workspace=demo_ws).stdout)
    out = run("stages", workspace=demo_ws).stdout
    listed = out.split("Touchpoints per stage (people):\n")[1].splitlines()
    first = rows[0]
    top_moved, top_left = first["moved_on_by"][0], first["left_after"][0]
    assert listed[0].startswith(f"{first['stage']}: moved on from {top_moved['touchpoint']} ")
    assert f"left after {top_left['touchpoint']} ({top_left['people']:,})" in listed[0]


def test_summary_names_where_conversions_come_from_and_the_worst_friction(demo_ws):
    out = run("summary", workspace=demo_ws).stdout
    markov = json.loads(
        run("attribution", "--model", "markov", "--format", "json", workspace=demo_ws).stdout
    )
    best = max(markov, key=lambda r: r["conversions"])
    credit = out.split("Where purchases come from (Markov removal effects)")[1]
    first_row = next(line for line in credit.splitlines() if line.startswith("│"))
    assert first_row.split("│")[1].strip() == best["touchpoint"]
    friction = json.loads(
        run("friction", "--top", "3", "--format", "json", workspace=demo_ws).stdout
    )
    assert friction, "the demo plants friction"
    listed = out.split("\nFriction:\n")[1].splitlines()
    assert listed[: len(friction)] == [
        f"{i}. {r['explanation']}" for i, r in enumerate(friction, 1)
    ]
    assert "Touchpoints per stage (people):" in out


def test_touchpoints_lists_reach_and_gaps(demo_ws):
    data = json.loads(run("touchpoints", "--format", "json", workspace=demo_ws).stdout)
    by_name = {t["touchpoint"]: t for t in data["touchpoints"]}
    assert by_name["purchase"]["people"] > 0
    assert "page_not_found" in {u["event"] for u in data["unmapped_events"]}
    assert data["stages_without_touchpoints"] == []


def test_csv_output_and_where_filter(demo_ws):
    all_rows = run("stages", "--format", "csv", workspace=demo_ws).stdout.splitlines()
    assert all_rows[0].startswith("stage,people")
    mobile = json.loads(
        run("stages", "--format", "json", "--where", "device=mobile", workspace=demo_ws).stdout
    )
    everyone = json.loads(run("stages", "--format", "json", workspace=demo_ws).stdout)
    assert 0 < mobile[0]["people"] < everyone[0]["people"]


def test_import_reports_stored_and_rejected(tmp_path):
    ws, data = workspace_with_file(
        tmp_path, "e.csv", "ts,event,user_id\n2026-01-01T10:00:00Z,purchase,u\nnope,x,u\n"
    )
    out = json.loads(run("import", str(data), "--format", "json", workspace=ws).stdout)
    assert (out["stored"], out["rejected"]) == (1, 1)
    assert out["rejected_by_reason"] == {"unparseable_timestamp": 1}
    status = json.loads(run("status", "--format", "json", workspace=ws).stdout)
    assert status["rejected_by_reason"] == {"unparseable_timestamp": 1}
    shown = run("rejected", "--format", "json", workspace=ws).stdout
    assert json.loads(shown)[0]["line"] == 3


def test_rejected_rows_are_whole_in_json_and_csv_and_cut_in_a_table(tmp_path):
    long_name = "x" * 300
    ws, data = workspace_with_file(
        tmp_path, "e.csv", f"ts,event,user_id\nnope,{long_name},u\n2026-01-01T10:00:00Z,v,u\n"
    )
    run("import", str(data), workspace=ws)
    shown = json.loads(run("rejected", "--format", "json", workspace=ws).stdout)
    assert long_name in shown[0]["row"]
    frame = pd.read_csv(io.StringIO(run("rejected", "--format", "csv", workspace=ws).stdout))
    assert long_name in frame["row"].iloc[0]
    table = run("rejected", workspace=ws).stdout
    assert "…" in table
    assert long_name not in table


def test_nothing_rejected_is_an_empty_table(tmp_path):
    ws, data = workspace_with_file(tmp_path, "e.csv", "ts,event,user_id\n2026-03-01,view,u1\n")
    run("import", str(data), workspace=ws)
    shown = run("rejected", workspace=ws)
    assert shown.returncode == 0
    assert "Unexpected" not in shown.stderr
    assert json.loads(run("rejected", "--format", "json", workspace=ws).stdout) == []


def test_import_takes_a_directory_and_refuses_an_empty_one(tmp_path):
    ws, folder = tmp_path / "ws", tmp_path / "exports"
    run("init", str(ws))
    (folder / "day2").mkdir(parents=True)
    (folder / "a.csv").write_text("ts,event,user_id\n2026-01-01T10:00:00Z,view,u\n")
    (folder / "day2" / "b.csv").write_text("ts,event,user_id\n2026-01-02T10:00:00Z,buy,u\n")
    out = json.loads(run("import", str(folder), "--format", "json", workspace=ws).stdout)
    assert out["stored"] == 2
    assert out["files"] == [str(folder / "a.csv"), str(folder / "day2" / "b.csv")]
    (tmp_path / "none").mkdir()
    refused = run("import", str(tmp_path / "none"), workspace=ws, check=False)
    assert refused.returncode == 2
    assert "a directory without a file to import" in refused.stderr


def test_import_reads_a_european_spreadsheet_csv(tmp_path):
    data = tmp_path / "e.csv"
    data.write_text("ts;event;user_id;revenue\n2026-01-01T10:00:00Z;purchase;u;1.234,50\n")
    for flags, expected in (((), (0, 1)), (("--decimal-comma",), (1, 0))):
        ws = tmp_path / f"ws{len(flags)}"
        run("init", str(ws))
        out = run("import", str(data), *flags, "--format", "json", workspace=ws).stdout
        assert (json.loads(out)["stored"], json.loads(out)["rejected"]) == expected


def test_import_reads_the_sheets_named_and_notes_those_it_leaves(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "March"
    book.active.append(["ts", "event", "user_id"])
    book.active.append(["2024-03-01T12:00:00Z", "visit", "u1"])
    april = book.create_sheet("April")
    april.append(["ts", "event", "user_id"])
    april.append(["2024-04-01T12:00:00Z", "visit", "u2"])
    book.save(tmp_path / "book.xlsx")
    ws = tmp_path / "ws"
    run("init", str(ws))
    first = run("import", str(tmp_path / "book.xlsx"), workspace=ws)
    assert "read its first sheet, 'March', alone" in first.stderr
    args = ("import", str(tmp_path / "book.xlsx"), "--sheet", "March", "--sheet", "April")
    out = json.loads(run(*args, "--format", "json", workspace=ws).stdout)
    assert (out["stored"], out["already_stored"], out["notes"]) == (1, 1, [])


def test_import_sets_a_column_the_file_lacks(tmp_path):
    ws, data = workspace_with_file(
        tmp_path, "nps.csv", "ts,user_id,score\n2026-01-02T09:00:00Z,u1,9\n"
    )
    args = ("import", str(data), "--kind", "feedback", "--format", "json")
    out = run(*args, "--set", "metric=nps", workspace=ws).stdout
    assert json.loads(out)["stored"] == 1
    missing = run(*args, workspace=ws, check=False)
    assert missing.returncode == 2
    assert "missing required column 'metric'" in missing.stderr
    assert "--set metric=nps" in missing.stderr


def test_attribution_and_paths_say_why_they_found_little(tmp_path):
    # Event names the starter catalog does not map: no touches; and no "order" event at first.
    ws, data = workspace_with_file(
        tmp_path,
        "shop.csv",
        "event_time,event_type,user_id\n"
        "2019-10-01 00:00:00 UTC,view,1\n2019-10-01 00:05:00 UTC,order,1\n",
    )
    assert "no event has a touchpoint" in run("import", str(data), workspace=ws).stderr
    none = run("attribution", "--format", "json", workspace=ws)
    assert json.loads(none.stdout) == []
    assert "No event is named 'purchase', the goal" in none.stderr
    untouched = run("attribution", "--goal", "order", workspace=ws)
    assert "No event but the goal's ('order') has a touchpoint" in untouched.stderr
    assert "--level event" in run("paths", workspace=ws).stderr
    for command in ("stages", "conformance"):
        assert "no event has a stage" in run(command, workspace=ws).stderr
    assert "no event has a touchpoint" in run("friction", workspace=ws).stderr
    assert run("paths", "--level", "event", workspace=ws).stderr == ""


def test_attribution_that_credits_nothing_says_why(tmp_path):
    # Touches, but the goal is spelled another way: rows of zeros, and the note names the event.
    ws, data = workspace_with_file(
        tmp_path,
        "e.csv",
        "ts,event,user_id,channel\n2026-01-01T10:00:00Z,Ad Click,u1,search\n"
        "2026-01-01T11:00:00Z,Purchase,u1,search\n",
    )
    run("import", str(data), workspace=ws)
    out = run("attribution", "--level", "channel", workspace=ws)
    assert "No event is named 'purchase', the goal" in out.stderr
    assert "Did you mean 'Purchase'?" in out.stderr
    credited = run("attribution", "--level", "channel", "--goal", "Purchase", workspace=ws)
    assert credited.stderr == ""


def test_attribution_credits_every_conversion_event_of_the_workspace(tmp_path):
    # Two goals: ann's purchase (50) and bob's signup both count, by default and when named.
    ws, data = workspace_with_file(
        tmp_path,
        "e.csv",
        "user_id,ts,event,channel,revenue\n"
        "ann,2026-03-01T10:00:00Z,visit,search,\nann,2026-03-01T10:05:00Z,purchase,,50\n"
        "bob,2026-03-01T11:00:00Z,visit,email,\nbob,2026-03-01T11:05:00Z,signup,,\n",
    )
    run("import", str(data), workspace=ws)
    config = ws / "journeylens.toml"
    both = '    "signup",\n    "purchase",\n'
    config.write_text(config.read_text().replace('    "purchase",\n', both, 1))
    args = ("attribution", "--level", "channel", "--model", "linear", "--format", "json")
    expected = {"search": (1.0, 50.0), "email": (1.0, 0.0)}
    for goals in ((), ("--goal", "purchase", "--goal", "signup")):
        out = run(*args, *goals, workspace=ws)
        credit = {r["channel"]: (r["conversions"], r["revenue"]) for r in json.loads(out.stdout)}
        assert credit == expected
        assert out.stderr == ""
    named = run(*args, "--goal", "signup", workspace=ws).stdout
    assert {r["channel"] for r in json.loads(named)} == {"email"}
    nowhere = run("attribution", "--goal", "signup", "--goal", "order", workspace=ws, check=False)
    assert "Unknown event 'order' as the goal" in nowhere.stderr


def test_attribution_names_touchpoints_the_catalog_does_not_list(tmp_path):
    # The till names its own touchpoint, which the catalog lacks: no touch, and a note says so.
    ws, data = workspace_with_file(
        tmp_path,
        "e.csv",
        "user_id,ts,event,touchpoint\nann,2026-03-01T10:00:00Z,landing_page_view,\n"
        "ann,2026-03-01T10:05:00Z,till_sale,pos_till\nann,2026-03-01T10:06:00Z,purchase,\n",
    )
    run("import", str(data), workspace=ws)
    out = run("attribution", "--model", "linear", "--format", "json", workspace=ws)
    assert [r["touchpoint"] for r in json.loads(out.stdout)] == ["landing_page"]
    assert "1 event(s) at touchpoints the catalog does not list ('pos_till')" in out.stderr


def test_attribution_of_an_impression_log_by_channel(tmp_path):
    # The shape of the attribution data sets tutorials use: a cookie, impressions that name a
    # channel, conversions with their value. The cookie is the visitor; the interaction needs a
    # --map; the value is revenue.
    ws, data = workspace_with_file(
        tmp_path,
        "attribution_data.csv",
        "cookie,time,interaction,conversion,conversion_value,channel\n"
        "c1,2018-07-03T13:02:11Z,impression,0,0,Instagram\n"
        "c1,2018-07-04T08:00:00Z,impression,0,0,Paid Search\n"
        "c1,2018-07-05T09:00:00Z,conversion,1,12.5,Paid Search\n"
        "c2,2018-07-03T10:00:00Z,impression,0,0,Facebook\n",
    )
    run("import", str(data), "--map", "event=interaction", workspace=ws)
    args = ("attribution", "--goal", "conversion", "--model", "linear", "--value", "revenue")
    out = run(*args, "--level", "channel", "--format", "json", workspace=ws).stdout
    credit = {r["channel"]: r["revenue"] for r in json.loads(out)}
    assert credit == {"Instagram": 6.25, "Paid Search": 6.25}
    table = run(*args, "--level", "channel", workspace=ws).stdout
    assert "Attribution of revenue" in table
    assert "6.25" in table
    # Incrementality is per touchpoint: asked by channel, a clear refusal, not a crash.
    lift = run(
        "attribution", "--model", "incrementality", "--level", "channel", workspace=ws, check=False
    )
    assert lift.returncode == 2
    assert "Incrementality is measured per touchpoint" in lift.stderr
    us = tmp_path / "us.csv"
    us.write_text("cookie,time,interaction\nc3,12/13/2010 8:34,impression\n")
    flags = ("--map", "event=interaction")
    out = run("import", str(us), *flags, workspace=ws).stdout
    assert "the unread times read with --ts-format '%m/%d/%Y %H:%M'" in out


def test_revenue_kept_as_a_price_is_found_and_read(tmp_path):
    # A shop's log (the shape of the public multi-category store data): no revenue column, the
    # price on every event. Revenue attribution says where the value is; --revenue-from reads
    # it, for the purchases only.
    ws, data = workspace_with_file(
        tmp_path,
        "2019-Oct.csv",
        "event_time,event_type,product_id,brand,price,user_id,user_session\n"
        "2019-10-01 00:00:00 UTC,view,44600062,shiseido,35.79,541312140,s1\n"
        "2019-10-01 00:01:00 UTC,view,1004767,samsung,254.82,541312140,s1\n"
        "2019-10-01 00:02:00 UTC,purchase,1004767,samsung,254.82,541312140,s1\n"
        "2019-10-01 00:03:00 UTC,view,3900821,,86.9,554748717,s2\n",
    )
    run("import", str(data), "--set", "channel=web", workspace=ws)
    args = ("attribution", "--level", "channel", "--model", "last_touch", "--value", "revenue")
    zero = run(*args, workspace=ws)
    assert "No 'purchase' event has revenue" in zero.stderr
    assert "--revenue-from price reads it" in zero.stderr
    out = run(*args, "--revenue-from", "price", "--format", "json", workspace=ws)
    assert [r["revenue"] for r in json.loads(out.stdout)] == [254.82]
    assert "has revenue" not in out.stderr
    typo = run(*args, "--revenue-from", "prise", workspace=ws).stderr
    assert "nor a number in its property 'prise'" in typo


def test_suggested_touchpoints_import_as_a_catalog(tmp_path):
    # A shop's log the starter catalog barely maps: suggest, save, import, and every event
    # but the error page has a touchpoint and a stage.
    ws, data = workspace_with_file(
        tmp_path,
        "shop.csv",
        "ts,event,user_id\n"
        "2026-01-01T10:00:00Z,home,u1\n2026-01-01T10:01:00Z,product_view,u1\n"
        "2026-01-01T10:02:00Z,agent_chat,u1\n2026-01-01T10:03:00Z,error_page,u1\n",
    )
    run("import", str(data), workspace=ws)
    table = run("touchpoints", "--suggest", workspace=ws)
    assert "agent_chat: named like 'chat'" in table.stdout
    assert "journeylens import catalog.csv --kind touchpoints" in table.stderr
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(run("touchpoints", "--suggest", "--format", "csv", workspace=ws).stdout)
    assert (
        json.loads(
            run(
                "import", str(catalog), "--kind", "touchpoints", "--format", "json", workspace=ws
            ).stdout
        )["stored"]
        == 2
    )
    report = json.loads(run("touchpoints", "--format", "json", workspace=ws).stdout)
    assert [e["event"] for e in report["unmapped_events"]] == ["error_page"]


def test_attribution_reads_a_path_counts_file_without_a_workspace(tmp_path):
    data = tmp_path / "paths.csv"
    data.write_text(
        "path,total_conversions,total_conversion_value,total_null\n"
        "search > email,2,40,3\nemail,1,10,0\nsearch,0,0,4\n"
    )
    out = run("attribution", "--paths", str(data), "--model", "first_touch", "--format", "json")
    credit = {r["channel"]: r["conversions"] for r in json.loads(out.stdout)}
    assert credit == {"search": 2.0, "email": 1.0}
    refused = run("attribution", "--paths", str(data), "--roi", check=False)
    assert refused.returncode == 2
    assert "--roi: options for a workspace's events, not for --paths" in refused.stderr
    ignored = ("--where", "channel=A", "--since", "2030-01-01", "--lookback", "7d")
    refused = run("attribution", "--paths", str(data), *ignored, check=False)
    assert refused.returncode == 2
    assert "--since, --where, --lookback: options for a workspace's events" in refused.stderr


def test_a_path_counts_file_with_an_unreadable_line_is_one_line_error(tmp_path):
    data = tmp_path / "paths.csv"
    data.write_text("path,total_conversions,total_null\nsearch,2,3\nemail,1\n")
    refused = run("attribution", "--paths", str(data), check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"Error: {data}, line 3: could not be read (wrong_field_count: the row has 2 fields, "
        "the header 3). Nothing was attributed."
    ]
    refused = run("attribution", "--sheet", "April", check=False)
    assert refused.returncode == 2
    assert "--sheet names the sheets of a --paths workbook" in refused.stderr


def test_attribution_reads_a_path_counts_file_in_the_encoding_named(tmp_path):
    data = tmp_path / "paths.csv"
    data.write_bytes(b"path,total_conversions\nsearch,2\ncaf\xe9,1\n")
    refused = run("attribution", "--paths", str(data), check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        "Convert it to UTF-8 or re-run with --encoding NAME; nothing was attributed."
    )
    args = ("--model", "first_touch", "--format", "json", "--encoding", "cp1252")
    out = run("attribution", "--paths", str(data), *args)
    assert {r["channel"] for r in json.loads(out.stdout)} == {"search", "caf\u00e9"}
    refused = run("attribution", "--encoding", "cp1252", check=False)
    assert refused.returncode == 2
    assert "--encoding names the text encoding of a --paths file" in refused.stderr


def test_user_errors_are_one_line_and_exit_2(tmp_path):
    result = run("status", "--workspace", str(tmp_path / "missing"), check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert "journeylens init" in result.stderr
    assert "Traceback" not in result.stderr
    ws, bad = workspace_with_file(tmp_path, "bad.csv", "when,event,user_id\n2026-01-01,x,u\n")
    result = run("import", str(bad), workspace=ws, check=False)
    assert result.returncode == 2
    assert "missing required column 'ts'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_template_suggests_the_closest(tmp_path):
    result = run("init", str(tmp_path / "x"), "--template", "five_stages", check=False)
    assert result.returncode == 2
    assert "Did you mean 'five_stage'?" in result.stderr


def test_init_refuses_to_overwrite_without_force(tmp_path):
    run("init", str(tmp_path / "ws"))
    assert run("init", str(tmp_path / "ws"), check=False).returncode == 2
    run("init", str(tmp_path / "ws"), "--force")


def test_init_over_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "afile").write_text("")
    for target in ("afile", "afile/ws"):
        bad = run("init", str(tmp_path / target), check=False)
        assert bad.returncode == 2
        assert "is a file, not a directory" in bad.stderr
        assert "Unexpected" not in bad.stderr


def test_help_starts_fast_and_lists_commands():
    started = time.perf_counter()
    out = run_cli("--help", child=True, check=True).stdout
    elapsed = time.perf_counter() - started
    for command in ("init", "import", "status", "stages", "touchpoints", "demo"):
        assert command in out
    assert elapsed < 5, f"--help took {elapsed:.1f}s"


def test_python_m_journeylens_is_the_command_line(tmp_path):
    # As the installed script: the commands, and a user error in one line with exit code 2.
    module = [sys.executable, "-m", "journeylens"]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("JOURNEYLENS_WORKSPACE", None)
    shown = subprocess.run([*module, "--help"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "funnel" in shown.stdout
    assert "attribution" in shown.stdout
    missing = str(tmp_path / "nowhere")
    failed = subprocess.run(
        [*module, "status", "-w", missing], capture_output=True, text=True, env=env
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith("Error: ")
    assert failed.stderr.count("\n") == 1


def test_funnel_help_shows_a_step_filter_as_written():
    # The help's markup took "[revenue>100]" for a style tag and left "event:purchase;".
    env = {**os.environ, "COLUMNS": "400", "PYTHONIOENCODING": "utf-8"}
    shown = subprocess.run(
        [*JOURNEYLENS, "funnel", "--help"], capture_output=True, text=True, env=env, check=True
    )
    assert "filters like event:purchase[revenue>100]; a bare name" in shown.stdout


def test_analytics_never_imports_the_web_or_terminal_layers():
    code = (
        "import sys, journeylens.analytics.status, journeylens.workspace;"
        "bad = {'fastapi', 'typer', 'uvicorn', 'starlette'} & set(sys.modules);"
        "print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_pinned():
    import journeylens

    assert journeylens.__all__ == sorted(
        [
            "Config",
            "ConfigError",
            "EngineError",
            "ImportFileError",
            "ImportSummary",
            "JourneyLensError",
            "SpecError",
            "Stage",
            "Touchpoint",
            "UnknownNameError",
            "Workspace",
            "WorkspaceError",
            "init_workspace",
            "open_workspace",
        ]
    )
    for name in journeylens.__all__:
        assert getattr(journeylens, name) is not None


def test_paths_json_is_the_raw_transition_graph(demo_ws):
    rows = json.loads(run("paths", "--format", "json", workspace=demo_ws).stdout)
    assert {"from", "to", "count", "people", "probability"} <= set(rows[0])
    assert all(r["to"] not in ("(end)", "(conversion)") for r in rows)
    assert any(r["from"] == r["to"] for r in rows)  # repeats are kept unless asked
    out_of = {}
    for r in rows:
        out_of[r["from"]] = out_of.get(r["from"], 0) + r["probability"]
    assert all(abs(total - 1) < 1e-9 for total in out_of.values())


def test_paths_top_keeps_the_graphs_most_frequent_transitions(demo_ws):
    whole = json.loads(run("paths", "--format", "json", workspace=demo_ws).stdout)
    top = json.loads(run("paths", "--top", "4", "--format", "json", workspace=demo_ws).stdout)
    assert top == whole[:4]
    assert [r["count"] for r in top] == sorted((r["count"] for r in whole), reverse=True)[:4]


def test_paths_to_conversion(demo_ws):
    args = ("paths", "--to", "(conversion)", "--top", "3", "--format", "json")
    rows = json.loads(run(*args, workspace=demo_ws).stdout)
    assert 0 < len(rows) <= 3
    assert all(r["path"][-1] == "(conversion)" for r in rows)


def test_paths_from_an_unknown_node_is_an_error_with_a_suggestion(demo_ws):
    result = run("paths", "--from", "chekout", workspace=demo_ws, check=False)
    assert result.returncode == 2
    assert "No touchpoint 'chekout'" in result.stderr
    assert "Did you mean 'checkout'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "(conversion)", "--no-ends"), "'(conversion)' is a path end"),
        (("--to", "(end)", "--no-ends"), "'(end)' follows each journey only with the ends"),
        (("--to", "(other)"), "'(other)' groups rare nodes: give --min-share or --top-nodes"),
        (("--level", "event", "--from", "(unmapped)"), "No event has an empty event here"),
    ],
)
def test_paths_at_a_node_that_cannot_occur_is_one_line_saying_why(demo_ws, args, message):
    result = run("paths", *args, workspace=demo_ws, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_paths_deeper_than_the_limit_are_one_line_naming_it(demo_ws):
    args = ("paths", "--to", "(conversion)", "--max-depth", "1000")
    result = run(*args, workspace=demo_ws, check=False)
    assert result.returncode == 2
    assert "max_depth must be from 2 (a path has two nodes) to 50" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_paths_to_a_conversion_no_event_is_and_a_misspelt_goal_are_errors(demo_ws):
    result = run(
        "paths", "--to", "(conversion)", "--goal", "purchace", workspace=demo_ws, check=False
    )
    assert result.returncode == 2
    assert "Unknown event 'purchace' as the goal" in result.stderr
    assert "Did you mean 'purchase'" in result.stderr
    multi = ("paths", "--to", "(conversion)", "--goal", "purchase", "--goal", "no_such_event")
    assert run(*multi, workspace=demo_ws, check=False).returncode == 2


def test_since_after_until_is_an_error(demo_ws):
    args = ("paths", "--since", "2026-06-01", "--until", "2026-05-01")
    result = run(*args, workspace=demo_ws, check=False)
    assert result.returncode == 2
    assert "must be before until" in result.stderr


def test_funnel_json_and_unknown_step(demo_ws):
    args = ("funnel", "landing_page_view", "checkout_start", "purchase", "--within", "7d")
    data = json.loads(run(*args, "--format", "json", workspace=demo_ws).stdout)
    steps = data["steps"]
    assert [s["step"] for s in steps] == ["landing_page_view", "checkout_start", "purchase"]
    assert steps[0]["people"] >= steps[1]["people"] >= steps[2]["people"] > 0
    assert steps[0]["conversion_from_start"] == 1.0
    bad = run("funnel", "landing_page_view", "chekout_start", workspace=demo_ws, check=False)
    assert bad.returncode == 2
    assert "Did you mean 'checkout_start'?" in bad.stderr


def test_a_breakdown_by_a_property_no_event_has_is_an_error_with_a_suggestion(demo_ws):
    steps = ("product_view", "purchase")
    bad = run("funnel", *steps, "--by", "metod", workspace=demo_ws, check=False)
    assert bad.returncode == 2
    assert "No event has the property 'metod' (--by). Did you mean 'method'?" in bad.stderr
    bad = run("friction", "--by", "metod", workspace=demo_ws, check=False)
    assert bad.returncode == 2
    assert "Did you mean 'method'?" in bad.stderr
    assert run("funnel", *steps, "--by", "method", workspace=demo_ws).returncode == 0


def test_funnel_entry_first_or_best(demo_ws):
    args = ("funnel", "product_view", "add_to_cart", "purchase", "--within", "1d", "-f", "json")
    first = json.loads(run(*args, workspace=demo_ws).stdout)
    best = json.loads(run(*args, "--entry", "best", workspace=demo_ws).stdout)
    assert (first["spec"]["entry"], best["spec"]["entry"]) == ("first", "best")
    counts = [[s["people"] for s in r["steps"]] for r in (first, best)]
    assert counts[0][0] == counts[1][0]
    assert all(a <= b for a, b in zip(*counts, strict=True))
    bad = run(*args, "--entry", "last", workspace=demo_ws, check=False)
    assert bad.returncode == 2
    assert "entry" in bad.stderr


def test_a_funnel_breakdown_as_csv_is_each_values_steps(demo_ws):
    steps = ("product_view", "add_to_cart", "purchase")
    args = ("funnel", *steps, "--within", "7d", "--by", "device")
    csv = pd.read_csv(io.StringIO(run(*args, "--format", "csv", workspace=demo_ws).stdout))
    data = json.loads(run(*args, "--format", "json", workspace=demo_ws).stdout)
    assert list(csv.columns[:3]) == ["value", "step", "step_number"]
    expected = [(b["value"], s["step"], s["people"]) for b in data["breakdown"] for s in b["steps"]]
    assert list(csv[["value", "step", "people"]].itertuples(index=False, name=None)) == expected
    totals = csv.groupby("step_number")["people"].sum().tolist()
    assert totals == [s["people"] for s in data["steps"]]


def test_the_workspace_may_come_before_the_command(demo_ws):
    status = json.loads(run("--workspace", str(demo_ws), "status", "-f", "json").stdout)
    assert status["events"] > 0
    assert json.loads(run("-w", str(demo_ws), "status", "-f", "json").stdout) == status


def test_user_errors_name_the_option_they_come_from(demo_ws):
    bad = run("funnel", "product_view", "purchase", "--exclude", "refnd", workspace=demo_ws,
              check=False)  # fmt: skip
    assert "Unknown event 'refnd' in --exclude ('refnd')" in bad.stderr
    bad = run("attribution", "--model", "incrementalty", workspace=demo_ws, check=False)
    assert "Did you mean 'incrementality'?" in bad.stderr
    bad = run("rejected", "--limit", "-3", workspace=demo_ws, check=False)
    assert bad.returncode == 2
    assert "--limit" in bad.stderr


def test_funnel_dropped_people_export(demo_ws):
    args = ("funnel", "landing_page_view", "checkout_start", "--dropped-at", "2")
    lines = run(*args, "--format", "csv", workspace=demo_ws).stdout.splitlines()
    assert lines[0].startswith("person_id")
    assert len(lines) > 1


def test_attribution_json_records(demo_ws):
    args = ("attribution", "--model", "last_touch", "--model", "markov", "--format", "json")
    rows = json.loads(run(*args, workspace=demo_ws).stdout)
    assert {r["model"] for r in rows} == {"last_touch", "markov"}
    assert {"model", "touchpoint", "conversions", "revenue"} <= set(rows[0])
    last = sum(r["conversions"] for r in rows if r["model"] == "last_touch")
    markov = sum(r["conversions"] for r in rows if r["model"] == "markov")
    assert last == pytest.approx(markov)  # both share out the same conversions


def test_conformance_json(demo_ws):
    data = json.loads(run("conformance", "--format", "json", workspace=demo_ws).stdout)
    assert data["people"] >= data["in_order"] > 0
    assert data["deviations"]
    table = run("conformance", workspace=demo_ws).stdout  # the totals too, not only deviations
    assert "Who follows the designed stage order" in table
    assert f"{data['in_order']:,}" in table or str(data["in_order"]) in table


def test_funnel_dropoff_json_records_and_audience(demo_ws):
    steps = (
        "cart_view",
        "checkout_start",
        "checkout_payment",
        "purchase[interaction=self_service]",
    )
    args = ("funnel", *steps, "--dropoff", "--by", "device", "--format", "json")
    rows = json.loads(run(*args, workspace=demo_ws).stdout)
    classes = ["dropped", "in_progress", "changed", "postponed", "abandoned"]
    assert {"step", "step_index", "segment", *classes} <= set(rows[0])
    overall = [r for r in rows if r["segment"] is None]
    assert [r["step_index"] for r in overall] == [2, 3, 4]
    assert all(r["dropped"] == sum(r[c] for c in classes[1:]) for r in rows)
    kind = ("--dropped-at", "4", "--dropoff-kind", "changed", "--format", "csv")
    lines = run("funnel", *steps, *kind, workspace=demo_ws).stdout.splitlines()
    assert lines[0] == "person_id,segment,kind"
    assert len(lines) - 1 == overall[2]["changed"]
    bad = run("funnel", *steps, "--goal", "purchse", workspace=demo_ws, check=False)
    assert bad.returncode == 2
    assert "Did you mean 'purchase'?" in bad.stderr


def test_filters_that_leave_no_event_say_so(demo_ws):
    later = ("--since", "2100-01-01")
    for command in (("funnel", "landing_page_view", "purchase"), ("paths",), ("friction",)):
        note = run(*command, *later, "--format", "json", workspace=demo_ws).stderr
        assert "No event matches --since: the events run from 20" in note, command
    nothing = run("attribution", "--where", "event=nothing", workspace=demo_ws).stderr
    assert "No event matches --where." in nothing
    assert "There are no events: nothing to attribute." in nothing
    assert "No event matches" not in run("paths", "--since", "2000-01-01", workspace=demo_ws).stderr


def test_every_analysis_runs_on_an_empty_workspace(tmp_path):
    path = tmp_path / "empty"
    run("init", str(path))
    for command in ("summary", "stages", "paths", "conformance", "friction", "attribution"):
        result = run(command, workspace=path, check=False)
        assert result.returncode == 0, (command, result.stderr)
    assert json.loads(run("attribution", "--format", "json", workspace=path).stdout) == []


def test_attribution_to_an_unknown_goal_is_an_error_with_a_suggestion(demo_ws):
    result = run("attribution", "--goal", "purchse", workspace=demo_ws, check=False)
    assert result.returncode == 2
    assert "Unknown event 'purchse' as the goal. Did you mean 'purchase'?" in result.stderr


def test_tables_show_the_first_rows_and_count_the_rest(tmp_path):
    # 130 pages in a row: 130 unmapped event names, 129 moves between them.
    rows = "".join(f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z,page_{i},u1\n" for i in range(130))
    ws, data = workspace_with_file(tmp_path, "pages.csv", "ts,event,user_id\n" + rows)
    run("import", str(data), workspace=ws)
    table = run("touchpoints", workspace=ws).stdout
    assert table.count("page_") == 25
    assert "... and 105 more rows; --format json or csv lists them all." in table
    assert "Those other names hold 105 events" in table
    report = json.loads(run("touchpoints", "--format", "json", workspace=ws).stdout)
    assert len(report["unmapped_events"]) == 130
    graph = run("paths", "--level", "event", workspace=ws).stdout
    assert graph.count("page_") == 200
    assert "... and 29 more rows" in graph
    edges = json.loads(run("paths", "--level", "event", "--format", "json", workspace=ws).stdout)
    assert len(edges) == 129


def test_import_notes_anonymous_ids_that_read_as_unlinked_users(tmp_path):
    ws, data = workspace_with_file(
        tmp_path,
        "counters.csv",
        "ts,event,anonymous_id,user_id\n2026-01-01T10:00:00Z,page_view,1,\n"
        "2026-01-02T09:00:00Z,login,7,1\n",
    )
    out = run("import", str(data), workspace=ws)
    assert (
        "1 anonymous id is written as a user id ('1') and used before that user id's first row, "
        "though no row links them" in out.stderr
    )


# PostHog: the visitor's distinct_id, then the user's once $identify links them.
POSTHOG_LOGIN = """\
{"uuid":"u1","event":"$pageview","distinct_id":"anon-x","timestamp":"2026-01-05T10:00:00Z"}
{"uuid":"u2","event":"$identify","distinct_id":"carol@x.com","timestamp":"2026-01-05T10:02:00Z",\
"properties":{"$anon_distinct_id":"anon-x"}}
{"uuid":"u3","event":"signup_done","distinct_id":"carol@x.com","timestamp":"2026-01-05T10:03:00Z"}
"""
# Mixpanel: the device's id, then the user's; a server's event names no device.
MIXPANEL_LOGIN = """\
{"event":"Viewed","properties":{"time":1767607200,"$insert_id":"i1","distinct_id":"$device:d1",\
"$device_id":"d1"}}
{"event":"$identify","properties":{"time":1767607320,"$insert_id":"i2","distinct_id":"carol@x.com",\
"$anon_distinct_id":"$device:d1","$device_id":"d1","$user_id":"carol@x.com"}}
{"event":"Paid","properties":{"time":1767607380,"$insert_id":"i3","distinct_id":"carol@x.com"}}
"""


@pytest.mark.parametrize("text", [POSTHOG_LOGIN, MIXPANEL_LOGIN], ids=["posthog", "mixpanel"])
def test_import_notes_no_distinct_id_that_names_its_user_once_identified(tmp_path, text):
    ws, data = workspace_with_file(tmp_path, "export.jsonl", text)
    out = run("import", str(data), workspace=ws)
    assert "Read 3 rows: stored 3" in out.stdout
    assert "written as a user id" not in out.stderr
    assert json.loads(run("status", "--format", "json", workspace=ws).stdout)["people"] == 1


def test_import_notes_rows_read_past_their_trailing_separator(tmp_path):
    ws, data = workspace_with_file(
        tmp_path,
        "export.csv",
        "ts,event,user_id\n2026-01-05T00:00:00Z,a,d0,\n2026-01-05T00:01:00Z,b,d0,\n",
    )
    out = run("import", str(data), "--format", "json", workspace=ws)
    assert json.loads(out.stdout)["stored"] == 2
    assert f"Note: {data}: every row ends in a separator the header does not" in out.stderr


def test_answers_stored_without_a_person_are_noted_with_the_way_to_name_one(tmp_path):
    ws, data = workspace_with_file(
        tmp_path,
        "survey.csv",
        "Timestamp,Respondent,Score\n2026-03-01 10:00:00,ann@example.com,9\n"
        "2026-03-01 11:00:00,bo@example.com,6\n",
    )
    args = ("import", str(data), "--kind", "feedback", "--map", "score=Score")
    first = run(*args, "--set", "metric=nps", workspace=ws)
    assert "2 answers stored without a person" in first.stderr
    assert "--map user_id=COLUMN" in first.stderr
    named = run(*args, "--map", "user_id=Respondent", "--set", "metric=csat", workspace=ws)
    assert "without a person" not in named.stderr


def test_roi_without_costs_says_where_to_set_them(tmp_path):
    ws, data = workspace_with_file(
        tmp_path,
        "e.csv",
        "ts,event,user_id\n2026-01-01T10:00:00Z,search_ad_click,u1\n"
        "2026-01-01T11:00:00Z,purchase,u1\n",
    )
    run("import", str(data), workspace=ws)
    out = run("attribution", "--roi", workspace=ws)
    assert "No touchpoint in the catalog has a cost" in out.stderr  # the starter holds none


def test_an_xes_file_cut_by_an_xml_error_says_the_rest_was_not_read(tmp_path):
    event = (
        '<event><string key="concept:name" value="{}"/>'
        '<date key="time:timestamp" value="{}"/></event>'
    )
    first = event.format("register", "2026-01-01T10:00:00+00:00")
    second = event.format("pay & go", "2026-01-01T11:00:00+00:00")  # an unescaped &
    log = f'<log><trace><string key="concept:name" value="c1"/>{first}{second}</trace></log>'
    ws, data = workspace_with_file(tmp_path, "log.xes", log)
    out = run("import", str(data), workspace=ws)
    assert "rejected 1: invalid_xml" in out.stdout
    assert "the events after it were not read" in out.stderr


def test_ctrl_c_exits_130_and_says_what_an_interrupted_import_leaves(tmp_path):
    import signal

    import duckdb

    ws = tmp_path / "ws"
    run("init", str(ws))
    env = {**os.environ, "JOURNEYLENS_WORKSPACE": str(ws), "JOURNEYLENS_LOCK_WAIT": "60"}
    holder = duckdb.connect(str(ws / "journeylens.duckdb"))  # the command waits for this lock
    try:
        waiting = subprocess.Popen(
            [*JOURNEYLENS, "status"], stderr=subprocess.PIPE, text=True, env=env
        )
        time.sleep(3)  # started, and waiting
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=60)
    finally:
        holder.close()
    assert waiting.returncode == 130
    assert err.startswith("Interrupted. An import stopped part-way is stored whole or not at all")


def test_a_second_mapping_after_one_map_flag_says_to_repeat_the_flag(tmp_path):
    # `--map` takes one mapping: the next one lands among the files. Nothing is imported, and
    # the error says how to give it, not only that no such file exists.
    ws, data = workspace_with_file(
        tmp_path,
        "rees.csv",
        "event_time,event_type,user_id\n2019-11-01 00:00:00 UTC,view,520088904\n",
    )
    flags = ("--map", "ts=event_time", "event=event_type", "--map", "user_id=user_id")
    failed = run("import", str(data), *flags, workspace=ws, check=False)
    assert failed.returncode == 2
    assert "give --map once for each: --map event=event_type" in failed.stderr
    assert json.loads(run("status", "--format", "json", workspace=ws).stdout)["events"] == 0
    fixed = ("--map", "ts=event_time", "--map", "event=event_type")
    assert "stored 1" in run("import", str(data), *fixed, workspace=ws).stdout


def test_an_unknown_engine_is_named_as_such(tmp_path):
    ws = tmp_path / "ws"
    run("init", str(ws))
    result = run("status", "--engine", "foo", workspace=ws, check=False)
    assert result.returncode == 2
    assert "Unknown engine 'foo': use duckdb or spark." in result.stderr


def test_a_goal_is_a_name_as_written_brackets_and_stars_too(tmp_path):
    # "[x]" is an event's name, not a filter; "purch*" names no event (goals are no patterns).
    ws, data = workspace_with_file(
        tmp_path,
        "e.csv",
        "user_id,ts,event,channel\nann,2026-03-01T10:00:00Z,visit,search\n"
        "ann,2026-03-01T10:05:00Z,[x],\n",
    )
    run("import", str(data), workspace=ws)
    args = ("--goal", "[x]", "--format", "json")
    credit = run("attribution", "--level", "channel", "--model", "linear", *args, workspace=ws)
    assert [r["channel"] for r in json.loads(credit.stdout)] == ["search"]
    assert run("friction", *args, workspace=ws).returncode == 0
    paths = json.loads(run("paths", "--level", "event", "--ends", *args, workspace=ws).stdout)
    assert ("visit", "(conversion)") in {(r["from"], r["to"]) for r in paths}
    star = run("attribution", "--goal", "purch*", workspace=ws, check=False)
    assert "Unknown event 'purch*' as the goal" in star.stderr
