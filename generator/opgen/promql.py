"""Small builders for the PromQL opgen writes, so quoting and selectors are right by construction."""

from __future__ import annotations


def quote(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def matcher(label: str, value: str, op: str = "=") -> str:
    return f"{label}{op}{quote(value)}"


def selector(metric: str, *matchers: str) -> str:
    """metric{m1,m2}; empty matchers are skipped, as are braces when none are left."""
    parts = [m for m in matchers if m]
    return f"{metric}{{{','.join(parts)}}}" if parts else metric


def rate(series: str, window: str) -> str:
    return f"rate({series}[{window}])"


def sum_of(expr: str) -> str:
    return f"sum({expr})"


def zero_when_absent(expr: str, reference: str) -> str:
    """`expr`, or 0 while `reference` has data: a counter that never moved (no 5xx yet) must
    read as 0, not as absent, or every ratio built on it disappears with it. `on()`: the
    reference may be a recorded series with labels, which must not be added beside `expr`."""
    return f"({expr} or on() 0 * {reference})"


def slo_series(metric: str, service_name: str, slo_name: str) -> str:
    """A series opgen records for one SLO: metric{service="…",slo="…"}."""
    from opgen.conventions import LABEL_SERVICE, LABEL_SLO

    return selector(metric, matcher(LABEL_SERVICE, service_name), matcher(LABEL_SLO, slo_name))
