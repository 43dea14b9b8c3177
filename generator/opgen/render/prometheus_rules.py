"""ops/prometheus/<name>.rules.yml: SLI recordings, SLO metadata, burn-rate and no-data alerts.

Per SLO, one group of recordings (evaluated in order, so later rules see earlier results of
the same evaluation) and one group of alerts; one group for the service's health.
"""

from __future__ import annotations

from fractions import Fraction

from opgen import conventions as c
from opgen import promql
from opgen.alerts import has_dependency_alerts, is_scraped
from opgen.descriptor.model import SLO, Dependency, Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.yaml_output import dump_yaml
from opgen.slo.durations import format_duration
from opgen.slo.numbers import format_number
from opgen.slo.sli import sli_queries
from opgen.slo.windows import (
    EXHAUSTED_FOR,
    RAW_WINDOW_LIMIT,
    SHORT_WINDOW,
    WINDOW_PAIRS,
    WindowPair,
    burn_rate_factor,
    recorded_windows,
)


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    text = dump_yaml({"groups": rule_groups(service)}, generated_header(context))
    return [Artifact(c.rules_path(service.name), text)]


def rule_groups(service: Service) -> list[dict]:
    """The service's rule groups as data: the plain rule file's content, and what the other rule
    formats (render/rule_formats.py) wrap."""
    groups = []
    for slo in service.slos:
        groups.append({"name": c.rule_group(service.name, slo.name, "recordings"), "rules": recording_rules(service, slo)})
        groups.append({"name": c.rule_group(service.name, slo.name, "alerts"), "rules": slo_alerts(service, slo)})
    health = health_alerts(service)
    if health:
        groups.append({"name": c.rule_group(service.name, None, "health"), "rules": health})
    if has_dependency_alerts(service):
        groups.append({"name": c.rule_group(service.name, None, "dependencies"), "rules": dependency_alerts(service)})
    groups.append({"name": c.rule_group(service.name, None, "saturation"), "rules": saturation_alerts(service)})
    return groups


def slo_labels(service: Service, slo: SLO) -> dict[str, str]:
    return {c.LABEL_SERVICE: service.name, c.LABEL_SLO: slo.name, c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier)}


def slo_series(metric: str, service: Service, slo: SLO) -> str:
    """A recorded series of this SLO: metric{service="…",slo="…"}."""
    return promql.slo_series(metric, service.name, slo.name)


def recording_rules(service: Service, slo: SLO) -> list[dict]:
    labels = slo_labels(service, slo)
    short = format_duration(SHORT_WINDOW)
    queries = sli_queries(service, slo, short)
    errors_5m, requests_5m = slo_series(c.SLI_ERRORS_RATE5M, service, slo), slo_series(c.SLI_REQUESTS_RATE5M, service, slo)
    rules = [
        {"record": c.SLI_ERRORS_RATE5M, "expr": queries.errors, "labels": labels},
        {"record": c.SLI_REQUESTS_RATE5M, "expr": queries.total, "labels": labels},
    ]
    for window in recorded_windows(slo.window_seconds):
        text = format_duration(window)
        if window == SHORT_WINDOW:
            expr = f"{errors_5m}\n/\n{requests_5m}"
        elif window <= RAW_WINDOW_LIMIT:
            q = sli_queries(service, slo, text)
            expr = f"{q.errors}\n/\n{q.total}"
        else:
            # Request-weighted: total bad events over total events, from the 5m recordings. A mean
            # of 5m ratios would weigh a quiet night's single failure like a busy hour's.
            expr = f"sum_over_time({errors_5m}[{text}])\n/\nsum_over_time({requests_5m}[{text}])"
        rules.append({"record": c.sli_error_ratio(text), "expr": expr, "labels": labels})

    budget = format_number(slo.error_budget)
    rules += [
        {"record": c.OBJECTIVE, "expr": f"vector({format_number(slo.objective)})", "labels": labels},
        {"record": c.ERROR_BUDGET, "expr": f"vector({budget})", "labels": labels},
        {"record": c.CURRENT_BURN_RATE, "expr": f"{slo_series(c.sli_error_ratio(short), service, slo)} / {budget}", "labels": labels},
        {"record": c.PERIOD_BURN_RATE, "expr": f"{slo_series(c.sli_error_ratio(slo.window), service, slo)} / {budget}", "labels": labels},
        {"record": c.PERIOD_BUDGET_REMAINING, "expr": f"1 - {slo_series(c.PERIOD_BURN_RATE, service, slo)}", "labels": labels},
    ]
    return rules


# Go templates that Prometheus expands in annotations; the generated unit tests pass the values
# they expect instead, so rules and tests share one text.
BURN_RATE_VALUE = '{{ $value | printf "%.1f" }}'
SPENT_SHARE_VALUE = "{{ $value | humanizePercentage }}"


def slo_alerts(service: Service, slo: SLO) -> list[dict]:
    rules = [burn_rate_alert(service, slo, pair) for pair in WINDOW_PAIRS]
    alert = c.alert_budget_exhausted(slo.name)
    rules.append({
        "alert": alert,
        "expr": f"{slo_series(c.PERIOD_BURN_RATE, service, slo)} >= 1",
        "for": format_duration(EXHAUSTED_FOR),
        "labels": exhausted_labels(service, slo),
        "annotations": exhausted_annotations(service, slo, SPENT_SHARE_VALUE),
    })
    return rules


def exhausted_labels(service: Service, slo: SLO) -> dict[str, str]:
    return {**slo_labels(service, slo), c.LABEL_SEVERITY: c.SEVERITY_TICKET}


def exhausted_annotations(service: Service, slo: SLO, spent_share: str) -> dict[str, str]:
    return annotations(
        service, c.alert_budget_exhausted(slo.name),
        summary=f"{service.name} has spent the whole {slo.window} error budget of its {slo.name} SLO.",
        description=(
            f"{spent_share} of the {slo.window} error budget of the {slo.name} SLO "
            f"({format_number(slo.objective_percent)}% of events good) is spent. Further failures break the "
            f"objective: favour reliability work over risky changes until the budget recovers."
        ),
    )


def burn_rate_alert(service: Service, slo: SLO, pair: WindowPair) -> dict:
    factor = format_number(burn_rate_factor(pair.budget_share, slo.window_seconds, pair.long))
    budget = format_number(slo.error_budget)
    long_ratio = slo_series(c.sli_error_ratio(pair.long_text), service, slo)
    short_ratio = slo_series(c.sli_error_ratio(pair.short_text), service, slo)
    remaining = slo_series(c.PERIOD_BUDGET_REMAINING, service, slo)
    seconds_left = f"clamp_min({remaining}, 0) * {format_number(slo.window_seconds)} / ({long_ratio} / {budget})"
    time_left = (
        f"{{{{ with query `{seconds_left}` }}}}{{{{ . | first | value | humanizeDuration }}}}"
        "{{ else }}an unknown time{{ end }}"
    )
    return {
        "alert": c.alert_budget_burn(slo.name),
        "expr": f"{long_ratio} / {budget} > {factor}\nand\n{short_ratio} / {budget} > {factor}",
        "for": format_duration(pair.for_seconds),
        "labels": burn_rate_labels(service, slo, pair),
        "annotations": burn_rate_annotations(service, slo, pair, BURN_RATE_VALUE, time_left),
    }


def burn_rate_labels(service: Service, slo: SLO, pair: WindowPair) -> dict[str, str]:
    return {
        **slo_labels(service, slo),
        c.LABEL_SEVERITY: pair.severity,
        c.LABEL_LONG_WINDOW: pair.long_text,
        c.LABEL_SHORT_WINDOW: pair.short_text,
    }


def burn_rate_annotations(service: Service, slo: SLO, pair: WindowPair, burn_rate: str, time_left: str) -> dict[str, str]:
    factor = format_number(burn_rate_factor(pair.budget_share, slo.window_seconds, pair.long))
    share = format_number(pair.budget_share * 100)
    return annotations(
        service, c.alert_budget_burn(slo.name),
        summary=f"{service.name} is burning the error budget of its {slo.name} SLO too fast.",
        description=(
            f"The {slo.name} SLO ({format_number(slo.objective_percent)}% over {slo.window}) is burning its "
            f"error budget {burn_rate} times faster than sustainable over the last {pair.long_text}, and "
            f"is still above the threshold of {factor} over the last {pair.short_text} (at {factor} times, "
            f"{share}% of the budget goes in {pair.long_text}). At this rate the remaining budget is gone in {time_left}."
        ),
    )


def health_alerts(service: Service) -> list[dict]:
    """SLONoData: scraped targets down, or an SLO without data while they are up. A service that is
    not scraped (Lambda) has no `up`: there, an SLO without data is the only sign."""
    up = promql.selector(c.TARGET_UP_METRIC, service.selector)
    rules = []
    if is_scraped(service):
        rules.append({
            "alert": c.ALERT_NO_DATA,
            "expr": f"max({up}) == 0\nor\nsum(absent({up}))",
            "for": "5m",
            "labels": no_data_labels(service, NO_DATA_TARGETS_DOWN),
            "annotations": no_data_annotations(service, NO_DATA_TARGETS_DOWN),
        })
    for slo in service.slos:
        requests = slo_series(c.SLI_REQUESTS_RATE5M, service, slo)
        rules.append({
            "alert": c.ALERT_NO_DATA,
            "expr": f"sum(absent({requests}))\nand\nmax({up}) == 1" if is_scraped(service) else f"sum(absent({requests}))",
            "for": "15m",
            "labels": no_data_labels(service, NO_DATA_SLI_MISSING, slo),
            "annotations": no_data_annotations(service, NO_DATA_SLI_MISSING, slo),
        })
    return rules


NO_DATA_TARGETS_DOWN = "targets-down"
NO_DATA_SLI_MISSING = "sli-metrics-missing"


def no_data_labels(service: Service, cause: str, slo: SLO | None = None) -> dict[str, str]:
    labels = {c.LABEL_SERVICE: service.name, c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier)}
    if slo is not None:
        labels[c.LABEL_SLO] = slo.name
    return {**labels, c.LABEL_SEVERITY: c.SEVERITY_PAGE, c.LABEL_CAUSE: cause}


def no_data_annotations(service: Service, cause: str, slo: SLO | None = None) -> dict[str, str]:
    if cause == NO_DATA_TARGETS_DOWN:
        return annotations(
            service, c.ALERT_NO_DATA,
            summary=f"Prometheus cannot scrape {service.name}, so its SLO alerts are blind.",
            description=(
                f"No target matching {{{service.selector}}} has been up for 5 minutes (or none exists). "
                f"Every SLO alert of {service.name} is silent while this lasts."
            ),
        )
    return annotations(
        service, c.ALERT_NO_DATA,
        summary=f"{service.name} is up but the metrics of its {slo.name} SLO are missing, so that SLO's alerts are blind."
        if is_scraped(service) else f"The metrics of the {slo.name} SLO of {service.name} are missing, so that SLO's alerts are blind.",
        description=(
            (f"Targets of {service.name} are scraped, but the" if is_scraped(service) else "The")
            + f" {slo.name} SLI has recorded no events for 15 minutes: the instrumentation is broken or renamed, "
            f"the query no longer matches, or the service has had no traffic since it started."
        ),
    )


# --- dependencies: client-side metrics of the calls the service makes ---------------------------

DEPENDENCY_ERRORS_FOR, DEPENDENCY_LATENCY_FOR = "10m", "15m"
RATIO_VALUE = "{{ $value | humanizePercentage }}"
SECONDS_VALUE = "{{ $value | humanizeDuration }}"


def dependency_series(service: Service, dependency: Dependency, suffix: str, *extra: str) -> str:
    """A client histogram series of calls to `dependency`, selected like the service's own series."""
    metric = c.DEPENDENCY_METRICS[dependency.kind]
    return promql.selector(metric.histogram + suffix, *c.dependency_matchers(service.selector, dependency.name, dependency.kind), *extra)


def dependency_alerts(service: Service) -> list[dict]:
    rules = []
    for dependency in service.dependencies:
        metric = c.DEPENDENCY_METRICS[dependency.kind]
        failed = " or ".join(promql.rate(dependency_series(service, dependency, "_count", m), "5m") for m in metric.error_matchers)
        total = promql.rate(dependency_series(service, dependency, "_count"), "5m")
        threshold = format_number(c.DEPENDENCY_ERROR_RATIO_THRESHOLD)
        rules.append({
            "alert": c.ALERT_DEPENDENCY_ERRORS,
            "expr": f"sum({failed})\n/\nsum({total})\n> {threshold}",
            "for": DEPENDENCY_ERRORS_FOR,
            "labels": dependency_labels(service, dependency),
            "annotations": dependency_error_annotations(service, dependency, RATIO_VALUE),
        })
        p99 = f"histogram_quantile(0.99, sum by (le) ({promql.rate(dependency_series(service, dependency, '_bucket'), '5m')}))"
        rules.append({
            "alert": c.ALERT_DEPENDENCY_LATENCY,
            "expr": f"{p99}\n> {format_number(metric.latency_threshold_seconds)}",
            "for": DEPENDENCY_LATENCY_FOR,
            "labels": dependency_labels(service, dependency),
            "annotations": dependency_latency_annotations(service, dependency, SECONDS_VALUE),
        })
    return rules


def dependency_labels(service: Service, dependency: Dependency) -> dict[str, str]:
    return {
        c.LABEL_SERVICE: service.name, c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier),
        c.LABEL_SEVERITY: c.SEVERITY_PAGE if dependency.critical else c.SEVERITY_TICKET,
        c.LABEL_DEPENDENCY: dependency.name, c.LABEL_DEPENDENCY_KIND: dependency.kind,
    }


def _impact(service: Service, dependency: Dependency) -> str:
    if dependency.critical:
        return f"{dependency.name} is critical: {service.name} fails when it fails."
    return f"{dependency.name} is not critical: {service.name} should degrade, not fail."


def dependency_error_annotations(service: Service, dependency: Dependency, ratio: str) -> dict[str, str]:
    threshold = format_number(c.DEPENDENCY_ERROR_RATIO_THRESHOLD * 100)
    return annotations(
        service, c.ALERT_DEPENDENCY_ERRORS,
        summary=f"Calls from {service.name} to {dependency.name} fail too often.",
        description=(f"{ratio} of calls from {service.name} to {dependency.name} ({dependency.kind}) failed over the "
                     f"last 5 minutes, for {DEPENDENCY_ERRORS_FOR} (threshold {threshold}%). {_impact(service, dependency)}"),
    )


def dependency_latency_annotations(service: Service, dependency: Dependency, seconds: str) -> dict[str, str]:
    threshold = format_number(c.DEPENDENCY_METRICS[dependency.kind].latency_threshold_seconds)
    return annotations(
        service, c.ALERT_DEPENDENCY_LATENCY,
        summary=f"Calls from {service.name} to {dependency.name} are slow.",
        description=(f"The p99 latency of calls from {service.name} to {dependency.name} ({dependency.kind}) is {seconds} "
                     f"over the last 5 minutes, for {DEPENDENCY_LATENCY_FOR} (threshold {threshold}s). {_impact(service, dependency)}"),
    )


# --- saturation: what the platform reports about the service's containers -------------------------

SATURATION_FOR, GPU_BUSY_FOR = "15m", "30m"


def saturation_alerts(service: Service) -> list[dict]:
    """Rules for the saturation alerts of the catalog (alerts.py), per platform."""
    limit = format_number(c.SATURATION_THRESHOLD)
    if service.platform == "lambda":
        function = ",".join(c.lambda_function_matchers(service.name))
        return [saturation_rule(service, c.ALERT_LAMBDA_THROTTLED, f"sum({c.LAMBDA_THROTTLES}{{{function}}}) > 0", "10m")]
    if service.platform == "ecs":
        ecs = ",".join(c.ecs_service_matchers(service.namespace, service.name))
        return [
            saturation_rule(service, c.ALERT_CPU_NEAR_LIMIT, f"max({c.ECS_CPU_UTILIZATION}{{{ecs}}}) / 100 > {limit}"),
            saturation_rule(service, c.ALERT_MEMORY_NEAR_LIMIT, f"max({c.ECS_MEMORY_UTILIZATION}{{{ecs}}}) / 100 > {limit}"),
        ]
    pods = ",".join(c.k8s_pod_matchers(service.namespace, service.name))
    hpa = ",".join(c.k8s_hpa_matchers(service.namespace, service.name))
    rules = [
        saturation_rule(service, c.ALERT_CPU_NEAR_LIMIT,
                        f'sum(rate({c.K8S_CPU_USAGE}{{{pods},container!=""}}[5m]))\n/\n'
                        f'sum({c.K8S_RESOURCE_LIMITS}{{{pods},resource="cpu"}})\n> {limit}'),
        saturation_rule(service, c.ALERT_MEMORY_NEAR_LIMIT,
                        f'max(\n  sum by (pod, container) ({c.K8S_MEMORY_WORKING_SET}{{{pods},container!=""}})\n  /\n'
                        f'  sum by (pod, container) ({c.K8S_RESOURCE_LIMITS}{{{pods},resource="memory"}})\n)\n> {limit}'),
    ]
    if not service.is_cron_job:
        rules.append(saturation_rule(service, c.ALERT_REPLICAS_AT_MAX,
                                     f"max({c.K8S_HPA_CURRENT_REPLICAS}{{{hpa}}})\n>=\nmax({c.K8S_HPA_MAX_REPLICAS}{{{hpa}}})"))
    if service.gpu is not None:
        used, free = f"{c.GPU_MEMORY_USED}{{{pods}}}", f"{c.GPU_MEMORY_FREE}{{{pods}}}"
        rules += [
            saturation_rule(service, c.ALERT_GPU_MEMORY_NEAR_LIMIT, f"max({used} / ({used} + {free}))\n> {limit}"),
            saturation_rule(service, c.ALERT_GPU_SATURATED, f"avg({c.GPU_UTILIZATION}{{{pods}}}) / 100\n> {limit}", GPU_BUSY_FOR),
        ]
    return rules


def saturation_rule(service: Service, alert: str, expr: str, hold: str = SATURATION_FOR) -> dict:
    return {
        "alert": alert,
        "expr": expr,
        "for": hold,
        "labels": saturation_labels(service),
        "annotations": saturation_annotations(service, alert, VALUE_TEMPLATES[alert]),
    }


def saturation_labels(service: Service) -> dict[str, str]:
    return {c.LABEL_SERVICE: service.name, c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier),
            c.LABEL_SEVERITY: c.SEVERITY_TICKET}


VALUE_TEMPLATES = {
    c.ALERT_LAMBDA_THROTTLED: "{{ $value }}",
    c.ALERT_CPU_NEAR_LIMIT: RATIO_VALUE, c.ALERT_MEMORY_NEAR_LIMIT: RATIO_VALUE,
    c.ALERT_REPLICAS_AT_MAX: "{{ $value }}",
    c.ALERT_GPU_MEMORY_NEAR_LIMIT: RATIO_VALUE, c.ALERT_GPU_SATURATED: RATIO_VALUE,
}


def saturation_annotations(service: Service, alert: str, value: str) -> dict[str, str]:
    name, percent = service.name, format_number(c.SATURATION_THRESHOLD * 100)
    texts = {
        c.ALERT_LAMBDA_THROTTLED: (f"Lambda is throttling {name}.",
                                   f"{value} invocations of {name} were throttled in the last CloudWatch period: "
                                   f"requests are rejected because the function hit its concurrency limit."),
        c.ALERT_CPU_NEAR_LIMIT: (f"{name} is using most of its CPU limit.",
                                 f"{name} uses {value} of its CPU limit (threshold {percent}%) for {SATURATION_FOR}: "
                                 f"requests slow down as the containers are throttled."),
        c.ALERT_MEMORY_NEAR_LIMIT: (f"A container of {name} is close to its memory limit.",
                                    f"The fullest container of {name} uses {value} of its memory limit (threshold "
                                    f"{percent}%) for {SATURATION_FOR}: it is close to being OOM-killed."),
        c.ALERT_REPLICAS_AT_MAX: (f"{name} is running at its maximum number of replicas.",
                                  f"{name} has run {value} replicas, its autoscaler's maximum, for {SATURATION_FOR}: "
                                  f"more load cannot be absorbed by scaling out."),
        c.ALERT_GPU_MEMORY_NEAR_LIMIT: (f"A GPU of {name} is almost out of memory.",
                                        f"The fullest GPU of {name} has {value} of its memory in use (threshold "
                                        f"{percent}%) for {SATURATION_FOR}: larger batches or models will fail to load."),
        c.ALERT_GPU_SATURATED: (f"The GPUs of {name} are saturated.",
                                f"The GPUs of {name} are {value} busy on average (threshold {percent}%) for {GPU_BUSY_FOR}: "
                                f"requests queue up and latency grows."),
    }
    summary, description = texts[alert]
    return annotations(service, alert, summary=summary, description=description)


def annotations(service: Service, alert: str, summary: str, description: str) -> dict[str, str]:
    result = {
        "summary": summary,
        "description": description,
        "runbook_url": c.runbook_url(service.runbook_base_url, service.name, alert),
    }
    if service.grafana_url:
        result["dashboard_url"] = c.dashboard_url(service.grafana_url, service.name)
    return result
