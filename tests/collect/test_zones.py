"""Zone abbreviations: the table agrees with the tz database; an import's zone settles those it
gives several offsets."""

from __future__ import annotations

import zoneinfo

from journeylens.collect.zones import ABBREVIATIONS, AMBIGUOUS, offsets_in, used_in


def test_the_abbreviations_are_the_tz_database_s_with_the_offsets_it_gives_them():
    zones = zoneinfo.available_timezones()
    offsets: dict[str, set[str]] = {}
    for zone in zones:
        for name, used in used_in(zone, 2027).items():
            offsets.setdefault(name, set()).update(used)
    ambiguous = {name for name, used in offsets.items() if len(used) > 1}
    assert set(AMBIGUOUS) == ambiguous
    for name in AMBIGUOUS:  # each offset is named where the abbreviation stands for it
        assert all(offset in AMBIGUOUS[name] for offset in offsets[name])
    # All the others, but for zones' own names (read as those zones) and Guam's old GST.
    single = {name.upper(): used.pop() for name, used in offsets.items() if name not in ambiguous}
    assert {k: v for k, v in single.items() if k not in zones and k != "GST"} == ABBREVIATIONS


def test_an_ambiguous_abbreviation_is_the_one_the_import_s_zone_uses():
    assert offsets_in("America/Chicago")["CST"] == "-06:00"
    assert offsets_in("Asia/Shanghai")["CST"] == "+08:00"
    assert offsets_in("Europe/Dublin")["IST"] == "+01:00"
    assert offsets_in("Europe/Moscow")["MSK"] == ""  # +04:00 from 2011 to 2014: local time
    assert offsets_in("UTC")["CST"] == offsets_in("Europe/Oslo")["IST"] == "?"
