"""The shipped stage templates load, validate and share one event vocabulary."""

from __future__ import annotations

import pytest

from journeylens.config import LANGUAGES, Config, parse_config
from journeylens.journey.catalog import is_pattern, match_event, shadowed_entries
from journeylens.journey.templates import TEMPLATES, load_template

EXPECTED_STAGES = {
    "three_stage": ("awareness", "consideration", "decision"),
    "four_stage_delight": ("awareness", "consideration", "decision", "delight"),
    "four_stage_retention": ("awareness", "engagement", "transaction", "retention"),
    "five_stage": ("awareness", "consideration", "purchase", "usage", "loyalty"),
}
SHARED_EVENTS = ("pricing_view", "checkout_start", "checkout_payment", "purchase", "identify")


def _config(name: str) -> Config:
    return parse_config({"workspace": {"name": "t", "template": name}, **load_template(name)})


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_parses_with_expected_stages(name: str) -> None:
    config = _config(name)
    assert config.stage_keys == EXPECTED_STAGES[name]
    assert load_template(name)["description"]
    assert 25 <= len(config.touchpoints) <= 40


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_stage_has_a_label_in_every_language(name: str) -> None:
    for stage in _config(name).stages:
        assert set(stage.labels) == set(LANGUAGES)
        assert all(label.strip() for label in stage.labels.values())


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_touchpoint_sits_on_a_stage_of_the_template(name: str) -> None:
    config = _config(name)
    assert {t.stage for t in config.touchpoints} <= set(config.stage_keys)
    assert {t.stage for t in config.touchpoints} == set(config.stage_keys)


@pytest.mark.parametrize("name", TEMPLATES)
def test_purchase_is_a_touchpoint_in_every_template(name: str) -> None:
    touchpoint = match_event("purchase", _config(name).touchpoints)
    assert touchpoint is not None
    assert touchpoint.touchpoint == "purchase"


@pytest.mark.parametrize("name", TEMPLATES)
def test_stages_resolve_by_label_in_each_language(name: str) -> None:
    config = _config(name)
    for stage in config.stages:
        for language in LANGUAGES:
            assert config.resolve_stage(stage.labels[language]) == stage.key
    assert config.resolve_stage("Medvetenhet") == "awareness"
    assert config.resolve_stage("认知") == "awareness"


@pytest.mark.parametrize("name", TEMPLATES)
def test_labels_name_one_stage_only(name: str) -> None:
    stages = _config(name).stages
    names = [{s.key, *(label.casefold() for label in s.labels.values())} for s in stages]
    for i, mine in enumerate(names):
        assert not any(mine & other for j, other in enumerate(names) if j != i), stages[i].key


def test_templates_share_event_names() -> None:
    def first_names(name: str) -> dict[str, str]:
        return {
            t.touchpoint: next(m for m in t.match if not is_pattern(m))
            for t in _config(name).touchpoints
        }

    reference = first_names(TEMPLATES[0])
    for name in TEMPLATES[1:]:
        assert first_names(name) == reference
    for event in SHARED_EVENTS:
        for name in TEMPLATES:
            assert match_event(event, _config(name).touchpoints) is not None


def test_error_events_belong_to_the_touchpoint_they_break() -> None:
    touchpoints = _config("four_stage_delight").touchpoints
    assert match_event("payment_error", touchpoints).touchpoint == "payment"
    assert match_event("form_error", touchpoints).touchpoint == "lead_form"
    assert match_event("checkout_payment", touchpoints).touchpoint == "payment"
    assert match_event("checkout_start", touchpoints).touchpoint == "checkout"
    assert match_event("page_not_found", touchpoints) is None


def test_starter_catalogs_cost_nothing_and_the_demo_pays_for_its_paid_touchpoints() -> None:
    from journeylens.demo import MONTHLY_COSTS

    for touchpoint in _config("five_stage").touchpoints:
        assert touchpoint.cost == 0  # a team enters its own costs
        if touchpoint.kind == "paid":
            assert MONTHLY_COSTS[touchpoint.touchpoint] > 0
        assert touchpoint.channel in {
            "search",
            "social",
            "web",
            "app",
            "email",
            "store",
            "call_centre",
            "display",
            "offline",
            "referral",
        }


def test_a_label_matches_in_either_unicode_form() -> None:
    import unicodedata

    config = _config("three_stage")
    decomposed = unicodedata.normalize("NFD", "Övervägande")
    assert decomposed != "Övervägande"
    assert config.resolve_stage(decomposed) == "consideration"


def test_a_label_that_names_two_stages_is_refused() -> None:
    from journeylens.errors import ConfigError

    body = {k: v for k, v in load_template("three_stage").items() if k != "description"}
    body["stages"][2]["labels"]["sv"] = body["stages"][1]["labels"]["sv"]  # decision's sv label
    with pytest.raises(ConfigError, match="'Övervägande' names two stages"):
        parse_config({"workspace": {"name": "t", "template": "three_stage"}, **body})


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_starter_entry_is_shadowed_by_an_earlier_one(name: str) -> None:
    assert shadowed_entries(_config(name).touchpoints) == []
