"""Field checks that need parsing: durations, URLs, label selectors, users' PromQL.

Each returns a problem text, or None when the value is fine.
"""

from __future__ import annotations

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


def check_events_promql(text: str) -> str | None:
    """Users' PromQL must parse once {{window}} is replaced, and must use {{window}}."""
    import promql_parser

    if WINDOW_PLACEHOLDER not in text:
        return "must use {{window}} as its range, e.g. rate(my_total[{{window}}]), so each alert window gets its own rate"
    query = text.replace(WINDOW_PLACEHOLDER, "5m")
    try:
        promql_parser.parse(query)
    except ValueError as exc:
        return "is not valid PromQL: " + " ".join(str(exc).split())
    try:
        promql_parser.parse(f"sum({query})")  # what the rules do with it
    except ValueError as exc:
        return "must return an instant vector, like sum(rate(x_total[{{window}}])): " + " ".join(str(exc).split())
    return None
