"""The friction and annotate commands: JSON shapes, before/after, user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from journeylens.cli import app
from journeylens.workspace import init_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("friction") / "ws"
    with init_workspace(path) as workspace:
        workspace.load_demo(30_000, seed=7)
    return path


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_friction_json_records_best_first(ws: Path) -> None:
    rows = json.loads(invoke("friction", "-w", str(ws), "--format", "json", "--top", "3"))
    first = {"touchpoint", "segment", "score", "lost_conversions", "lost_revenue", "explanation"}
    assert first <= set(rows[0])
    assert (rows[0]["touchpoint"], rows[0]["segment"]) == ("payment", {"device": "mobile"})
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_friction_table_ends_with_one_sentence_per_row(ws: Path) -> None:
    out = invoke("friction", "-w", str(ws), "--by", "device", "--top", "1")
    assert "1. payment on mobile: " in out


def test_annotate_then_compare_friction_and_funnel_before_and_after(ws: Path) -> None:
    invoke("annotate", "payment", "--date", "2026-09-01", "--note", "new form", "-w", str(ws))
    notes = json.loads(invoke("annotate", "--list", "-w", str(ws), "--format", "json"))
    annotation = notes[-1]["annotation_id"]
    rows = json.loads(
        invoke("friction", "-w", str(ws), "--annotation", annotation, "--format", "json")
    )
    assert {r["touchpoint"] for r in rows} == {"payment"}
    assert {"signal", "before_rate", "after_rate", "p_value", "significant"} <= set(rows[0])
    funnel = json.loads(
        invoke(
            "funnel", "checkout_start", "purchase", "-w", str(ws), "--compare-at", "2026-09-01",
            "--format", "json",
        )
    )  # fmt: skip
    assert {"before_conversion", "after_conversion", "p_value"} <= set(funnel["change"])
    other = ["friction", "-w", str(ws), "--annotation", annotation, "--touchpoint", "cart"]
    refused = CliRunner().invoke(app, other)
    assert "--annotation is about 'payment', not 'cart'" in str(refused.exception)
    invoke("annotate", "--remove", annotation, "-w", str(ws))


def test_an_annotation_of_a_touchpoint_no_longer_in_the_catalog_is_an_error(ws: Path) -> None:
    # The catalog renamed the annotated touchpoint since: said, not an empty comparison.
    from journeylens.workspace import open_workspace

    invoke("annotate", "payment", "--date", "2026-09-01", "--note", "old", "-w", str(ws))
    annotation = json.loads(invoke("annotate", "--list", "-w", str(ws), "-f", "json"))[-1]
    with open_workspace(ws) as workspace:  # as if the catalog had renamed it
        workspace.store.raw.execute(
            "UPDATE annotations SET touchpoint = 'paymnt' WHERE annotation_id = ?",
            [annotation["annotation_id"]],
        )
    result = CliRunner().invoke(
        app, ["friction", "-w", str(ws), "--annotation", annotation["annotation_id"]]
    )
    invoke("annotate", "--remove", annotation["annotation_id"], "-w", str(ws))
    assert result.exit_code != 0
    assert "Unknown touchpoint 'paymnt'. Did you mean 'payment'?" in str(result.exception)


def test_annotate_without_a_note_says_how(ws: Path) -> None:
    result = CliRunner().invoke(app, ["annotate", "payment", "-w", str(ws)])
    assert result.exit_code != 0
    assert "--note" in str(result.exception)


def test_one_touchpoint_every_segment_as_csv_with_json_segments(ws: Path) -> None:
    # --all without --top lists every segment; --touchpoint keeps that touchpoint's rows (its
    # signals still read every event); the CSV's segment cells are JSON, not Python.
    out = invoke("friction", "-w", str(ws), "--touchpoint", "payment", "--all", "-f", "csv")
    lines = out.splitlines()
    header, rows = lines[0].split(","), lines[1:]
    assert header[:2] == ["touchpoint", "segment"]
    assert len(rows) > 5
    assert all(row.startswith('payment,"{""') for row in rows)
    every = json.loads(invoke("friction", "-w", str(ws), "--all", "-f", "json"))
    capped = json.loads(invoke("friction", "-w", str(ws), "--all", "--top", "3", "-f", "json"))
    assert len(every) > 20
    assert len(capped) == 3
    assert len(rows) == len([r for r in every if r["touchpoint"] == "payment"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--touchpoint", "paymnt"), "Unknown touchpoint 'paymnt'. Did you mean"),
        (("--goal", "purchse"), "Unknown event 'purchse' as the goal. Did you mean 'purchase'?"),
        (("--compare-at", "2026-09-01", "--touchpoint", "paymnt"), "Did you mean 'payment'?"),
    ],
)
def test_a_misspelled_touchpoint_or_goal_is_an_error_naming_it(
    ws: Path, args: tuple[str, ...], message: str
) -> None:
    result = CliRunner().invoke(app, ["friction", "-w", str(ws), *args])
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_a_touchpoint_without_events_compares_to_an_empty_table(ws: Path) -> None:
    # The filter leaves tv_radio no event: nothing to compare is an empty table.
    out = invoke(
        "friction", "-w", str(ws), "--compare-at", "2026-09-01", "--touchpoint", "tv_radio",
        "--where", "touchpoint!=tv_radio",
    )  # fmt: skip
    assert "signal" in out


EVENTS_CSV = """ts,event,user_id,device
2026-01-01T10:00:00Z,checkout_payment,m1,mobile
2026-01-01T10:00:00Z,checkout_payment,d1,desktop
2026-02-01T10:00:00Z,landing_page_view,z,desktop
"""
# m1 and d1 find paying easy; two anonymous answers are hard, one of them on mobile.
ANSWERS_CSV = """feedback_id,ts,user_id,metric,score,touchpoint,device
f1,2026-01-01T10:05:00Z,m1,ces,6,payment,
f2,2026-01-01T10:05:00Z,d1,ces,6,payment,
f3,2026-01-01T10:06:00Z,,ces,1,payment,
f4,2026-01-01T10:07:00Z,,ces,1,payment,mobile
"""


@pytest.fixture(scope="module")
def answered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two payers and four CES answers at payment, two of them anonymous."""
    folder = tmp_path_factory.mktemp("answered")
    (folder / "events.csv").write_text(EVENTS_CSV)
    (folder / "answers.csv").write_text(ANSWERS_CSV)
    path = folder / "ws"
    init_workspace(path).close()
    invoke("import", str(folder / "events.csv"), "-w", str(path))
    invoke("import", str(folder / "answers.csv"), "--kind", "feedback", "-w", str(path))
    return path


def effort_rows(ws: Path, *args: str) -> dict[str, tuple[int, int, float | None]]:
    """Per segment value at payment: responses, high effort, the effort baseline rate."""
    out = invoke("friction", "-w", str(ws), "--all", "--touchpoint", "payment", "-f", "json", *args)
    return {
        r["value"]: (r["responses"], r["effort"], r["effort_baseline_rate"])
        for r in json.loads(out)
    }


def test_every_breakdown_counts_every_answer_and_a_where_only_those_it_keeps(
    answered: Path,
) -> None:
    # By device the anonymous answer without a device is (none), a segment of answers alone.
    by_device = effort_rows(answered, "--by", "device")
    assert by_device["mobile"][:2] == (2, 1)
    assert by_device["mobile"][2] == pytest.approx(0.5)
    assert by_device["desktop"][:2] == (1, 0)
    assert by_device["desktop"][2] == pytest.approx(2 / 3)
    assert by_device["(none)"][:2] == (1, 1)
    assert effort_rows(answered, "--by", "campaign")["(none)"][:2] == (4, 2)
    # --where device=desktop: d1's answer alone (the anonymous ones are on mobile or on none).
    desktop = effort_rows(answered, "--by", "campaign", "--where", "device=desktop")
    assert desktop == {"(none)": (1, 0, None)}
    from journeylens.workspace import open_workspace

    with open_workspace(answered) as workspace:
        rows = workspace.friction(
            by=["campaign"], where="device=desktop", touchpoint="payment", include_all=True
        ).to_dict()
    assert [(r["responses"], r["effort"]) for r in rows] == [(1, 0)]


def test_an_import_names_the_answers_touchpoints_the_catalog_lacks(answered: Path) -> None:
    # 'Payment' differs from the catalog's 'payment' only in case: said, and nothing changed.
    survey = answered.parent / "later.csv"
    survey.write_text(
        "feedback_id,ts,user_id,metric,score,touchpoint\n"
        "g1,2026-01-01T10:05:00Z,m1,ces,2,Payment\n"
        "g2,2026-01-01T10:06:00Z,d1,ces,2,Payment\n"
        "g3,2026-01-01T10:07:00Z,d1,ces,2,kiosk\n"
    )
    out = invoke("import", str(survey), "--kind", "feedback", "-w", str(answered))
    assert (
        "3 answers stored at a touchpoint the catalog does not list: 'Payment' (2 answers; "
        "did you mean 'payment'?), 'kiosk' (1 answer)."
    ) in out
    again = invoke("import", str(survey), "--kind", "feedback", "-w", str(answered))
    assert "does not list" not in again  # nothing new stored
    report = json.loads(invoke("touchpoints", "-w", str(answered), "-f", "json"))
    assert report["uncatalogued_touchpoints"] == [
        {"touchpoint": "Payment", "events": 0, "people": 0, "answers": 2},
        {"touchpoint": "kiosk", "events": 0, "people": 0, "answers": 1},
    ]
    assert effort_rows(answered, "--by", "campaign")["(none)"][:2] == (4, 2)


def test_a_comparison_of_one_touchpoint_without_units_enough_names_it(answered: Path) -> None:
    args = ["friction", "-w", str(answered), "--compare-at", "2026-01-15"]
    one = CliRunner().invoke(app, [*args, "--touchpoint", "payment"])
    assert one.exit_code == 0, one.output
    assert (
        "Note: The touchpoint 'payment' does not have 30 units or more on both sides of "
        "2026-01-15: there is no rate to compare."
    ) in one.stderr
    assert "Note: No touchpoint has 30 units or more" in CliRunner().invoke(app, args).stderr
