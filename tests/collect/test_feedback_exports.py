"""Feedback exports as survey tools write them: what is stored, and why the rest is rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journeylens.collect import csvfiles
from journeylens.errors import ImportFileError
from journeylens.workspace import Workspace, init_workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = init_workspace(tmp_path / "ws", template="four_stage_delight")
    yield workspace
    workspace.close()


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def rejected(ws: Workspace) -> list[list[object]]:
    frame = ws.rejected.order_by(["source", "line"]).execute()
    return frame[["line", "field", "reason", "detail"]].values.tolist()


def test_metric_and_dimension_are_read_whatever_their_case_and_spaces(ws, tmp_path):
    # A hand-made long file (one row per answer) writes "NPS", " ces " and "Ease": the metric and
    # the dimension are closed lists, read as their keys; an unknown one is named in the reason.
    survey = write(
        tmp_path / "long.csv",
        "response_id,ts,user_id,metric,dimension,score\n"
        "L1,2026-03-01T10:00:00Z,u1,NPS,,9\n"
        "L2,2026-03-01T10:00:00Z,u1, ces ,,5\n"
        "L3,2026-03-01T10:00:00Z,u1,CSAT, Ease ,4\n"
        "L4,2026-03-01T10:00:00Z,u1,thumbs,,1\n"
        "L5,2026-03-01T10:00:00Z,u1,csat,speed,4\n",
    )
    summary = ws.import_files([survey], kind="feedback")
    assert (summary.stored, summary.rejected) == (3, 2)
    answers = ws.feedback.order_by("feedback_id").execute()
    assert answers[["metric", "dimension", "score"]].values.tolist() == [
        ["nps", None, 9.0],
        ["ces", None, 5.0],
        ["csat", "ease", 4.0],
    ]
    details = [detail for _, _, _, detail in rejected(ws)]
    assert "'thumbs'" in details[0]
    assert "'speed'" in details[1]


def test_a_success_question_answered_yes_or_no_is_one_or_zero(ws, tmp_path):
    # "Did you find what you came for?" Yes / No, as survey tools export it (any case, and in
    # the languages journeylens speaks); a CSAT or an NPS has no yes or no.
    survey = write(
        tmp_path / "task.csv",
        "Response ID,Submitted At,Email,Task completed?\n"
        "R1,2026-03-01 10:00,a@x.com,Yes\n"
        "R2,2026-03-01 10:01,b@x.com,no\n"
        "R3,2026-03-01 10:02,c@x.se,Nej\n"
        "R4,2026-03-01 10:03,d@x.fi,Kyllä\n"
        "R5,2026-03-01 10:04,e@x.com,maybe\n",
    )
    mapping = {"score": "Task completed?"}
    summary = ws.import_files([survey], "feedback", mapping, constants={"metric": "success"})
    assert (summary.stored, summary.rejected_by_reason) == (4, {"invalid_score": 1})
    scores = ws.feedback.order_by("feedback_id").execute()["score"].tolist()
    assert scores == [1.0, 0.0, 0.0, 1.0]
    summary = ws.import_files([survey], "feedback", mapping, constants={"metric": "csat"})
    assert (summary.stored, summary.rejected_by_reason) == (0, {"invalid_score": 5})


def test_an_object_given_as_a_score_or_a_time_is_named_as_given(ws, tmp_path):
    # A JSON export's nested value mapped as the score (Typeform's "calculated": {"score": 0})
    # is rejected with its text, not with a word of journeylens's own.
    scores = {"ts": "2026-03-01T10:00:00Z", "metric": "nps", "score": {"value": 9}}
    times = {"ts": {"at": 1}, "metric": "nps", "score": 9}
    paths = [
        write(tmp_path / f"{name}.jsonl", json.dumps(record) + "\n")
        for name, record in [("a", scores), ("b", times)]
    ]
    summary = ws.import_files(paths, kind="feedback")
    assert summary.rejected_by_reason == {"invalid_score": 1, "unparseable_timestamp": 1}
    details = [detail for _, _, _, detail in rejected(ws)]
    assert details[0] == """cannot read '{"value":9}' as a score"""
    assert details[1].startswith("""cannot read '{"at":1}'""")


def test_a_surveymonkey_export_skips_its_sub_header_and_keeps_its_respondent_ids(ws, tmp_path):
    # SurveyMonkey writes a second header row ("Response", "Open-Ended Response" under the
    # questions, empty under its own columns): it labels the columns and is no answer. Its
    # Respondent ID is the response's id, so a later export of the same responses (a column
    # more) stores nothing twice.
    header = (
        "Respondent ID,Collector ID,Start Date,End Date,Email Address,"
        "How likely are you to recommend us?,Why?\n"
        ",,,,,Response,Open-Ended Response\n"
    )
    rows = (
        "114117837423,431525456,2026-03-01 10:00:12,2026-03-01 10:01:45,ann@x.com,9,Bra\n"
        "114117837424,431525456,2026-03-01 11:00:12,2026-03-01 11:01:45,,x,\n"
    )
    path = write(tmp_path / "surveymonkey.csv", header + rows)
    mapping = {"ts": "End Date", "score": "How likely are you to recommend us?", "comment": "Why?"}
    summary = ws.import_files([path], "feedback", mapping, constants={"metric": "nps"})
    assert (summary.rows, summary.stored, summary.rejected) == (2, 1, 1)
    assert [line for line, *_ in rejected(ws)] == [4]
    answer = ws.feedback.execute().iloc[0]
    assert (answer["feedback_id"], answer["person_id"], answer["comment"]) == (
        "114117837423",
        "ann@x.com",
        "Bra",
    )
    wider = header.replace(",Why?", ",Why?,Custom Data 1").replace("Response\n", "Response,\n")
    later = write(tmp_path / "later.csv", wider + rows.replace("\n", ",u1\n"))
    again = ws.import_files([later], "feedback", mapping, constants={"metric": "nps"})
    assert (again.stored, again.already_stored) == (0, 1)


@pytest.mark.parametrize(
    ("metric", "given", "score"),
    [("nps", "9/10", 9.0), ("nps", "10 / 10", 10.0), ("csat", "4/5", 4.0), ("ces", "6/7", 6.0)],
)
def test_a_score_written_out_of_its_scale_is_read(ws, tmp_path, metric, given, score):
    path = write(tmp_path / "f.csv", f"ts,user_id,score\n2026-03-01T10:00:00Z,u1,{given}\n")
    summary = ws.import_files([path], "feedback", constants={"metric": metric})
    assert (summary.stored, summary.rejected) == (1, 0)
    assert ws.feedback.execute()["score"].tolist() == [score]


@pytest.mark.parametrize(("metric", "given"), [("nps", "4/5"), ("csat", "9/10"), ("nps", "1/2/3")])
def test_a_score_out_of_another_scale_is_rejected(ws, tmp_path, metric, given):
    path = write(tmp_path / "f.csv", f"ts,user_id,score\n2026-03-01T10:00:00Z,u1,{given}\n")
    summary = ws.import_files([path], "feedback", constants={"metric": metric})
    assert (summary.stored, summary.rejected_by_reason) == (0, {"invalid_score": 1})


def test_a_missing_score_is_never_hinted_at_an_nps_group_or_a_reason(ws, tmp_path):
    # Qualtrics' Q1_NPS_GROUP holds Promoter/Passive/Detractor (3/2/1 in its numeric export):
    # read as the score, it would store an NPS of 1 to 3. The reason for a score is a comment.
    survey = write(
        tmp_path / "qualtrics.csv",
        "RecordedDate,ResponseId,Q1,Q1_NPS_GROUP,NPS Category,Reason for your score\n"
        "2026-03-01 10:00:00,R_1,9,3,Promoter,Fast\n",
    )
    with pytest.raises(ImportFileError) as refused:
        ws.import_files([survey], "feedback", constants={"metric": "nps"})
    message = str(refused.value)
    assert "missing required column 'score'" in message
    assert "--map score=" not in message.replace("--map score=YOUR_COLUMN", "")


def test_a_workbook_export_skips_its_label_rows_as_its_csv_export_does(ws, tmp_path):
    # SurveyMonkey and Qualtrics export Excel workbooks with the same rows under the header.
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Respondent ID", "Collector ID", "End Date", "Email Address", "NPS", "Why?"])
    sheet.append([None, None, None, None, "Response", "Open-Ended Response"])
    sheet.append([114117837423, 431525456, "2026-03-01 10:01:45", "ann@x.com", 9, "Bra"])
    sheet.append([114117837424, 431525456, "2026-03-01 11:01:45", None, 11, None])
    book.save(tmp_path / "surveymonkey.xlsx")
    mapping = {"ts": "End Date", "score": "NPS", "comment": "Why?"}
    summary = ws.import_files(
        [tmp_path / "surveymonkey.xlsx"], "feedback", mapping, constants={"metric": "nps"}
    )
    assert (summary.rows, summary.stored, summary.rejected) == (2, 1, 1)
    assert [line for line, *_ in rejected(ws)] == [4]
    assert ws.feedback.execute()["feedback_id"].tolist() == ["114117837423"]


QUALTRICS_HEADER = (
    "StartDate,RecordedDate,ResponseId,RecipientEmail,Q1,Q2\n"
    'Start Date,Recorded Date,Response ID,Recipient Email,"How likely\n...?",Why?\n'
    '"{""ImportId"":""startDate"",""timeZone"":""America/Denver""}",'
    '"{""ImportId"":""recordedDate""}","{""ImportId"":""_recordId""}",'
    '"{""ImportId"":""recipientEmail""}","{""ImportId"":""QID1""}","{""ImportId"":""QID2_TEXT""}"\n'
)
SURVEYMONKEY_HEADER = (
    "Respondent ID,Collector ID,End Date,Email Address,How likely are you to recommend us?,"
    "Why?,Which did you use?,\n"
    ",,,,Response,Open-Ended Response,Website,App\n"
)


def _qualtrics(n: int) -> str:
    return f"2026-03-0{n} 10:00:00,2026-03-0{n} 10:02:12,R_{n},p{n}@example.com,{n + 5},Fast\n"


def _surveymonkey(n: int) -> str:
    return f"11411783742{n},431525456,2026-03-0{n} 10:01:45,p{n}@example.com,{n + 5},Bra,Website,\n"


@pytest.mark.parametrize(
    ("header", "row", "mapping", "again"),
    [
        (QUALTRICS_HEADER, _qualtrics, {"score": "Q1", "comment": "Q2"}, 7),
        (
            SURVEYMONKEY_HEADER,
            _surveymonkey,
            {"ts": "End Date", "score": "How likely are you to recommend us?", "comment": "Why?"},
            5,
        ),
    ],
    ids=["qualtrics", "surveymonkey"],
)
@pytest.mark.parametrize("block", [None, 400, 440, 480, 560])
def test_survey_exports_joined_skip_the_label_rows_under_each_header(
    ws, tmp_path, monkeypatch, header, row, mapping, again, block
):
    # Two exports of a survey joined with ``cat``: the second header is rejected as the header
    # again, and its label rows are skipped as the first one's are, not read as answers (their
    # question texts and import ids as times and scores). Small blocks: a batch ends in the
    # second header or its first label row.
    if block:
        monkeypatch.setattr(csvfiles, "CSV_BLOCK_BYTES", block)
    text = header + row(1) + row(2) + header + row(3) + row(4)
    path = write(tmp_path / "joined.csv", text)
    summary = ws.import_files([path], "feedback", mapping, constants={"metric": "nps"})
    assert (summary.rows, summary.stored, summary.rejected) == (5, 4, 1)
    assert [(line, reason) for line, _, reason, _ in rejected(ws)] == [(again, "repeated_header")]
    answers = ws.feedback.order_by("ts").execute()
    assert answers["person_id"].tolist() == [f"p{n}@example.com" for n in (1, 2, 3, 4)]
    assert answers["score"].tolist() == [6.0, 7.0, 8.0, 9.0]
