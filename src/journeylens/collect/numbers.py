"""Reading numbers written as text, in SQL: what :mod:`.validate` parses revenue and scores with.

Numbers as locales write them (a decimal comma, spaces between groups of three digits), an
amount with its currency beside it (``$12.50``, ``12,50 €``), the spellings of a missing number
(``NA``, ``#N/A``, ``nan``), a score before its label (``10 - Extremely likely``), written out
of its scale's top (``9/10``) or as a word (``Good``, ``Yes``). Every function returns SQL over
SQL it is given; the words are bound as parameters (``$rating_words``, ``$yes_no_words``).
"""

from __future__ import annotations

from journeylens.collect.exports import one_of
from journeylens.schema import FEEDBACK_SCALES

__all__ = [
    "MISSING_NUMBER_TEXT",
    "RATED_METRICS",
    "RATING_WORDS",
    "YES_NO_WORDS",
    "marked_currency",
    "number_before_label",
    "out_of",
    "rating",
    "read_number",
    "unless_missing",
]


# How files spell a missing number: R (NA), spreadsheets (#N/A), databases (NULL), pandas (nan).
MISSING_NUMBER_TEXT = ("na", "n/a", "#n/a", "null", "none", "nan", "-nan")


def unless_missing(text: str) -> str:
    """The SQL text ``text``, NULL when it spells a missing number (:data:`MISSING_NUMBER_TEXT`,
    any case): such a number is missing, not unreadable."""
    missing = one_of(f"lower(trim({text}))", MISSING_NUMBER_TEXT)
    return f"CASE WHEN {missing} THEN NULL ELSE {text} END"


# A number and its label after a dash, colon, equals sign or bracket: "10 - Extremely likely".
_LABELLED = r"^([-+]?[0-9]+(\.[0-9]+)?)\s*[-–—:=(]\s*[^-–—0-9\s]"


def number_before_label(text: str) -> str:
    """SQL: the number the trimmed SQL text ``text`` starts with before its label
    (:data:`_LABELLED`: ``10 - Extremely likely``, ``5 (Very satisfied)``), NULL for none."""
    return f"TRY_CAST(regexp_extract({text}, '{_LABELLED}', 1) AS DOUBLE)"


# A two-way rating as tools export it (Zendesk's satisfaction: "Good", "Bad, I'm unsatisfied",
# "Good with comment"), any case: True is the top of the metric's scale, False its bottom. Only
# the metrics a yes or a no answers (``RATED_METRICS``) read it: an NPS of "Good" stays unread.
RATING_WORDS: dict[str, bool] = {
    "good": True,
    "bad": False,
    "good, i'm satisfied": True,
    "bad, i'm unsatisfied": False,
    "good with comment": True,
    "bad with comment": False,
}
RATED_METRICS = ("csat", "success")
# A yes or a no (any case), as survey tools export a yes/no question ("Did you find what you
# came for?"), in the languages journeylens speaks: the answer of a ``success`` only (1 or 0);
# a CSAT of "Yes" stays unread.
YES_NO_WORDS: dict[str, bool] = {
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
    "ja": True,  # sv, nb
    "nej": False,  # sv
    "nei": False,  # nb
    "kyllä": True,  # fi
    "ei": False,  # fi
    "da": True,  # ro
    "nu": False,  # ro
    "是": True,  # zh
    "否": False,  # zh
}


def rating(metric: str, text: str) -> str:
    """SQL: the score the rating word (``RATING_WORDS``; for a ``success``, also
    ``YES_NO_WORDS``) in the SQL text ``text`` gives the metric ``metric`` (SQL): the top or
    the bottom of its scale; NULL for other text."""
    word = f"replace(lower(trim({text})), '\u2019', '''')"  # "I’m" as "I'm"
    top = f"$rating_tops[list_position($rating_words, {word})]"
    yes = f"$yes_no_tops[list_position($yes_no_words, {word})]"
    answers = {"csat": top, "success": f"coalesce({top}, {yes})"}
    ends = " ".join(
        f"WHEN '{m}' THEN CASE {answers[m]} WHEN true THEN {FEEDBACK_SCALES[m][1]} "
        f"WHEN false THEN {FEEDBACK_SCALES[m][0]} END"
        for m in RATED_METRICS
    )
    return f"CASE {metric} {ends} END"


# A score written out of its scale's top: "9/10", "4 / 5".
_OUT_OF = r"^([0-9]+([.][0-9]+)?)\s*/\s*([0-9]+)$"


def out_of(metric: str, text: str) -> str:
    """SQL: the score ``text`` (SQL) writes out of the top of the metric's scale (``9/10`` of
    an NPS, ``4/5`` of a CSAT); NULL for other text, or out of another number (``4/5`` of an
    NPS: which scale it was given on is unknown)."""
    number = f"TRY_CAST(regexp_extract(trim({text}), '{_OUT_OF}', 1) AS DOUBLE)"
    top = f"TRY_CAST(regexp_extract(trim({text}), '{_OUT_OF}', 3) AS DOUBLE)"
    tops = " ".join(f"WHEN '{m}' THEN {hi}" for m, (_, hi) in FEEDBACK_SCALES.items())
    return f"CASE WHEN {top} = CASE {metric} {tops} END THEN {number} END"


# A currency written beside an amount: an ISO code (USD 12.50, 12.50 SEK) or a symbol (€9.99,
# 9,99 €). "$", "¥" and "kr" stand for several currencies: the amount is read, its currency not.
_MARK = r"US\$|[A-Z]{3}|[$€£¥₹₩]|kr\.?"
_SYMBOL_CURRENCY = {"US$": "USD", "€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW"}
# The spaces locales write between groups of three digits (1 234,50): a space, a no-break
# space, a narrow no-break space (French, Swedish) and a thin space; a regex character class.
_GROUP_SPACE = "[ \u00a0\u202f\u2009]"
_SPACE = "[\\s\u00a0\u202f\u2009]"  # any of them or other white space, in a regex


def _without_mark(text: str) -> str:
    """SQL: the amount ``text`` without the currency written before or after it."""
    lead = rf"regexp_replace({text}, '^([-+]?){_SPACE}*({_MARK}){_SPACE}*', '\1')"
    return rf"regexp_replace({lead}, '{_SPACE}*({_MARK})$', '')"


def marked_currency(text: str) -> str:
    """SQL: the currency an amount's text names beside it (``USD`` for ``12.50 USD`` or
    ``US$12.50``, ``EUR`` for ``€9.99``), NULL for none or a symbol of several currencies."""
    mark = (
        rf"coalesce(nullif(regexp_extract(trim({text}), '^[-+]?{_SPACE}*({_MARK})', 1), ''), "
        rf"nullif(regexp_extract(trim({text}), '({_MARK})$', 1), ''))"
    )
    symbols = " ".join(f"WHEN '{s}' THEN '{c}'" for s, c in _SYMBOL_CURRENCY.items())
    named = (
        f"CASE WHEN regexp_full_match({mark}, '[A-Z]{{3}}') THEN {mark} "
        f"ELSE CASE {mark} {symbols} END END"
    )
    # A plain number (nearly every amount) names no currency: no pattern is tried on it.
    return (
        f"CASE WHEN trim({text}) <> '' AND TRY_CAST(trim({text}) AS DOUBLE) IS NULL "
        f"THEN {named} END"
    )


def read_number(text: str, decimal_comma: bool, money: bool = False) -> str:
    """SQL that reads the SQL text ``text`` as a number (NULL when it cannot). With
    ``decimal_comma``, as ``1.234,50`` or ``1234,5`` are written in many European locales: a
    comma before the decimals, points only between groups of three digits (``12.50`` is
    refused, not misread as 1250). Either way, spaces may separate groups of three digits
    (``1 234,50``, ``1 234.50``; see ``_GROUP_SPACE``: ``1 2`` stays unread). A ``money``
    amount may have its currency beside it (``$12.50``, ``12,50 €``, ``USD 1,234.00``) and,
    with a decimal point, commas between groups of three digits (``1,234.00``; ``1,234`` alone
    stays unread: it is 1.234 in half the world)."""
    text = f"trim({text})"
    if money:  # a plain number first: only the others pay for the patterns
        plain = read_number(text, decimal_comma)
        amount = _without_mark(text)
        if not decimal_comma:  # commas between thousands only before a decimal point
            grouped = r"^[-+]?[0-9]{1,3}(,[0-9]{3})+\.[0-9]+$|^[^,]*$"
            amount = f"replace(regexp_extract({amount}, '{grouped}', 0), ',', '')"
        money_number = read_number(amount, decimal_comma)
        # Only text that is no number at all (not even NaN, as pandas writes a missing one).
        other = f"TRY_CAST({text} AS DOUBLE) IS NULL AND {text} <> ''"
        return f"CASE WHEN {other} THEN coalesce({plain}, {money_number}) ELSE {plain} END"
    spaced = f"[0-9]{{1,3}}({_GROUP_SPACE}[0-9]{{3}})+"
    unspaced = f"regexp_replace({text}, '{_GROUP_SPACE}', '', 'g')"
    if not decimal_comma:  # only text that is no number pays for the pattern
        grouped = f"regexp_full_match({text}, '[-+]?{spaced}([.][0-9]+)?')"
        return (
            f"coalesce(nullif(TRY_CAST({text} AS DOUBLE), 'NaN'::DOUBLE), "
            f"CASE WHEN {grouped} THEN TRY_CAST({unspaced} AS DOUBLE) END)"
        )
    return (
        f"CASE WHEN regexp_full_match({text}, "
        f"'[-+]?([0-9]{{1,3}}([.][0-9]{{3}})+|{spaced}|[0-9]+)(,[0-9]+)?') "
        f"THEN TRY_CAST(replace(replace({unspaced}, '.', ''), ',', '.') AS DOUBLE) END"
    )
