"""Prometheus-style durations ("500ms", "30d", "1h30m"), kept exact."""

from __future__ import annotations

import re
from fractions import Fraction

UNIT_SECONDS = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
    "d": Fraction(86400),
    "w": Fraction(7 * 86400),
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> Fraction:
    """Seconds in a duration like "500ms", "0.25s", "1h30m"; ValueError when it does not parse."""
    text = text.strip()
    if not text:
        raise ValueError("is empty; expected a duration like 500ms or 30d")
    total = Fraction(0)
    pos = 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += Fraction(match.group(1)) * UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError("is not a duration like 500ms, 30s, 5m, 1h or 30d")
    if total <= 0:
        raise ValueError("must be longer than zero")
    return total


def format_duration(seconds: Fraction) -> str:
    """The shortest PromQL duration ("30d", "6h", "90m", "500ms"); days rather than weeks, as SLO windows are written."""
    if seconds.denominator != 1:
        millis = seconds * 1000
        if millis.denominator != 1:
            raise ValueError(f"{seconds} s is finer than a millisecond")
        return f"{millis.numerator}ms"
    whole = seconds.numerator
    for unit in ("d", "h", "m"):
        size = int(UNIT_SECONDS[unit])
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"
