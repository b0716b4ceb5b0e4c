"""Normalising values read from text: dates to ISO 8601, years, numbers, quantities.

A value that does not parse as its declared type is refused (``None``), never guessed:
"last spring" is not a date, "German" is not a year. Dates keep the precision the text
gives: ``"2011"``, ``"2019-03"`` or ``"2021-07-14"``; a few common shapes are read by
pattern, everything else by ``dateparser`` (absolute dates only: "Monday" or "12 June",
which name no year, are refused). Numbers understand thousands separators, currency
signs and scale words (``"$12M"``, ``"€85 million"``, ``"1.2 billion"``); a quantity is a
number with its unit (``"8,848 m"`` -> ``"8848 m"``).

Entity values (``entity``, ``location``) are not normalised here: the stage that reads
them checks that the answer is a mention of an allowed type.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

__all__ = [
    "ValueType",
    "finest_date",
    "normalise_date",
    "normalise_number",
    "normalise_quantity",
    "normalise_value",
    "normalise_year",
    "reads_as_time",
]

ValueType = Literal["date", "year", "number", "quantity", "string", "location", "text"]
"""Value types a text value is normalised as (``location`` and ``text`` are kept for old
schemas: a ``location`` is checked as an entity by the stages, ``text`` is a string)."""

_MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>1\d\d\d|20\d\d|21\d\d)"  # the years dateparser reads (1000-2199)
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_DATE_PATTERNS = [
    re.compile(rf"^{_YEAR}-(?P<m>\d\d)-(?P<d>\d\d)$"),  # ISO already
    re.compile(rf"^{_YEAR}\s*年\s*(?:(?P<m>\d{{1,2}})\s*月\s*(?:(?P<d>\d{{1,2}})\s*[日号])?)?$"),
    # "\s*," also reads tokenized text, as Re-DocRED writes it: "August 20 , 1920"
    re.compile(rf"^{_DAY}\s+(?:of\s+)?{_MONTH}(?:\s*,)?\s+{_YEAR}$", re.IGNORECASE),
    re.compile(rf"^{_MONTH}\s+{_DAY}(?:\s*,)?\s+{_YEAR}$", re.IGNORECASE),
    re.compile(rf"^{_MONTH}(?:\s*,)?\s+{_YEAR}$", re.IGNORECASE),
    re.compile(rf"^(?P<d>\d{{1,2}})/(?P<m>\d{{1,2}})/{_YEAR}$"),  # day/month/year
    re.compile(rf"^(?P<d>\d{{1,2}})\.(?P<m>\d{{1,2}})\.{_YEAR}$"),  # day.month.year
    re.compile(rf"^(?:(?:in|since|from|around|circa|c\.)\s+)?{_YEAR}$", re.IGNORECASE),
    re.compile(rf"^(?:early|mid|late)(?:-|\s+){_YEAR}$", re.IGNORECASE),  # the year: "late 2003"
]
_SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "m": 1e6,
    "mn": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "万": 1e4,
    "亿": 1e8,
}
_CURRENCY_SIGN = r"(?:(?:u\.?\s?s\.?|(?-i:AU|A|C|HK|NZ|S))\s?)?\$|[€£¥]|usd|eur|gbp|rmb|cny"
"""A currency before an amount: a sign (``"US$"``, tokenized ``"U.S. $"``, ``"HK$"``) or a
code."""
_CURRENCY_WORDS = frozenset(
    {
        *("dollar", "dollars", "euro", "euros", "pound", "pounds", "sterling", "yen", "yuan"),
        *("renminbi", "rupee", "rupees", "franc", "francs", "won", "rouble", "roubles"),
        *("ruble", "rubles", "usd", "eur", "gbp", "jpy", "cny", "rmb", "inr", "chf", "cad"),
        "aud",
    }
)
"""Currency words and codes written after an amount (``"12 million dollars"``)."""
_CURRENCY_AFTER = (
    r"(?:u\.?\s?s\.?\s)?(?:" + "|".join(sorted(_CURRENCY_WORDS, key=len, reverse=True)) + ")"
)
"""A currency word or code after an amount, maybe American (``"12 million U.S. dollars"``)."""
_CURRENCY = rf"(?P<currency>{_CURRENCY_SIGN})?"
_APPROXIMATELY = r"(?:about|around|nearly|some|approximately|roughly|almost|circa|c\.)"
"""Words that round a number ("about 5,000"): the number is kept."""
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+,\d{1,2}(?![\d,])|\d+(?:\.\d+)?"
"""A number as written: commas between thousands (``"8,848"``), a decimal point, or a
decimal comma before one or two digits (``"3,5 million"``, ``"€ 2,50"``: thousands take
three)."""
_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d{1,2}")
_BOUND = re.compile(
    r"^(?:over|above|under|below|more than|less than|fewer than|greater than|at least|"
    r"at most|up to|in excess of|exceeding|upwards of|no more than|no less than)\s",
    re.IGNORECASE,
)
"""Words that make a number a bound ("over 500", "up to 3 m"): no one value to store, as
"after 1900" is no date."""
_NUMBER = re.compile(
    rf"^{_APPROXIMATELY}?\s*" + _CURRENCY + rf"\s*(?P<number>{_DIGITS})(?P<gap>\s*)"
    r"(?P<scale>thousand|million|billion|trillion|mn|bn|[kmb]|万|亿)?\s*"
    rf"(?:[$€£¥]|{_CURRENCY_AFTER}|元|人)?$",
    re.IGNORECASE,
)
_LETTER_SCALES = frozenset("kmb")
"""Scales written as one letter: read as a scale only when attached (``"12M"``) or after a
currency (``"$3 m"``); ``"100 m"`` is a hundred metres, not a hundred million."""


def _clean(text: str) -> str:
    return " ".join(text.strip().strip(".,;:!?()[]\"'").split())


def normalise_date(text: str, lang: str | None = None) -> str | None:
    """ISO 8601 date (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``), or ``None`` if not a date.

    ``lang`` (the document's language code) limits ``dateparser`` to that language's month
    and day names; ``None`` tries every language it knows (about a second the first time
    a string matches none: it compiles every locale's patterns).
    """
    value = _clean(text)
    matched = _pattern_date(value)
    if matched is not None:  # a known shape: its verdict stands ("" when out of range)
        return matched or None
    if _NOT_ONE_DATE.search(value):
        return None
    return _parsed_date(value, lang) if _YEAR_IN_TEXT.search(value) else None


_NOT_ONE_DATE = re.compile(
    r"^(?:after|before|until|till|by|not before|not after|no later than|no earlier than)\b"
    r"|(?<!\d)\d{4}\s*[/–—]\s*\d{2,4}(?!\d)"
    r"|(?<!\d)\d{3}0\s*'?s\b",
    re.IGNORECASE,
)
"""A bound ("after 1900"), a span ("2020/21", "1990–1995") or a decade ("the 1950s",
"1990 's"): no one date to store."""


_YEAR_IN_TEXT = re.compile(r"(?<!\d)(1[0-9]\d\d|20\d\d|21\d\d)(?!\d)")
_PERIODS = {"year": 1, "month": 2, "day": 3}


_PARSER_SETTINGS = {
    "PARSERS": ["absolute-time", "custom-formats"],
    "PREFER_DAY_OF_MONTH": "first",
    "RETURN_AS_TIMEZONE_AWARE": False,
}


_ALSO_READ = {"id": ("ms",), "ms": ("id",)}
"""Languages whose dates are read with another's names too: Malay is detected as Indonesian
(:mod:`kgbuild.lang`), and their month names differ ("15 Ogos 2020", "Disember" against
"Agustus", "Desember")."""


@functools.lru_cache(maxsize=8)
def _date_parser(lang: str | None) -> Any:
    """A ``dateparser`` parser for ``lang`` (every language for ``None`` or one it lacks).

    Indonesian and Malay read each other's month names too (:data:`_ALSO_READ`).
    """
    from dateparser.data.languages_info import language_order
    from dateparser.date import DateDataParser

    if lang is not None and lang in language_order:
        languages = [lang, *_ALSO_READ.get(lang, ())]
        return DateDataParser(languages=languages, settings=_PARSER_SETTINGS)
    return DateDataParser(settings=_PARSER_SETTINGS)


@functools.lru_cache(maxsize=4096)
def _parsed_date(value: str, lang: str | None = None) -> str | None:
    """A date ``dateparser`` reads in ``value``, kept only if its year is written there."""
    if len(value) > 40:
        return None
    try:
        data = _date_parser(lang).get_date_data(value)
    except (ValueError, OverflowError, TypeError):  # dateparser raises on odd input
        return None
    date, period = data["date_obj"], data["period"]
    if date is None or str(date.year) not in _YEAR_IN_TEXT.findall(value):
        return None
    year, month, day = int(date.year), int(date.month), int(date.day)
    parts = _PERIODS.get(str(period), 3)
    return [f"{year:04d}", f"{year:04d}-{month:02d}", f"{year:04d}-{month:02d}-{day:02d}"][
        parts - 1
    ]


def reads_as_time(text: str, lang: str | None = None) -> bool:
    """Whether ``text`` names a time: a date, or a bound, span or decade of years.

    "after 1900", "1990–1995" and "the 1990s" are times, though :func:`normalise_date`
    finds no one date to store in them.
    """
    value = _clean(text)
    if _NOT_ONE_DATE.search(value) and _YEAR_IN_TEXT.search(value):
        return True
    return normalise_date(text, lang) is not None


def normalise_year(text: str, lang: str | None = None) -> str | None:
    """The year (``YYYY``) of a date, or ``None`` if ``text`` is not a date."""
    date = normalise_date(text, lang)
    return None if date is None else date[:4]


def _pattern_date(value: str) -> str | None:
    """The date of a known shape; ``""`` for a known shape out of range, else ``None``."""
    for pattern in _DATE_PATTERNS:
        match = pattern.match(value)
        if match is None:
            continue
        parts = match.groupdict()
        year = int(parts["year"])
        month_text = parts.get("month")
        month = _MONTHS[month_text.lower()] if month_text else parts.get("m")
        day = parts.get("day") or parts.get("d")
        if month is None:
            return f"{year:04d}"
        month_number = int(month)
        if not 1 <= month_number <= 12:
            return ""
        if day is None:
            return f"{year:04d}-{month_number:02d}"
        day_number = int(day)
        if not 1 <= day_number <= calendar.monthrange(year, month_number)[1]:
            return ""  # 31 February is no date
        return f"{year:04d}-{month_number:02d}-{day_number:02d}"
    return None


def normalise_number(text: str) -> int | float | None:
    """The number a short text states (``"$12M"`` -> 12000000), or ``None``.

    A bound (``"over 500"``, ``"up to 3 million"``) states no one number: ``None``.
    """
    value = _clean(text)
    if _BOUND.match(value):
        return None
    match = _NUMBER.match(value)
    if match is None:
        return None
    number = _float(match["number"])
    scale = match["scale"]
    if scale and scale.lower() in _LETTER_SCALES and match["gap"] and not match["currency"]:
        return None  # "8,848 m" is a length, not 8.8 billion
    if scale:
        number *= _SCALES[scale.lower()]
    return int(number) if number.is_integer() else number


_QUANTITY = re.compile(
    rf"^{_APPROXIMATELY}?\s*" + _CURRENCY + rf"\s*(?P<number>[-+]?(?:{_DIGITS}))(?P<gap>\s*)"
    r"(?P<scale>thousand|million|billion|trillion|bn|mn|[kmb](?=\s|$))?\s*"
    r"(?P<unit>%|°\s?[CF]|[A-Za-z\u00b2\u00b3/.]{1,24}(?:\s[a-z\u00b2\u00b3/.]{1,12})?)?$",
    re.IGNORECASE,
)
_SCALE_WORDS = frozenset({"thousand", "million", "billion", "trillion", "bn", "mn"})
_DIMENSION_WORDS = frozenset({"tall", "high", "long", "wide", "deep", "thick", "away"})
"""Words after a unit that say what was measured: ``"1.5 m tall"`` is ``"1.5 m"``."""
_TIME_REFERENCE_WORDS = frozenset({"ago", "later", "earlier", "before", "after", "since"})
"""Words that make an amount a point in time: ``"5 years ago"`` is no quantity."""


def _letter_is_scale(match: re.Match[str]) -> bool:
    """Whether a one-letter scale is one: after a currency, or attached and not "m"."""
    letter = match["scale"]
    return bool(match["currency"]) or (not match["gap"] and letter in {"k", "K", "M", "B"})


def normalise_quantity(text: str, unit: str | None = None) -> str | None:
    """A number with its unit (``"8,848 metres"`` -> ``"8848 metres"``), or ``None``.

    A bare number (no unit, or only a scale: ``"1.2 billion"``, ``"12M"``) is not a
    quantity, nor is a number followed by a sentence or a time reference (``"5 years
    ago"``), nor a bound (``"more than 40 km"``). A currency sign is the unit, kept in
    front: ``"$2.5 million"`` -> ``"$2500000"``.

    ``unit`` (an attribute's, :data:`kgbuild.schema.QuantityUnit`) is what the quantity
    must measure: ``currency``, an amount of money (a currency sign, code or word:
    ``"12 million dollars"``); a unit of time (``minutes``...), a duration, stored in that
    unit (``"1 h 35 min"`` -> ``"95 minutes"``). Anything else is refused: a year, a
    number without its currency, a sum of money as a running time.
    """
    value = _clean(text)
    if _BOUND.match(value):
        return None
    if unit in DURATION_UNITS:
        return _duration(value, unit)
    if unit not in (None, "currency"):
        raise ValueError(
            f"unknown quantity unit {unit!r}: currency or one of {', '.join(DURATION_UNITS)}"
        )
    match = _QUANTITY.match(value)
    if match is None:
        return None
    scale, words = match["scale"], (match["unit"] or "").split()
    if scale and scale.lower() in _LETTER_SCALES and not _letter_is_scale(match):
        scale, words = None, [scale, *words]  # "100 m": metres
    if words and words[-1].lower() in _TIME_REFERENCE_WORDS:
        return None
    if len(words) > 1 and words[-1].lower() in _DIMENSION_WORDS:
        words = words[:-1]
    unit_written = " ".join(words)
    if unit_written.lower() in _SCALE_WORDS or not (unit_written or match["currency"]):
        return None  # a number: a scale is no unit
    if unit == "currency" and not (
        match["currency"] or (words and words[-1].lower() in _CURRENCY_WORDS)
    ):
        return None  # "95 minutes", "12 km" are no sums of money
    number = _float(match["number"])
    if scale:
        number *= _SCALES[scale.lower()]
    shown = _shown(number)
    if match["currency"]:
        return f"{_currency(match['currency'])}{shown}" + (
            f" {unit_written}" if unit_written else ""
        )
    return f"{shown}{unit_written}" if unit_written == "%" else f"{shown} {unit_written}"


DURATION_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
"""Units of time a quantity attribute may declare, in seconds."""
_DURATION_WORDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("day", "days"), 86400),
    **dict.fromkeys(("wk", "wks", "week", "weeks"), 604800),
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*-?\s*([a-z]+)\.?", re.IGNORECASE)
_DURATION_JOIN = re.compile(rf"\s*(?:,|and)?\s*|{_APPROXIMATELY}\s*", re.IGNORECASE)
"""What may stand between the parts of a duration ("1 hour and 35 minutes"), or before it."""


def _duration(value: str, unit: str) -> str | None:
    """A duration in ``unit`` (``"1 h 35 min"`` -> ``"95 minutes"``), or ``None``.

    "m" is minutes only after hours (``"1h 35m"``); alone it is metres.
    """
    seconds, position, after_hours = 0.0, 0, False
    for part in _DURATION_PART.finditer(value):
        word = part[2].lower()
        size = 60 if word == "m" and after_hours else _DURATION_WORDS.get(word)
        if size is None or not _DURATION_JOIN.fullmatch(value[position : part.start()]):
            return None
        seconds += float(part[1]) * size
        position, after_hours = part.end(), size == 3600
    if position == 0 or position != len(value):
        return None
    return f"{_shown(round(seconds / DURATION_UNITS[unit], 2))} {unit}"


def _float(written: str) -> float:
    """A number as :data:`_DIGITS` matched it: ``"8,848"`` -> 8848.0, ``"3,5"`` -> 3.5."""
    if _DECIMAL_COMMA.fullmatch(written):
        return float(written.replace(",", "."))
    return float(written.replace(",", ""))


def _shown(number: float) -> int | float:
    return int(number) if number.is_integer() else number


def _currency(written: str) -> str:
    """A currency as stored: ``"U.S. $"`` -> ``"US$"``; a code is upper-cased, then a space."""
    sign = re.sub(r"[.\s]", "", written).upper()
    return f"{sign} " if sign.isalpha() else sign


def normalise_value(
    text: str, value_type: ValueType | str, lang: str | None = None, unit: str | None = None
) -> str | int | float | None:
    """Normalise ``text`` as ``value_type``; ``None`` when it is not a value of that type.

    ``lang`` is the language of the text's document (see :func:`normalise_date`); ``unit``
    what a quantity must measure (see :func:`normalise_quantity`).
    """
    if value_type == "date":
        return normalise_date(text, lang)
    if value_type == "year":
        return normalise_year(text, lang)
    if value_type == "number":
        return normalise_number(text)
    if value_type == "quantity":
        return normalise_quantity(text, unit)
    cleaned = _clean(text)
    return cleaned or None


_Found = TypeVar("_Found")


def finest_date(best: _Found, found: Iterable[_Found], value: Callable[[_Found], object]) -> _Found:
    """The finding whose date says most and agrees with ``best``'s (``found`` best first).

    "2015-06-14" refines "2015": where one sentence gives a film's year ("a 2015 drama")
    and another its release date, the best-scored year would hide the date the text
    gives. Of the findings that refine ``best``'s date, the first (best-scored) wins, and
    so on down to the day.
    """
    ordered = list(found)
    while True:
        coarse = value(best)
        finer = next(
            (f for f in ordered if isinstance(v := value(f), str) and v.startswith(f"{coarse}-")),
            None,
        )
        if finer is None:
            return best
        best = finer
