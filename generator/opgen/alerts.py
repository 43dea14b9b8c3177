"""Every alert a service gets, by name: the list that rules, runbooks, dashboards and tests share.

The rules renderer writes the expressions; this catalog says which alerts exist, why, at which
severities, and what they concern, so that each alert has its runbook and nothing links to a page
that is not generated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from opgen import conventions as c
from opgen.descriptor.model import SLO, Dependency, Service, default_request_interface
from opgen.slo.numbers import format_number, to_fraction
from opgen.slo.windows import WindowPair, window_pairs

SLO_ALERT, HEALTH_ALERT, DEPENDENCY_ALERT, SATURATION_ALERT = "slo", "health", "dependency", "saturation"


@dataclass(frozen=True)
class AlertInfo:
    name: str
    category: str  # slo | health | dependency | saturation
    severities: tuple[str, ...]
    meaning: str  # one sentence: what is true when it fires
    slo: SLO | None = None
    dependencies: tuple[Dependency, ...] = ()


QUIET_SECONDS = 20 * 60  # how long vanished SLI series have been quiet when the page fires: 5m rate + 15m `for`
EXPECTED_QUIET_EVENTS = 10  # events the declared traffic makes in that time for silence to be a fault (P(none) < 1e-4)


def vanishing_is_a_fault(service: Service, slo: SLO) -> bool:
    """Whether SLI series that had events and are gone mean something broke, worth a page. A
    scraped process keeps its series while it lives, so they vanish on a restart or a fault; a
    restarted pod of a quiet service, or a Lambda between invocations (its pushed series go stale),
    has none until its next event. The declared traffic decides: at least EXPECTED_QUIET_EVENTS
    in QUIET_SECONDS. Without it, scraped services page and pushed ones do not."""
    rate = declared_event_rate(service, slo)
    if rate is None:
        return is_scraped(service)
    return rate * QUIET_SECONDS >= EXPECTED_QUIET_EVENTS


def service_alerts(service: Service) -> list[AlertInfo]:
    alerts: list[AlertInfo] = []
    for slo in service.slos:
        alerts.append(AlertInfo(
            c.alert_budget_burn(slo.name), SLO_ALERT, (c.SEVERITY_PAGE, c.SEVERITY_TICKET) if slo.pages else (c.SEVERITY_TICKET,),
            f"The {slo.name} SLO is spending its error budget faster than it can afford over one of four window pairs.", slo))
        alerts.append(AlertInfo(
            c.alert_budget_exhausted(slo.name), SLO_ALERT, (c.SEVERITY_TICKET,),
            f"The {slo.name} SLO has spent its whole error budget for the {slo.window} window.", slo))
    if is_scraped(service) or service.slos:
        pages = is_scraped(service) or any(s.pages and vanishing_is_a_fault(service, s) for s in service.slos)
        severities = (c.SEVERITY_PAGE,) if pages else ()
        alerts.append(AlertInfo(
            c.ALERT_NO_DATA, HEALTH_ALERT, severities + ((c.SEVERITY_TICKET,) if service.slos or is_scraped(service) else ()),
            "Prometheus has no data to judge the SLOs by: targets are down or the SLI metrics are missing."))
    if has_dependency_alerts(service):
        deps = service.dependencies
        severities = ((c.SEVERITY_PAGE,) if any(dependency_pages(service, d) for d in deps) else ()) + (c.SEVERITY_TICKET,)
        alerts.append(AlertInfo(c.ALERT_DEPENDENCY_ERRORS, DEPENDENCY_ALERT, severities,
                                "More calls to a dependency fail than its threshold allows.", dependencies=deps))
        alerts.append(AlertInfo(c.ALERT_DEPENDENCY_LATENCY, DEPENDENCY_ALERT, severities,
                                "Calls to a dependency are slow: their p99 latency is above its threshold.",
                                dependencies=deps))
    alerts += saturation_alerts(service)
    return alerts


def has_dependency_alerts(service: Service) -> bool:
    """Client-side call metrics need a process that lives long enough to be scraped. A cron job's
    run ends before that, and a failing dependency shows up as a failed run (its job-success SLO)."""
    return bool(service.dependencies) and not service.is_cron_job


def is_scraped(service: Service) -> bool:
    """Whether Prometheus scrapes the service's own targets (so `up` exists). Lambda functions
    cannot be scraped: their metrics arrive pushed (OTLP), and only missing series tell of trouble.
    Cron jobs push to a Pushgateway, whose `up` is not theirs."""
    return service.platform != "lambda" and not service.is_cron_job


def saturation_alerts(service: Service) -> list[AlertInfo]:
    ticket = (c.SEVERITY_TICKET,)
    limit = format_number(c.SATURATION_THRESHOLD * 100)
    if service.platform == "lambda":
        return [AlertInfo(c.ALERT_LAMBDA_THROTTLED, SATURATION_ALERT, ticket,
                          "Lambda is throttling invocations: the function hit its concurrency limit.")]
    alerts = [
        AlertInfo(c.ALERT_CPU_NEAR_LIMIT, SATURATION_ALERT, ticket, f"The service's containers use more than {limit}% of their CPU limit."),
        AlertInfo(c.ALERT_MEMORY_NEAR_LIMIT, SATURATION_ALERT, ticket, f"A container uses more than {limit}% of its memory limit; it is close to being OOM-killed."),
    ]
    if service.platform == "kubernetes" and not service.is_cron_job:
        alerts.append(AlertInfo(c.ALERT_REPLICAS_AT_MAX, SATURATION_ALERT, ticket,
                                "The autoscaler has been at its maximum replicas for 15 minutes: it cannot add capacity."))
    if service.gpu is not None:
        alerts.append(AlertInfo(c.ALERT_GPU_MEMORY_NEAR_LIMIT, SATURATION_ALERT, ticket, f"A GPU's memory is more than {limit}% used."))
        alerts.append(AlertInfo(c.ALERT_GPU_SATURATED, SATURATION_ALERT, ticket, f"The service's GPUs have been more than {limit}% busy for 30 minutes."))
    return alerts


# --- who is woken, and on how much evidence -----------------------------------------------------


def burn_severity(slo: SLO, pair: WindowPair) -> str:
    """The pair's own severity, except that an SLO which does not page (alerting.page) only tickets."""
    return pair.severity if slo.pages else c.SEVERITY_TICKET


def fast_pairs(slo: SLO) -> tuple[WindowPair, ...]:
    """The workbook's page pairs: short windows that need the bad-event floor."""
    return tuple(p for p in window_pairs(slo.window_seconds) if p.severity == c.SEVERITY_PAGE)


MIN_BAD_EVENTS = 10  # what a page needs in its long window, by default
MIN_BAD_EVENTS_FLOOR = 2  # never fewer: one failure never pages
OUTAGE_DETECTION_SHARE = Fraction(1, 10)  # of the first page window: a total outage must reach the floor by then
ONE_FAILURE_BUDGET_SHARE = Fraction(1, 100)  # validate warns when one bad event spends more of the budget


def page_min_bad_events(service: Service, slo: SLO) -> int | None:
    """Bad events a fast pair needs in its long window (None for time-based SLIs, which count
    minutes that always tick). MIN_BAD_EVENTS, but a total outage at the declared event rate must
    reach it within a tenth of the first page window (6 minutes of 1h); never below 2."""
    if slo.sli.time_based:
        return None
    if slo.min_bad_events is not None:
        return slo.min_bad_events
    rate = declared_event_rate(service, slo)
    if rate is None:
        return MIN_BAD_EVENTS
    first_page = min(p.long for p in fast_pairs(slo))
    outage_events = math.floor(rate * first_page * OUTAGE_DETECTION_SHARE)
    return max(MIN_BAD_EVENTS_FLOOR, min(MIN_BAD_EVENTS, outage_events))


def declared_event_rate(service: Service, slo: SLO) -> Fraction | None:
    """Events per second the SLI counts, as far as the descriptor says: the declared baseline (it
    describes the service's main interface) plus the synthetic probes of the SLI's interface."""
    sli = slo.sli
    if sli.kind == "events" or sli.time_based:
        return None
    rate = None
    if service.traffic.baseline_rps is not None and sli.interface == default_request_interface(service.interfaces):
        rate = to_fraction(service.traffic.baseline_rps)
    for interface in service.interfaces:
        if interface.kind == sli.interface and interface.probe is not None:
            rate = (rate or 0) + interface.probe.requests_per_second
    return rate


def dependency_pages(service: Service, dependency: Dependency) -> bool:
    """A critical dependency may page, but only while an SLO of the service pages: then it is the
    likely cause of that user pain (docs/alerts.md says how to make it the one page). Not with
    clusters: the dependency alerts read raw series in each cluster's Prometheus, which does not see
    the burn pages of the global ruler."""
    return dependency.critical and any(slo.pages for slo in service.slos) and service.cluster_label is None
