"""Field checks that need parsing: durations, URLs, label selectors, users' PromQL.

Each returns a problem text, or None when the value is fine.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

from opgen.slo.durations import parse_duration

WINDOW_PLACEHOLDER = "{{window}}"


def check_duration(text: str) -> str | None:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        return str(exc)
    if (seconds * 1000).denominator != 1:
        return "is finer than a millisecond"
    return None


def check_slo_window(text: str) -> str | None:
    problem = check_duration(text)
    if problem:
        return problem
    seconds = parse_duration(text)
    days = seconds / 86400
    if days.denominator != 1 or not 7 <= days <= 90:
        return "must be whole days from 7d to 90d (28d and 30d are usual)"
    return None


def check_url(text: str) -> str | None:
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "must be an http(s) URL like https://grafana.example.com"
    if any(c in text for c in " \t\n\"'<>`{}|\\^"):
        return "must not contain spaces, quotes, braces or angle brackets"
    return None


def check_selector(text: str) -> str | None:
    """A selector is label matchers without braces, as in job="checkout",namespace="shop"."""
    import promql_parser

    if "{" in text or "}" in text:
        return 'must be written without braces, like job="checkout"'
    try:
        expr = promql_parser.parse("up{" + text + "}")
    except ValueError as exc:
        return f"is not a PromQL label selector: {exc}"
    if not isinstance(expr, promql_parser.VectorSelector) or any(
        m.name == "__name__" for m in expr.matchers.matchers
    ):
        return "must only match labels, not metric names"
    return None


def _window_places(text: str) -> tuple[int, int]:
    """How many {{window}} sit as a range (right after "[") and how many inside a string literal,
    reading PromQL's strings ("...", '...' with escapes, `...` raw) and comments (# to the line's end)."""
    ranges = inside = 0
    index, quote = 0, None
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and quote != "`":
                index += 2
                continue
            if char == quote:
                quote = None
            elif text.startswith(WINDOW_PLACEHOLDER, index):
                inside += 1
        elif char in "\"'`":
            quote = char
        elif char == "#":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
            continue
        elif text.startswith(WINDOW_PLACEHOLDER, index):
            ranges += text[:index].rstrip().endswith("[")
        index += 1
    return ranges, inside


# Functions that give a value when no series exists: an SLI built on one never goes absent, so the
# no-data alert cannot see an outage, and opgen's own zero guard already makes a quiet error counter 0.
_VALUE_WITHOUT_SERIES = ("vector", "absent", "absent_over_time", "time")


def _calls(expr) -> list[str]:
    import promql_parser

    found = [expr.func.name] if isinstance(expr, promql_parser.Call) else []
    for child in ("lhs", "rhs", "expr", "param", "args"):
        value = getattr(expr, child, None)
        for item in value if isinstance(value, list) else [value]:
            if item is not None and hasattr(item, "prettify"):
                found += _calls(item)
    return found


def check_events_promql(text: str) -> str | None:
    """Users' PromQL must parse once {{window}} is replaced, must use {{window}}, and only as a
    range, and must read series only."""
    import promql_parser

    if WINDOW_PLACEHOLDER not in text:
        return "must use {{window}} as its range, e.g. rate(my_total[{{window}}]), so each alert window gets its own rate"
    ranges, inside = _window_places(text)
    if inside:
        return ("has {{window}} inside a string; opgen replaces it in ranges only, like rate(my_total[{{window}}]): "
                "a label value that changes with the window matches other series in every window")
    if not ranges:
        return "must use {{window}} as a range, right after \"[\", e.g. rate(my_total[{{window}}])"
    query = text.replace(WINDOW_PLACEHOLDER, "5m")
    try:
        promql_parser.parse(query)
    except ValueError as exc:
        return "is not valid PromQL: " + " ".join(str(exc).split())
    try:
        expr = promql_parser.parse(f"sum({query})")  # what the rules do with it
    except ValueError as exc:
        return "must return an instant vector, like sum(rate(x_total[{{window}}])): " + " ".join(str(exc).split())
    made_up = sorted(set(_calls(expr)) & set(_VALUE_WITHOUT_SERIES))
    if made_up:
        return (f"must read series only: {made_up[0]}() gives a value when there is no data, which hides an outage "
                "from the no-data alert (opgen already reads a quiet error counter as 0)")
    return None


def check_time_of_day(text: str) -> str | None:
    """HH:MM on a 24-hour clock; 24:00 is the end of a day (Alertmanager's time intervals)."""
    match = re.fullmatch(r"([01][0-9]|2[0-4]):([0-5][0-9])", text)
    if not match or (match[1] == "24" and match[2] != "00"):
        return "is not a time of day: HH:MM on a 24-hour clock, from 00:00 to 24:00"
    return None


def check_date(text: str) -> str | None:
    import datetime

    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return "is not a date: YYYY-MM-DD"
    return None if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else "is not a date: YYYY-MM-DD"


def check_time_zone(text: str) -> str | None:
    """An IANA time zone, as Alertmanager's `location` reads it. Checked against this machine's
    time zone database when it has one (no database: the name's form only)."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        if zoneinfo.available_timezones():
            return "is not an IANA time zone such as Europe/Berlin or UTC"
    return None
