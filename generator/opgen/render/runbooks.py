"""ops/runbooks/<name>/: an overview page, and one page per alert of the catalog (alerts.py).

Python prepares values: links, budget, capacity and cost figures, dashboard panel titles, and the
PromQL of every alert, taken from the rules renderer so that a page shows exactly what Prometheus
evaluates. The prose is in templates/runbooks/. Each alert page ends with a keep-region for the
team's notes, which `opgen sync` carries over (sync/regions.py).

SLO pages follow the SLI's kind: requests, calls or messages that fail or are slow; messages that
wait too long before pickup (freshness: backlog, consumers, poison messages, broker); minutes in
which a cron job's latest run had failed or its last success was too old (time-based: the failed
Job and its logs, reruns, suspended or blocked CronJobs, the Pushgateway). Cron jobs have no
replicas and no autoscaler, so their pages never offer to scale out.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, replace
from fractions import Fraction

from opgen import contract
from opgen import conventions as c
from opgen import promql
from opgen.alerts import (
    SLO_ALERT,
    AlertInfo,
    burn_severity,
    dependency_pages,
    fast_pairs,
    page_min_bad_events,
    service_alerts,
)
from opgen.capacity import (
    HEADROOM, HOURS_PER_MONTH, monthly_gpu_cost, plan_backlog, plan_capacity, replicas_for, with_headroom,
)
from opgen.descriptor.model import SLO, Dependency, Service, default_request_interface
from opgen.fleet import HitService, ceiling_arithmetic, percent_text
from opgen.render import Artifact, RenderContext, generated_header, stub_languages
from opgen.render import grafana_dashboard, prometheus_rules, terraform_autoscaling
from opgen.render.templating import md_fenced, md_path_target, md_url_target, render_template
from opgen.slo.durations import format_duration
from opgen.slo.numbers import format_number, to_fraction
from opgen.slo.sli import bad_minute, le_matcher, sli_queries
from opgen.slo.windows import budget_lasts, burn_rate_threshold, window_pairs

BREAKDOWN_LABEL = {"http": "http_route", "grpc": "rpc_method", "queue-consumer": "messaging_destination_name"}
EVENT_NOUNS = {"http": "requests", "grpc": "calls", "queue-consumer": "messages"}
TIME_SLICE_NOUN = "minutes"  # what time-based SLIs count
DEPENDENCY_TEMPLATE = "runbooks/dependency.md.j2"
PAGE_TEMPLATES = {
    c.ALERT_NO_DATA: "runbooks/no_data.md.j2",
    c.ALERT_DEPENDENCY_ERRORS: DEPENDENCY_TEMPLATE,
    c.ALERT_DEPENDENCY_LATENCY: DEPENDENCY_TEMPLATE,
    c.ALERT_CPU_NEAR_LIMIT: "runbooks/cpu_near_limit.md.j2",
    c.ALERT_MEMORY_NEAR_LIMIT: "runbooks/memory_near_limit.md.j2",
    c.ALERT_REPLICAS_AT_MAX: "runbooks/replicas_at_maximum.md.j2",
    c.ALERT_GPU_MEMORY_NEAR_LIMIT: "runbooks/gpu_memory_near_limit.md.j2",
    c.ALERT_GPU_SATURATED: "runbooks/gpu_utilization_high.md.j2",
    c.ALERT_LAMBDA_THROTTLED: "runbooks/lambda_throttled.md.j2",
}


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    alerts = service_alerts(service)
    rules = alert_rules(service)
    values = {
        "header": md_header(context),
        "service": service,
        "alerts": alerts,
        "links": links(context),
        "slos": {slo.name: slo_view(service, slo, rules) for slo in service.slos},
        "dependencies": [dependency_view(service, d, rules) for d in service.dependencies],
        "capacity": capacity_view(service),
        "cost": cost_view(service),
        "autoscaler": terraform_autoscaling.autoscaler(service),
        "brokers": [d for d in service.dependencies if d.kind in terraform_autoscaling.QUEUE_BROKERS],
        "job": job_view(service),
        "panel_rows": dashboard_rows(service),
        "dependency_rule": {
            "errors_for": prometheus_rules.DEPENDENCY_ERRORS_FOR,
            "latency_for": prometheus_rules.DEPENDENCY_LATENCY_FOR,
            "page_for": prometheus_rules.DEPENDENCY_PAGE_FOR,
        },
        "blast": blast_view(context),
        "instrumentation": instrumentation_view(service),
        "ceiling": ceiling_view(context),
        "maintenance": maintenance_windows(service),
        "maintenance_interval": c.maintenance_interval(service.name),
        "targets_down_expr": next(iter(exprs(rules, c.ALERT_NO_DATA, **{c.LABEL_CAUSE: prometheus_rules.NO_DATA_TARGETS_DOWN})), None),
        "fenced": md_fenced,
        "page": lambda alert_name: md_path_target(posixpath.basename(c.runbook_path(service.name, alert_name))),
    }
    pages = [Artifact(c.runbook_overview_path(service.name), render_template("runbooks/README.md.j2", **values))]
    for alert in alerts:
        slo = values["slos"][alert.slo.name] if alert.slo else None
        text = render_template(page_template(alert), alert=alert, slo=slo, alert_exprs=exprs(rules, alert.name), **values)
        pages.append(Artifact(c.runbook_path(service.name, alert.name), text, c.RUNBOOK_REGIONS))
    return pages


def page_template(alert: AlertInfo) -> str:
    if alert.category == SLO_ALERT:
        burn = alert.name == c.alert_budget_burn(alert.slo.name)
        return "runbooks/budget_burn.md.j2" if burn else "runbooks/budget_exhausted.md.j2"
    return PAGE_TEMPLATES[alert.name]


# --- Markdown helpers ----------------------------------------------------------------------------


def md_header(context: RenderContext) -> str:
    """generated_header's text as one Markdown (HTML) comment; nothing in it can end the comment early."""
    text = " ".join(generated_header(context, "").split()).replace("--", "- -")
    return f"<!-- {text} -->"


# --- values for the templates --------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    rules: str  # from a runbook page to the rules file
    rules_name: str
    descriptor: str | None  # None when the descriptor is not a relative path from the output folder
    descriptor_label: str
    dashboard: str | None  # Grafana URL, when the descriptor has grafana_url
    online: str | None  # this overview on the web, as alerts, dashboard and catalog link to it; None without a base URL


def links(context: RenderContext) -> Links:
    service = context.service
    # Pages live at ops/runbooks/<name>/; descriptor_label is relative to the folder that holds ops/.
    label = context.descriptor_label
    descriptor = None if label.startswith("/") else md_path_target("../../../" + label)
    dashboard = md_url_target(c.dashboard_url(service.grafana_url, service.name)) if service.grafana_url else None
    rules = c.rules_path(service.name, c.EVALUATION_GLOBAL if service.cluster_label else None)  # where the SLO alerts are
    online = md_url_target(c.runbook_overview_url(service.runbook_base_url, service.name)) if service.runbook_base_url else None
    return Links(md_path_target("../../" + rules), posixpath.basename(rules), descriptor, label, dashboard, online)


def alert_rules(service: Service) -> list[dict]:
    """Every alerting rule of the rules file, as the rules renderer builds them."""
    rules = [rule for slo in service.slos for rule in prometheus_rules.slo_alerts(service, slo)]
    rules += prometheus_rules.health_alerts(service)
    rules += prometheus_rules.dependency_alerts(service)
    rules += prometheus_rules.saturation_alerts(service)
    return rules


def exprs(rules: list[dict], alert: str, **labels: str) -> list[str]:
    """The expressions of `alert`'s rules whose labels include `labels`."""
    return [r["expr"] for r in rules
            if r["alert"] == alert and all(r["labels"].get(k) == v for k, v in labels.items())]


@dataclass(frozen=True)
class PairView:
    severity: str
    long: str
    short: str
    hold: str
    factor: str  # the burn rate above which it fires (burn_rate_threshold)
    bad_percent: str  # share of events that must be bad for this pair to fire
    budget_lasts: str  # how long the whole budget lasts at this burn rate
    possible: bool
    bad_per_second: str | None  # at the declared baseline traffic
    expr: str
    fast: bool  # one of the workbook's page pairs (which need the bad-event floor)


@dataclass(frozen=True)
class SLOView:
    slo: SLO
    burn_alert: str
    objective: str  # percent
    budget_percent: str
    outage: str  # the budget as minutes of full outage per window
    events: str  # what the SLI counts: requests, calls, messages, events
    threshold: str | None  # latency SLIs: e.g. 500ms
    baseline_rps: str | None  # declared traffic, when it is what this SLI counts
    pairs: tuple[PairView, ...]
    exhausted_expr: str
    no_data_exprs: dict[str, str]  # by cause
    burn_now: str
    budget_left: str
    period_burn: str
    ratio_history: str  # error ratio over the first slow pair's window: its peaks show when the budget went
    history_window: str
    min_bad_events: int | None  # what a fast pair needs in its long window
    buckets: str | None  # latency and freshness: which buckets the histogram has
    history_start: str  # when the recordings began (Unix seconds)
    breakdown: str  # where the bad events are: by route, method or destination; events SLIs: the errors query
    breakdown_label: str | None
    total: str  # the SLI's rate of all events over 5m
    exported: str | None  # request SLIs: counts the series of the metric the SLI reads
    old_names: str | None  # request SLIs: counts series of the metric's older, millisecond-based names
    processed: str | None = None  # freshness: messages processed per second, and failures by error type
    failures: str | None = None
    bad_minute: str | None = None  # time-based: 1 while the job is in a bad state, 0 otherwise


def events_noun(slo: SLO) -> str:
    return TIME_SLICE_NOUN if slo.sli.time_based else EVENT_NOUNS.get(slo.sli.interface, "events")


def slo_view(service: Service, slo: SLO, rules: list[dict]) -> SLOView:
    budget = slo.error_budget
    series = lambda metric: prometheus_rules.slo_series(metric, service, slo)  # noqa: E731
    # The declared traffic is the service's; it describes this SLI only when the SLI counts the main interface.
    counts_main = slo.sli.kind != "events" and slo.sli.interface == default_request_interface(service.interfaces)
    baseline = to_fraction(service.traffic.baseline_rps) if counts_main and service.traffic.baseline_rps is not None else None
    pairs = []
    for pair in window_pairs(slo.window_seconds):
        factor = burn_rate_threshold(pair, slo.window_seconds)
        labels = {c.LABEL_SLO: slo.name, c.LABEL_LONG_WINDOW: pair.long_text, c.LABEL_SHORT_WINDOW: pair.short_text}
        pairs.append(PairView(
            severity=burn_severity(slo, pair), long=pair.long_text, short=pair.short_text, hold=format_duration(pair.for_seconds),
            factor=format_number(factor),
            bad_percent=format_number(factor * budget * 100),
            budget_lasts=format_duration(budget_lasts(pair, slo.window_seconds)),
            possible=factor * budget < 1,
            bad_per_second=format_number(factor * budget * baseline) if baseline is not None else None,
            expr=exprs(rules, c.alert_budget_burn(slo.name), **labels)[0],
            fast=pair in fast_pairs(slo),
        ))
    history = next(p for p in window_pairs(slo.window_seconds) if p not in fast_pairs(slo)).long_text
    breakdown, label = slo_breakdown(service, slo)
    exported, old_names = metric_checks(service, slo)
    processing = c.REQUEST_METRICS["queue-consumer"]
    processed = failures = None
    if slo.sli.kind == "freshness":
        count = lambda *m: promql.rate(promql.selector(processing.count, service.selector, *m), "5m")  # noqa: E731
        processed = f"sum({count()})"
        failures = f"sum by (error_type) ({' or '.join(count(m) for m in processing.error_matchers)})"
    return SLOView(
        slo=slo,
        burn_alert=c.alert_budget_burn(slo.name),
        objective=format_number(slo.objective_percent),
        budget_percent=format_number(budget * 100),
        outage=minutes_text(budget * slo.window_seconds / 60),
        events=events_noun(slo),
        threshold=format_duration(slo.sli.threshold_seconds) if slo.sli.threshold_seconds is not None else None,
        baseline_rps=format_number(baseline) if baseline is not None else None,
        pairs=tuple(pairs),
        exhausted_expr=exprs(rules, c.alert_budget_exhausted(slo.name), slo=slo.name)[0],
        no_data_exprs={r["labels"][c.LABEL_CAUSE]: r["expr"] for r in rules
                       if r["alert"] == c.ALERT_NO_DATA and r["labels"].get(c.LABEL_SLO) == slo.name},
        burn_now=series(c.CURRENT_BURN_RATE),
        budget_left=series(c.PERIOD_BUDGET_REMAINING),
        period_burn=series(c.PERIOD_BURN_RATE),
        ratio_history=series(c.sli_error_ratio(history)),
        history_window=history,
        min_bad_events=page_min_bad_events(service, slo),
        buckets=bucket_check(service, slo),
        history_start=series(c.SLI_HISTORY_START),
        breakdown=breakdown,
        breakdown_label=label,
        total=sli_queries(service, slo, "5m").total,
        exported=exported,
        old_names=old_names,
        processed=processed,
        failures=failures,
        bad_minute=bad_minute(service, slo) if slo.sli.time_based else None,
    )


def bucket_check(service: Service, slo: SLO) -> str | None:
    """Latency and freshness: the histogram's buckets, to see that the threshold is one of them."""
    metric = prometheus_rules.threshold_histogram(slo)
    return None if metric is None else f"count by (le) ({promql.selector(metric.bucket, service.selector)})"


def minutes_text(minutes: Fraction) -> str:
    text = f"{format_number(minutes)} min"
    hours = minutes / 60
    if minutes >= 120:
        text += f" ({format_number(hours)} h)" if (hours * 100).denominator == 1 else f" (about {float(hours):.1f} h)"
    return text


# Names older OTel instrumentations export, in milliseconds (docs/metrics.md, "Notes and traps").
OLD_METRIC_NAMES = {"http": "http_server_duration.*", "grpc": "rpc_server_duration.*"}


def metric_checks(service: Service, slo: SLO) -> tuple[str | None, str | None]:
    """Queries that tell whether the service exports the SLI's metric, or an old name of it."""
    if slo.sli.kind == "events":
        return None, None
    if slo.sli.time_based:
        return f"count({promql.selector(c.JOB_LAST_COMPLETION, service.selector)})", None
    if slo.sli.kind == "freshness":
        return f"count({promql.selector(c.MESSAGE_AGE.count, service.selector)})", None
    exported = f"count({promql.selector(c.REQUEST_METRICS[slo.sli.interface].count, service.selector)})"
    old = OLD_METRIC_NAMES.get(slo.sli.interface)
    old_query = f"count by (__name__) ({{{promql.matcher('__name__', old, '=~')},{service.selector}}})" if old else None
    return exported, old_query


def slo_breakdown(service: Service, slo: SLO) -> tuple[str, str | None]:
    """A query that shows where the bad events are, and the label it splits by."""
    sli = slo.sli
    if sli.kind == "events":
        return sli_queries(service, slo, "5m").errors, None
    if sli.time_based:  # one job, one state: the job view shows it
        return bad_minute(service, slo), None
    metric = c.MESSAGE_AGE if sli.kind == "freshness" else c.REQUEST_METRICS[sli.interface]
    label = BREAKDOWN_LABEL[sli.interface]
    count = lambda *m: promql.rate(promql.selector(metric.count, service.selector, *m), "5m")  # noqa: E731
    if sli.kind == "availability":
        failed = " or ".join(count(m) for m in metric.error_matchers)
        return f"sum by ({label}) ({failed})\n/\nsum by ({label}) ({count()})", label
    fast = promql.rate(promql.selector(metric.bucket, service.selector, le_matcher(sli.threshold_seconds)), "5m")
    return f"1 - (\n  sum by ({label}) ({fast})\n  /\n  sum by ({label}) ({count()})\n)", label


@dataclass(frozen=True)
class BlastView:
    hit: tuple[HitService, ...]  # sorted: those that fail first, then by name; links as Markdown targets
    fails: int
    degrades: int
    links: dict[str, str]  # fleet services this one depends on -> their overview, when it can be located


def blast_view(context: RenderContext) -> BlastView:
    """Who depends on this service, directly and transitively, from the fleet it was synced with."""
    hood = context.neighbourhood
    hit = tuple(replace(h, link=_target(h.link)) for h in hood.hit)
    return BlastView(hit, sum(h.fails for h in hit), sum(not h.fails for h in hit),
                     {target: _target(link) for target, link in hood.links})


def maintenance_windows(service: Service) -> list[str]:
    """Each planned maintenance window in words: `every Tuesday, Sunday 23:00-01:30 (ends the next day)`."""
    if service.maintenance is None:
        return []
    texts = []
    for window in service.maintenance.windows:
        when = f"on {window.date}" if window.date else "every " + ", ".join(d.capitalize() for d in window.days)
        span = "all day" if (window.start, window.end) == ("00:00", "24:00") else f"{window.start}–{window.end}"
        texts.append(f"{when} {span}" + (" (ends the next day)" if window.end <= window.start and window.end != "00:00" else ""))
    return texts


@dataclass(frozen=True)
class CeilingView:
    rows: tuple[tuple[str, str, str, str], ...]  # (dependencies, service, availability objective, its window), counted
    arithmetic: str  # the product, written out
    ceiling: str
    verdicts: tuple[tuple[str, str, bool], ...]  # (SLO, its objective, above the ceiling); none when nothing known bounds it
    unknown: tuple[tuple[str, str], ...]  # (dependencies, why no objective is known)
    fallbacks: tuple[str, ...]


def ceiling_view(context: RenderContext) -> CeilingView | None:
    """The availability ceiling its critical dependencies set (fleet.Ceiling), as the overview shows it."""
    ceiling = context.neighbourhood.ceiling
    if ceiling is None:
        return None
    return CeilingView(
        tuple((", ".join(b.dependencies), b.service, percent_text(b.objective.percent), b.objective.window) for b in ceiling.bounds),
        ceiling_arithmetic(ceiling, "×", "≈"), percent_text(ceiling.percent, "≈"),
        tuple((o.slo, percent_text(o.percent), o in ceiling.above) for o in ceiling.objectives if ceiling.bounds),
        tuple((", ".join(b.dependencies), b.unknown_because) for b in ceiling.unknown), ceiling.fallbacks)


def _target(link: str | None) -> str | None:
    return md_path_target(link) if link is not None else None


@dataclass(frozen=True)
class DependencyView:
    dependency: Dependency
    error_expr: str
    latency_expr: str
    failures: str  # failed calls per second, split by the labels that tell why
    calls: str  # all calls per second
    latency_threshold: str
    error_percent: str
    pages: bool  # pages while an SLO of the service pages (alerts.dependency_pages)


def dependency_view(service: Service, dependency: Dependency, rules: list[dict]) -> DependencyView:
    metric = c.DEPENDENCY_METRICS[dependency.kind]
    system = promql.matcher(*metric.system) if metric.system else ""
    count = lambda *m: promql.rate(  # noqa: E731
        promql.selector(metric.count, service.selector, promql.matcher(c.PEER_LABEL, dependency.name), system, *m), "5m")
    why = ", ".join(dict.fromkeys(re.findall(r'(\w+)(?:=~|!~|!=|=)"', " ".join(metric.error_matchers))))
    labels = {c.LABEL_DEPENDENCY: dependency.name, c.LABEL_SEVERITY: c.SEVERITY_TICKET}
    return DependencyView(
        dependency,
        exprs(rules, c.ALERT_DEPENDENCY_ERRORS, **labels)[0], exprs(rules, c.ALERT_DEPENDENCY_LATENCY, **labels)[0],
        f"sum by ({why}) ({' or '.join(count(m) for m in metric.error_matchers)})", f"sum({count()})",
        format_duration(dependency.latency_threshold_seconds), format_number(dependency.error_ratio_threshold * 100),
        dependency_pages(service, dependency),
    )


@dataclass(frozen=True)
class CapacityView:
    min_replicas: int
    max_replicas: int
    unit: str  # pod, task, ...
    target_utilization: int
    target_gpu_utilization: int | None
    arithmetic: tuple[str, ...]  # capacity.py's steps, one sentence each
    peak_replicas: int | None  # what the declared peak needs at the target utilisation
    scale_to: int  # the figure for "scale out": the peak's replicas, else the maximum, capped at raise_max_to
    capped: bool  # the peak needs more than scale_to: going further is the team's decision
    raise_max_to: int  # the figure for "raise the maximum" and the cap of a 2 AM scale-out: the maximum plus the headroom
    headroom_percent: str
    scale_to_cost_hour: str | None  # the GPUs of scale_to replicas, USD per hour, when priced
    extra_cost_hour: str | None  # their cost above the minimum's
    undeclared_for_peak: tuple[str, ...]  # traffic fields missing to size the peak
    baseline_rps: str | None
    peak_rps: str | None
    per_instance_rps: str | None  # at full load
    per_replica_rps: str | None  # at the target utilisation
    load: str  # what the declared traffic counts: requests, or messages for a queue consumer
    backlog_per_replica: int | None  # queue consumers scaled on their broker's backlog
    backlog_arithmetic: tuple[str, ...]


def capacity_view(service: Service) -> CapacityView | None:
    """None for cron jobs: one pod per run, nothing to scale."""
    if service.is_cron_job:
        return None
    plan = plan_capacity(service)
    traffic = service.traffic
    rps = lambda value: None if value is None else format_number(to_fraction(value))  # noqa: E731
    backlog = plan_backlog(service, plan) if terraform_autoscaling.queue_brokers(service) else None
    peak = None
    if traffic.peak_rps is not None and traffic.per_instance_rps is not None:
        peak = replicas_for(to_fraction(traffic.peak_rps), to_fraction(traffic.per_instance_rps), plan.target_utilization_percent)
    # A 2 AM scale-out goes to what the peak needs, never past the maximum plus the headroom: more is
    # the team's decision, with its cost in view.
    wanted, cap = max(peak or plan.max_replicas, plan.min_replicas), with_headroom(plan.max_replicas)

    def hourly(replicas: int) -> str | None:
        month = monthly_gpu_cost(service, replicas)
        return None if month is None else format_number(month / HOURS_PER_MONTH)

    return CapacityView(
        min_replicas=plan.min_replicas,
        max_replicas=plan.max_replicas,
        unit=plan.unit,
        target_utilization=plan.target_utilization_percent,
        target_gpu_utilization=plan.target_gpu_utilization_percent,
        arithmetic=plan.arithmetic,
        peak_replicas=peak,
        scale_to=min(wanted, cap),
        capped=wanted > cap,
        raise_max_to=cap,
        headroom_percent=format_number(HEADROOM * 100),
        scale_to_cost_hour=hourly(min(wanted, cap)),
        extra_cost_hour=hourly(min(wanted, cap) - plan.min_replicas),
        undeclared_for_peak=tuple(f"traffic.{name}" for name in ("peak_rps", "per_instance_rps") if getattr(traffic, name) is None),
        baseline_rps=rps(traffic.baseline_rps),
        peak_rps=rps(traffic.peak_rps),
        per_instance_rps=rps(traffic.per_instance_rps),
        per_replica_rps=rps(plan.per_replica_rps),
        load=EVENT_NOUNS["queue-consumer"] if default_request_interface(service.interfaces) == "queue-consumer" else "requests",
        backlog_per_replica=backlog.per_replica if backlog else None,
        backlog_arithmetic=backlog.arithmetic if backlog else (),
    )


@dataclass(frozen=True)
class ReplicaCost:
    replicas: int
    hour: str  # USD
    month: str
    budget_percent: str | None  # of cost.monthly_budget_usd
    over_budget: bool


@dataclass(frozen=True)
class CostView:
    monthly_budget: str | None
    gpu_hour: str | None = None  # one GPU
    replica_hour: str | None = None  # the GPUs of one replica
    at_min: ReplicaCost | None = None  # the GPUs of the minimum replicas; None for cron jobs
    at_max: ReplicaCost | None = None


def cost_view(service: Service) -> CostView:
    """GPU cost: hourly_cost_usd x GPUs per replica, per hour and per month (HOURS_PER_MONTH) at the
    minimum and maximum replicas, against the monthly budget when there is one."""
    budget = to_fraction(service.monthly_budget_usd) if service.monthly_budget_usd is not None else None
    monthly = format_number(budget) if budget is not None else None
    gpu = service.gpu
    if gpu is None or gpu.hourly_cost_usd is None:
        return CostView(monthly)
    per_replica = to_fraction(gpu.hourly_cost_usd) * gpu.count

    def at(replicas: int) -> ReplicaCost:
        month = monthly_gpu_cost(service, replicas)
        share = format_number(month / budget * 100) if budget else None
        return ReplicaCost(replicas, format_number(per_replica * replicas), format_number(month), share,
                           budget is not None and month > budget)

    plan = None if service.is_cron_job else plan_capacity(service)
    return CostView(monthly, format_number(to_fraction(gpu.hourly_cost_usd)), format_number(per_replica),
                    at(plan.min_replicas) if plan else None, at(plan.max_replicas) if plan else None)


@dataclass(frozen=True)
class JobView:
    """What the cron job pushed to the Pushgateway, as queries for the job pages."""

    last_success_age: str  # seconds since the last success
    last_run_age: str  # seconds since the last run ended, whatever the outcome
    latest_failed: str  # 1 when the latest run failed
    duration: str  # seconds the latest run took
    pushed: str  # seconds since the job's last push reached the Pushgateway
    success_metric: str = c.JOB_LAST_SUCCESS


def job_view(service: Service) -> JobView | None:
    if not any(i.kind == "cron" for i in service.interfaces):
        return None
    success = f"max({promql.selector(c.JOB_LAST_SUCCESS, service.selector)})"
    completion = f"max({promql.selector(c.JOB_LAST_COMPLETION, service.selector)})"
    return JobView(
        last_success_age=f"time() - {success}",
        last_run_age=f"time() - {completion}",
        latest_failed=f"{completion} > bool {promql.zero_when_absent(success, completion)}",
        duration=f"max({promql.selector(c.JOB_LAST_DURATION, service.selector)})",
        pushed=f"time() - max({promql.selector(c.JOB_PUSH_TIME, service.selector)})",
    )


@dataclass(frozen=True)
class Series:
    name: str  # as Prometheus stores it: <name>_bucket, _count, _sum
    otel_name: str
    labels: tuple[str, ...]
    boundaries: str  # seconds, comma-separated


@dataclass(frozen=True)
class InstrumentationView:
    """What the service must emit. With a stub, where it is; without one, the whole contract."""

    language: str
    language_name: str  # as people write it: Node.js
    stub: str | None  # the stub's path in the kit (ops/otel/...), when opgen writes one
    stub_link: str | None  # and from the overview page
    series: tuple[Series, ...]
    calls: tuple[tuple[str, str, str], ...]  # (dependency, series, the labels that select its calls)
    job_gauges: tuple[tuple[str, str], ...]  # (gauge, what it holds)
    resource: tuple[tuple[str, str], ...]  # target_info's labels
    java_environment: str | None  # the OpenTelemetry Java agent's settings that emit the scraped part
    java_views: str | None  # its view file: the contract's bucket boundaries


JAVA_VIEWS_FILE = "/etc/otel/{service}-views.yaml"  # where the view file goes in the example settings
LANGUAGE_NAMES = {"python": "Python", "go": "Go", "node": "Node.js", "java": "Java"}  # as people write them


def instrumentation_view(service: Service) -> InstrumentationView:
    metrics = contract.service_contract(service)
    name = LANGUAGE_NAMES.get(service.language, service.language)
    if service.language in stub_languages():
        stub = c.telemetry_path(service.name, service.language)
        return InstrumentationView(service.language, name, f"{c.OPS_DIR}/{stub}", md_path_target("../../" + stub),
                                   (), (), (), (), None, None)
    series = tuple(Series(h.prometheus_name, h.otel_name, h.labels, ", ".join(format_number(b) for b in h.boundaries))
                   for h in metrics.histograms)
    calls = tuple((call.dependency.name, call.histogram.prometheus_name,  # the rules' matchers, less the service's selector
                   ", ".join(c.dependency_matchers("", call.dependency.name, call.dependency.kind)[1:]))
                  for call in metrics.dependency_calls if metrics.scraped)
    gauges = tuple((gauge, contract.JOB_GAUGE_HELP[gauge]) for gauge in metrics.job_gauges)
    resource = tuple((contract.label(key), value) for key, value in metrics.resource)
    java = service.language == "java" and metrics.scraped
    return InstrumentationView(
        service.language, name, None, None, series if metrics.scraped else (), calls, gauges, resource,
        java_environment(service, metrics) if java else None, java_views(metrics) if java else None)


def java_environment(service: Service, metrics: contract.Contract) -> str:
    """The OpenTelemetry Java agent's settings: its Prometheus exporter on the metrics port, the
    resource that becomes target_info, and the view file that sets the bucket boundaries."""
    attributes = ",".join(f"{key}={value}" for key, value in metrics.resource if key != "service.name")
    return "\n".join([
        f"OTEL_SERVICE_NAME={service.name}",
        f"OTEL_RESOURCE_ATTRIBUTES={attributes}",
        "OTEL_METRICS_EXPORTER=prometheus",
        f"OTEL_EXPORTER_PROMETHEUS_PORT={service.metrics_port}",
        f"OTEL_EXPERIMENTAL_METRICS_VIEW_CONFIG={JAVA_VIEWS_FILE.format(service=service.name)}",
    ])


def java_views(metrics: contract.Contract) -> str:
    """A view file of the Java SDK's incubator (loaded by the agent): each histogram's boundaries."""
    import io

    from ruamel.yaml import YAML

    views = [{"selector": {"instrument_name": h.otel_name},
              "view": {"aggregation": "explicit_bucket_histogram",
                       "aggregation_args": {"bucket_boundaries": [float(b) for b in h.boundaries]}}}
             for h in metrics.histograms]
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None  # innermost collections on one line: a boundary list stays readable
    yaml.width = 4096
    text = io.StringIO()
    yaml.dump(views, text)
    return text.getvalue()


def dashboard_rows(service: Service):
    """A picker of the generated dashboard's rows, so pages name only panels that exist."""
    rows = {row: [p["title"] for p in panels] for row, panels in grafana_dashboard.rows(service)}
    known = grafana_dashboard.row_titles(service)

    def pick(wanted: list[str | tuple[str, str]]) -> list[tuple[str, list[str]]]:
        """The wanted rows that exist, with their panel titles; a (row, prefix) pair keeps the titles with that prefix."""
        picked = []
        for entry in wanted:
            row, prefix = (entry, "") if isinstance(entry, str) else entry
            if row not in known:
                raise ValueError(f"a runbook template names the dashboard row {row!r}, which no dashboard has")
            titles = [t for t in rows.get(row, []) if t.startswith(prefix)]
            if titles:
                picked.append((row, titles))
        return picked

    return pick
