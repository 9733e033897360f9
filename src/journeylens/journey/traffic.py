"""The channel a visit's campaign tags name, for events that have no channel otherwise.

An event's channel is the one its row gives, else its touchpoint's in the catalog, else — where
neither gives one and the row has ``source``/``medium`` (UTM tags) — the channel the tags name,
in journeylens's channel names, by rules like Google Analytics' default channel group (the
first that holds):

=====================================================================  ============
medium (case and spaces aside)                                          channel
=====================================================================  ============
``cpc``, ``ppc``, ``paid_search``, ``paidsearch``, ``sem``: a social   ``social``,
source (``facebook``, ``instagram``, ...) makes it ``social``          ``search``
``paid_social``, ``social``, ``social_media``, ``sm``, or a social     ``social``
source with any other medium
``email``, ``e-mail``, ``newsletter``                                  ``email``
``organic``                                                            ``search``
``display``, ``banner``, ``cpm``, ``programmatic``                     ``display``
``referral``                                                           ``referral``
``affiliate``, ``affiliates``                                          ``affiliate``
source ``(direct)`` or ``direct`` with no medium, ``(none)`` or        ``direct``
``(not set)``
=====================================================================  ============

Anything else stays without a channel.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

PAID_SEARCH = ("cpc", "ppc", "paid_search", "paidsearch", "sem")
SOCIAL_MEDIA = ("paid_social", "social", "social_media", "socialmedia", "sm", "social_network")
EMAIL = ("email", "e-mail", "e_mail", "newsletter")
DISPLAY = ("display", "banner", "cpm", "programmatic")
AFFILIATE = ("affiliate", "affiliates")
NO_MEDIUM = ("(none)", "(not set)", "none")
SOCIAL_SOURCES = (
    "facebook",
    "fb",
    "instagram",
    "ig",
    "linkedin",
    "twitter",
    "x",
    "t.co",
    "tiktok",
    "pinterest",
    "reddit",
    "snapchat",
    "youtube",
    "meta",
)


def tagged_channel(source: ir.StringValue, medium: ir.StringValue) -> ir.StringValue:
    """The channel ``source`` and ``medium`` name (see the module), null where they name none.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"source": ["google", "Facebook", None, "(direct)"],
    ...                    "medium": ["CPC", "cpc", "Email", "(none)"]})
    >>> t.select(c=tagged_channel(t.source, t.medium)).execute()["c"].tolist()
    ['search', 'social', 'email', 'direct']
    """
    medium = medium.strip().lower()
    source = source.strip().lower()
    social = source.isin(SOCIAL_SOURCES).fill_null(False)
    return ibis.cases(
        (medium.isin(PAID_SEARCH) & social, "social"),
        (medium.isin(PAID_SEARCH), "search"),
        (medium.isin(SOCIAL_MEDIA) | social, "social"),
        (medium.isin(EMAIL), "email"),
        (medium == "organic", "search"),
        (medium.isin(DISPLAY), "display"),
        (medium == "referral", "referral"),
        (medium.isin(AFFILIATE), "affiliate"),
        (
            source.isin(("(direct)", "direct")) & (medium.isnull() | medium.isin(NO_MEDIUM)),
            "direct",
        ),
        else_=ibis.null("string"),
    )
