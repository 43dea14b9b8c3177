"""The PromQL that counts an SLO's bad and total events over a window (docs/metrics.md)."""

from __future__ import annotations

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


def sli_queries(service: Service, slo: SLO, window: str) -> SLIQueries:
    sli = slo.sli
    if sli.kind == "events":
        total = promql.sum_of(sli.total_promql.replace(WINDOW_PLACEHOLDER, window))
        errors = promql.sum_of(sli.errors_promql.replace(WINDOW_PLACEHOLDER, window))
        return SLIQueries(promql.zero_when_absent(errors, total), total)

    metric = conventions.REQUEST_METRICS[sli.interface]
    total = promql.sum_of(promql.rate(promql.selector(metric.count, service.selector), window))
    if sli.kind == "availability":
        failed = " or ".join(promql.rate(promql.selector(metric.count, service.selector, m), window) for m in metric.error_matchers)
        return SLIQueries(promql.zero_when_absent(promql.sum_of(failed), total), total)

    # latency: bad = all requests minus those in the threshold's bucket. A missing bucket counts
    # every request as slow: a threshold that is not a bucket boundary shows up loudly, never as
    # an SLI that silently disappears.
    good = promql.sum_of(promql.rate(promql.selector(metric.bucket, service.selector, le_matcher(sli.threshold_seconds)), window))
    return SLIQueries(f"({total} - {promql.zero_when_absent(good, total)})", total)


def le_values(threshold_seconds: Fraction) -> tuple[str, ...]:
    """The `le` label of a bucket boundary as Prometheus 2 ("1") and Prometheus 3 ("1.0") write it."""
    text = format_number(threshold_seconds)
    return (text, text + ".0") if "." not in text else (text,)


def le_matcher(threshold_seconds: Fraction) -> str:
    values = le_values(threshold_seconds)
    if len(values) == 1:
        return promql.matcher("le", values[0])
    return promql.matcher("le", "|".join(v.replace(".", "[.]") for v in values), "=~")
