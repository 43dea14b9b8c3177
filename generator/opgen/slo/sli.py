"""The PromQL that counts an SLO's bad and total events over a window (docs/metrics.md).

Event-based SLIs (availability, latency, freshness, events) count requests or messages.
Time-based SLIs (job-success, job-on-time) count minutes: each minute of the window is bad or
good, and the "total" is 1 for every minute with data, so every ratio built on top reads as the
share of bad minutes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from opgen import conventions, promql
from opgen.descriptor.checks import WINDOW_PLACEHOLDER
from opgen.descriptor.model import SLO, Service
from opgen.slo.numbers import format_number


@dataclass(frozen=True)
class SLIQueries:
    errors: str  # rate of bad events, 0 (not absent) while there is traffic and nothing failed
    total: str  # rate of all events


def sli_queries(service: Service, slo: SLO, window: str, recorded_total: str | None = None) -> SLIQueries:
    """The SLI's bad and total events over `window`. With `recorded_total` (a labelless read of
    the recording of `total` for this window), `errors` reads that instead of the total metric
    again, so a rule file reads each raw series once per window."""
    sli = slo.sli
    if sli.kind == "events":
        total = promql.sum_of(sli.total_promql.replace(WINDOW_PLACEHOLDER, window))
        errors = promql.sum_of(sli.errors_promql.replace(WINDOW_PLACEHOLDER, window))
        return SLIQueries(promql.zero_when_absent(errors, recorded_total or total), total)
    if sli.time_based:
        subquery = time_slices(service, slo, window)
        return SLIQueries(f"avg_over_time({subquery})", f"present_over_time({subquery})")
    if sli.kind == "freshness":
        return _threshold_queries(service, conventions.MESSAGE_AGE, sli.threshold_seconds, window, recorded_total)

    metric = conventions.REQUEST_METRICS[sli.interface]
    if sli.kind == "availability":
        total = promql.sum_of(promql.rate(promql.selector(metric.count, service.selector), window))
        failed = " or ".join(promql.rate(promql.selector(metric.count, service.selector, m), window) for m in metric.error_matchers)
        return SLIQueries(promql.zero_when_absent(promql.sum_of(failed), recorded_total or total), total)
    return _threshold_queries(service, metric, sli.threshold_seconds, window, recorded_total)


def _threshold_queries(service: Service, metric: conventions.DurationHistogram, threshold: Fraction, window: str,
                       recorded_total: str | None) -> SLIQueries:
    """Bad = all observations minus those in the threshold's bucket, over the series that have that
    bucket. A missing bucket (a threshold that is not a boundary, on every target or on the pods of
    a rollout that changed the buckets) leaves those series out, and the SLI without data when none
    has it, never at 100 % bad: SLONoData says why (cause threshold-bucket-missing), and the burn
    alerts do not page for a configuration mistake."""
    in_bucket = promql.rate(promql.selector(metric.bucket, service.selector, le_matcher(threshold)), window)
    total = promql.sum_of(f"{promql.rate(promql.selector(metric.count, service.selector), window)} and ignoring(le) {in_bucket}")
    good = promql.sum_of(in_bucket)
    return SLIQueries(f"({recorded_total or total} - {good})", total)


def time_slices(service: Service, slo: SLO, window: str) -> str:
    """The bad-minute series of a time-based SLI sampled once a minute over `window` (a range
    vector): the rules average it, and the live report counts its minutes (opgen.live.budget)."""
    return f"({bad_minute(service, slo)})[{window}:{conventions.TIME_SLICE}]"


def bad_minute(service: Service, slo: SLO) -> str:
    """1 while the job is in a bad state, 0 while it is fine, absent until it has run once.

    job-on-time: the last success is older than the threshold.
    job-success: the latest run ended after the latest success, so it failed.
    A job that has run but never succeeded counts its last success as 1970."""
    completion = f"max({promql.selector(conventions.JOB_LAST_COMPLETION, service.selector)})"
    success = promql.zero_when_absent(f"max({promql.selector(conventions.JOB_LAST_SUCCESS, service.selector)})", completion)
    if slo.sli.kind == "job-on-time":
        return f"time() - {success} > bool {format_number(slo.sli.threshold_seconds)}"
    return f"{completion} > bool {success}"


def le_values(threshold_seconds: Fraction) -> tuple[str, ...]:
    """The `le` label of a bucket boundary as Prometheus 2 ("1") and Prometheus 3 ("1.0") write it."""
    text = format_number(threshold_seconds)
    return (text, text + ".0") if "." not in text else (text,)


def le_matcher(threshold_seconds: Fraction) -> str:
    values = le_values(threshold_seconds)
    if len(values) == 1:
        return promql.matcher("le", values[0])
    return promql.matcher("le", "|".join(v.replace(".", "[.]") for v in values), "=~")


def bad_events_in_window(slo: SLO, errors: str, window_seconds: Fraction) -> str:
    """How many bad events the recorded `errors` of one window stand for. Its queries give events
    per second, except an events SLI written with increase() (and no rate()), which counts them."""
    return errors if counts_events(slo) else f"{errors} * {format_number(window_seconds)}"


def counts_events(slo: SLO) -> bool:
    """Whether the SLI's recordings count events in their window (an events SLI written with
    increase() and no rate()) rather than give events per second."""
    sli = slo.sli
    return sli.kind == "events" and bool(re.search(r"\bincrease\s*\(", sli.errors_promql)) \
        and not re.search(r"\b(?:i?rate)\s*\(", sli.errors_promql)
