"""Every alert a service gets, by name: the list that rules, runbooks, dashboards and tests share.

The rules renderer writes the expressions; this catalog says which alerts exist, why, at which
severities, and what they concern, so that each alert has its runbook and nothing links to a page
that is not generated.
"""

from __future__ import annotations

from dataclasses import dataclass

from opgen import conventions as c
from opgen.descriptor.model import SLO, Dependency, Service
from opgen.slo.numbers import format_number

SLO_ALERT, HEALTH_ALERT, DEPENDENCY_ALERT, SATURATION_ALERT = "slo", "health", "dependency", "saturation"


@dataclass(frozen=True)
class AlertInfo:
    name: str
    category: str  # slo | health | dependency | saturation
    severities: tuple[str, ...]
    meaning: str  # one sentence: what is true when it fires
    slo: SLO | None = None
    dependencies: tuple[Dependency, ...] = ()


def service_alerts(service: Service) -> list[AlertInfo]:
    alerts: list[AlertInfo] = []
    for slo in service.slos:
        alerts.append(AlertInfo(
            c.alert_budget_burn(slo.name), SLO_ALERT, (c.SEVERITY_PAGE, c.SEVERITY_TICKET),
            f"The {slo.name} SLO is spending its error budget faster than it can afford over one of four window pairs.", slo))
        alerts.append(AlertInfo(
            c.alert_budget_exhausted(slo.name), SLO_ALERT, (c.SEVERITY_TICKET,),
            f"The {slo.name} SLO has spent its whole error budget for the {slo.window} window.", slo))
    if is_scraped(service) or service.slos:
        alerts.append(AlertInfo(
            c.ALERT_NO_DATA, HEALTH_ALERT, (c.SEVERITY_PAGE,),
            "Prometheus has no data to judge the SLOs by: targets are down or the SLI metrics are missing."))
    if has_dependency_alerts(service):
        severities = tuple(s for s, present in (
            (c.SEVERITY_PAGE, any(d.critical for d in service.dependencies)),
            (c.SEVERITY_TICKET, any(not d.critical for d in service.dependencies))) if present)
        deps = service.dependencies
        alerts.append(AlertInfo(c.ALERT_DEPENDENCY_ERRORS, DEPENDENCY_ALERT, severities,
                                f"More than {format_number(c.DEPENDENCY_ERROR_RATIO_THRESHOLD * 100)}% of calls to a "
                                "dependency fail.", dependencies=deps))
        alerts.append(AlertInfo(c.ALERT_DEPENDENCY_LATENCY, DEPENDENCY_ALERT, severities,
                                "Calls to a dependency are slow: their p99 latency is above the threshold for its kind.",
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
