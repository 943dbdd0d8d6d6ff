"""Dates and date ranges as staff type them: ``2026-12-01``, ``2026-02-15 ~ 2026-02-23``, ``2026年2月15日``."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator

from edge.config.base import fail, has_fullwidth
from edge.i18n import N_

__all__ = ["DateSpan", "StaffDate", "parse_date", "parse_span"]

_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")
# "~", "至", "到", "..", "—" and "-" surrounded by spaces all join the two ends of a range.
_RANGE = re.compile(r"\s*(?:~|～|至|到|\.\.|—| - )\s*")


def parse_date(value: Any) -> date:
    """One date from YAML text; raises the catalogue's error for anything else."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise fail(N_("a date is written as YYYY-MM-DD, e.g. 2026-12-01"))
    if has_fullwidth(value) or "－" in value:
        raise fail(N_("full-width characters typed with a Chinese input method; write {fixed}"),
                   fixed=unicodedata.normalize("NFKC", value).replace("－", "-"))
    match = _DATE.match(value)
    if not match:
        raise fail(N_("a date is written as YYYY-MM-DD, e.g. 2026-12-01"))
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise fail(N_("there is no such day in the calendar")) from None


def parse_span(value: Any) -> tuple[date, date]:
    """A single date or ``first ~ last`` (both included); the end must not come before the start."""
    if isinstance(value, str):
        parts = _RANGE.split(value.strip(), maxsplit=1)
        if len(parts) == 2:
            first, last = parse_date(parts[0]), parse_date(parts[1])
            if last < first:
                raise fail(N_("the range ends ({last}) before it starts ({first}); write the "
                              "earlier date first"), first=first.isoformat(), last=last.isoformat())
            return first, last
    day = parse_date(value)
    return day, day


StaffDate = Annotated[date, BeforeValidator(parse_date)]
DateSpan = Annotated[tuple[date, date], BeforeValidator(parse_span)]
