"""Histogram bucket boundaries: the part of the metric contract that SLO thresholds depend on.

A latency or freshness SLI counts the observations in the bucket at its threshold, so every
instrumentation (the generated modules, whatever their language) must give each histogram the
boundaries this module names, and validation refuses a threshold that is not one of them.
"""

from __future__ import annotations

from fractions import Fraction

from opgen import conventions as c
from opgen.descriptor.model import Service

MESSAGE_AGE_KEY = "message-age"  # spec.prometheus.buckets key of the message-age histogram


def declared_key(metric: c.DurationHistogram) -> str | None:
    """The spec.prometheus.buckets key that declares `metric`'s buckets (None: not declarable)."""
    if metric == c.MESSAGE_AGE:
        return MESSAGE_AGE_KEY
    return next((kind for kind, m in c.REQUEST_METRICS.items() if m == metric), None)


def default_boundaries(metric: c.DurationHistogram) -> tuple[Fraction, ...]:
    """opgen's own boundaries for `metric` (OTel's advisory ones for requests, minutes for message age)."""
    if metric == c.MESSAGE_AGE:
        return c.MESSAGE_AGE_BUCKETS_SECONDS
    if isinstance(metric, c.ClientMetric):
        return metric.buckets_seconds
    return c.DEFAULT_BUCKETS_SECONDS


def thresholds_read_from(service: Service, metric: c.DurationHistogram) -> tuple[Fraction, ...]:
    """Every threshold an alert compares with `metric`'s buckets: latency and freshness SLOs, and
    the latency thresholds of the dependencies whose calls it measures."""
    found = [slo.sli.threshold_seconds for slo in service.slos
             if (slo.sli.kind == "freshness" and metric == c.MESSAGE_AGE)
             or (slo.sli.kind == "latency" and c.REQUEST_METRICS[slo.sli.interface] == metric)]
    found += [d.latency_threshold_seconds for d in service.dependencies  # kinds that share a histogram share its buckets
              if c.DEPENDENCY_METRICS[d.kind].histogram == metric.histogram and d.latency_threshold_seconds is not None]
    return tuple(found)


def histogram_boundaries(service: Service, metric: c.DurationHistogram) -> tuple[Fraction, ...]:
    """The bucket boundaries (seconds, ascending, each once) the service's `metric` histogram must
    have: its buckets declared in spec.prometheus.buckets, else opgen's defaults for it, plus every
    threshold read from it. Instrumentation renderers pass these to their histograms."""
    key = declared_key(metric)
    declared = service.buckets.get(key) if key else None
    return tuple(sorted({*(declared or default_boundaries(metric)), *thresholds_read_from(service, metric)}))
