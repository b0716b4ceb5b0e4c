"""Normalising attribute values read from text: dates to ISO 8601, numbers parsed.

A value that does not parse as its declared type is refused (``None``), never guessed:
"last spring" is not a date. Dates keep the precision the text gives: ``"2011"``,
``"2019-03"`` or ``"2021-07-14"``. Numbers understand thousands separators, currency
signs and scale words (``"$12M"``, ``"€85 million"``, ``"1.2 billion"``).
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["ValueType", "normalise_date", "normalise_number", "normalise_value"]

ValueType = Literal["date", "number", "location", "text"]

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
_YEAR = r"(?P<year>1[5-9]\d\d|20\d\d|21\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_DATE_PATTERNS = [
    re.compile(rf"^{_YEAR}-(?P<m>\d\d)-(?P<d>\d\d)$"),  # ISO already
    re.compile(rf"^{_YEAR}\s*年\s*(?:(?P<m>\d{{1,2}})\s*月\s*(?:(?P<d>\d{{1,2}})\s*[日号])?)?$"),
    re.compile(rf"^{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}$", re.IGNORECASE),
    re.compile(rf"^{_MONTH}\s+{_DAY},?\s+{_YEAR}$", re.IGNORECASE),
    re.compile(rf"^{_MONTH},?\s+{_YEAR}$", re.IGNORECASE),
    re.compile(rf"^(?P<d>\d{{1,2}})/(?P<m>\d{{1,2}})/{_YEAR}$"),  # day/month/year
    re.compile(rf"^(?:(?:in|since|from|around|circa|c\.)\s+)?{_YEAR}$", re.IGNORECASE),
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
_NUMBER = re.compile(
    r"^(?:about|around|over|nearly|some|approximately|roughly)?\s*"
    r"(?:[$€£¥]|usd|eur|gbp|rmb|cny)?\s*"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(?P<scale>thousand|million|billion|trillion|mn|bn|[kmb]|万|亿)?\s*"
    r"(?:[$€£¥]|usd|eur|gbp|dollars|euros|pounds|元|人)?$",
    re.IGNORECASE,
)


def _clean(text: str) -> str:
    return " ".join(text.strip().strip(".,;:!?()[]\"'").split())


def normalise_date(text: str) -> str | None:
    """ISO 8601 date (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``), or ``None`` if not a date."""
    value = _clean(text)
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
            return None
        if day is None:
            return f"{year:04d}-{month_number:02d}"
        day_number = int(day)
        if not 1 <= day_number <= 31:
            return None
        return f"{year:04d}-{month_number:02d}-{day_number:02d}"
    return None


def normalise_number(text: str) -> int | float | None:
    """The number a short text states (``"$12M"`` -> 12000000), or ``None``."""
    match = _NUMBER.match(_clean(text))
    if match is None:
        return None
    number = float(match["number"].replace(",", ""))
    scale = match["scale"]
    if scale:
        number *= _SCALES[scale.lower()]
    return int(number) if number.is_integer() else number


def normalise_value(text: str, value_type: ValueType) -> str | int | float | None:
    """Normalise ``text`` as ``value_type``; ``None`` when it is not a value of that type."""
    if value_type == "date":
        return normalise_date(text)
    if value_type == "number":
        return normalise_number(text)
    cleaned = _clean(text)
    return cleaned or None
