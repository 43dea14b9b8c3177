"""ops/prometheus/<name>.rules.yml: SLI recordings, SLO metadata, burn-rate and no-data alerts.

Per SLO three groups, each evaluated in order (later rules see earlier results of the same
evaluation): the SLI recordings over the raw metrics (5m and every window up to 6h: events per
second, bad events per second, their ratio), the long windows built from the 5m recordings (every
LONG_WINDOW_INTERVAL), and the alerts with the current burn rate. One group for the service's
health, which also records the SLOs' objectives and error budgets.
Recorded series carry only `service` and `slo`; alerts add `team`, `tier` and `severity`.

With opgen-settings.yaml `clusters` (Service.cluster_label), the same rules in two files
(evaluated_groups): <name>.cluster.rules.yml for each cluster's Prometheus (what reads raw series:
the recordings, the no-data, dependency and saturation alerts; the cluster label comes from its
external_labels) and <name>.global.rules.yml for the global ruler (long windows, the SLO and the
burn alerts, which page per cluster against the global budget: docs/alerts.md, "Many clusters").
"""

from __future__ import annotations

from fractions import Fraction

from opgen import conventions as c
from opgen import promql
from opgen.alerts import (
    burn_severity,
    dependency_pages,
    fast_pairs,
    has_dependency_alerts,
    is_scraped,
    page_min_bad_events,
    vanishing_is_a_fault,
)
from opgen.descriptor.model import SLO, Dependency, Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.yaml_output import dump_yaml
from opgen.slo.durations import format_duration
from opgen.slo.maintenance_mask import in_maintenance, longest_pause, wall_clock
from opgen.slo.numbers import format_number
from opgen.slo.sli import bad_events_in_window, le_matcher, sli_queries
from opgen.slo.windows import (
    EXHAUSTED_FOR,
    RAW_WINDOW_LIMIT,
    SHORT_WINDOW,
    WindowPair,
    budget_lasts,
    burn_rate_threshold,
    long_windows,
    raw_windows,
    window_pairs,
)

MAX_RULES_PER_GROUP = 20  # mixtool lint, and the Mimir ruler's default

# The long windows (a day and more, summed from the 5m recordings) move by at most 1/576 of a
# 1d window in 2m30s: evaluated that often, not at every evaluation, they cost a fraction of the
# CPU (docs/performance.md, "Rule evaluation") and the ticket alerts that read them fire at most
# 2m30s later. Below Prometheus's 5m lookback, so an instant query never finds them stale.
LONG_WINDOW_INTERVAL = "2m30s"
LONG_WINDOWS_PART = "long-windows"


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    if service.cluster_label is None:
        text = dump_yaml({"groups": rule_groups(service)}, generated_header(context))
        return [Artifact(c.rules_path(service.name), text)]
    return [Artifact(c.rules_path(service.name, evaluation),
                     dump_yaml({"groups": groups}, generated_header(context) + evaluated_by(service, evaluation)))
            for evaluation, groups in evaluated_groups(service).items()]


def evaluated_by(service: Service, evaluation: str) -> str:
    """The header line that says where a rule file of a service in clusters is loaded."""
    if evaluation == c.EVALUATION_CLUSTER:
        return (f"# Load into each cluster's Prometheus, whose external_labels set `{service.cluster_label}`"
                f" (docs/alerts.md, \"Many clusters\").\n")
    return "# Load into the global ruler (Thanos ruler, Mimir), which reads every cluster's recordings.\n"


def rule_groups(service: Service) -> list[dict]:
    """The service's rule groups as data: the plain rule file's content, and what the other rule
    formats (render/rule_formats.py) wrap. With clusters, the groups of both files."""
    if service.cluster_label is not None:
        return [group for groups in evaluated_groups(service).values() for group in groups]
    groups = []
    for slo in service.slos:
        groups.append({"name": c.rule_group(service.name, slo.name, "recordings"), "rules": recording_rules(service, slo)})
        groups.append({"name": c.rule_group(service.name, slo.name, LONG_WINDOWS_PART), "interval": LONG_WINDOW_INTERVAL,
                       "rules": budget_rules(service, slo)})
        groups.append({"name": c.rule_group(service.name, slo.name, "alerts"),
                       "rules": [current_burn_rate_rule(service, slo)] + slo_alerts(service, slo)})
    groups += chunked(c.rule_group(service.name, None, "health"), slo_constants(service) + health_alerts(service))
    if has_dependency_alerts(service):
        groups += chunked(c.rule_group(service.name, None, "dependencies"), dependency_alerts(service))
    groups.append({"name": c.rule_group(service.name, None, "saturation"), "rules": saturation_alerts(service)})
    return groups


def evaluated_groups(service: Service) -> dict[str, list[dict]]:
    """The groups of a service in clusters, by who evaluates them: each cluster's Prometheus what
    reads raw series (so raw series never leave the cluster), the global ruler what reads the
    recordings of every cluster. The constants are global: one series per SLO, not per cluster."""
    local, everywhere = [], []
    for slo in service.slos:
        local.append({"name": c.rule_group(service.name, slo.name, "recordings"), "rules": recording_rules(service, slo)})
        everywhere.append({"name": c.rule_group(service.name, slo.name, LONG_WINDOWS_PART), "interval": LONG_WINDOW_INTERVAL,
                           "rules": budget_rules(service, slo)})
        everywhere.append({"name": c.rule_group(service.name, slo.name, "alerts"),
                           "rules": [current_burn_rate_rule(service, slo)] + slo_alerts(service, slo)})
    everywhere += chunked(c.rule_group(service.name, None, "objectives"), slo_constants(service))
    local += chunked(c.rule_group(service.name, None, "health"), health_alerts(service))
    if has_dependency_alerts(service):
        local += chunked(c.rule_group(service.name, None, "dependencies"), dependency_alerts(service))
    local.append({"name": c.rule_group(service.name, None, "saturation"), "rules": saturation_alerts(service)})
    return {c.EVALUATION_CLUSTER: local, c.EVALUATION_GLOBAL: everywhere}


def chunked(name: str, rules: list[dict]) -> list[dict]:
    """`rules` in groups of at most MAX_RULES_PER_GROUP: name, name-2, name-3, ..."""
    size = MAX_RULES_PER_GROUP
    return [{"name": name if i == 0 else f"{name}-{i // size + 1}", "rules": rules[i:i + size]} for i in range(0, len(rules), size)]


def slo_labels(service: Service, slo: SLO) -> dict[str, str]:
    """The labels of an SLO's alerts (routing reads team and tier)."""
    return {c.LABEL_SERVICE: service.name, c.LABEL_SLO: slo.name, c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier)}


def recording_labels(service: Service, slo: SLO) -> dict[str, str]:
    """The labels of an SLO's recorded series: what only a rename of the service or SLO changes."""
    return dict(zip(c.RECORDING_LABELS, (service.name, slo.name)))


def slo_series(metric: str, service: Service, slo: SLO) -> str:
    """A recorded series of this SLO: metric{service="…",slo="…"}."""
    return promql.slo_series(metric, service.name, slo.name)


# Matching between recorded series: history recorded with more labels (team and tier, by an
# older opgen) still pairs with what the rules record now.
ON_SLO = f"on({', '.join(c.RECORDING_LABELS)})"


def on_slo(service: Service) -> str:
    """ON_SLO, and with clusters the cluster too: a cluster's windows pair with its own."""
    return f"on({', '.join((*c.RECORDING_LABELS, service.cluster_label))})" if service.cluster_label else ON_SLO


def by_cluster(service: Service, window: Fraction, slo: SLO) -> str:
    """How a long window sums its 5m recordings: over everything (the SLO window is the SLO, global),
    or per cluster for the shorter ones, which the ticket pairs of a cluster read."""
    return f"sum by ({service.cluster_label}) " if service.cluster_label and window != slo.window_seconds else "sum"


def history_series(metric: str, service: Service, slo: SLO) -> str:
    """A recorded series of this SLO under its name and every previous one (a renamed SLO keeps its history)."""
    if not slo.previous_names:
        return slo_series(metric, service, slo)
    return promql.selector(metric, promql.matcher(c.LABEL_SERVICE, service.name), promql.matcher(c.LABEL_SLO, "|".join(slo.names), "=~"))


def recording_rules(service: Service, slo: SLO) -> list[dict]:
    """For the 5m window and every raw window: events per second, bad events per second (reading
    the recorded events, not the total metric again), and their ratio."""
    labels = recording_labels(service, slo)
    rules = maintenance_rules(service, slo)
    for window in raw_windows(slo.window_seconds):
        text = format_duration(window)
        requests, errors = slo_series(c.sli_requests_rate(text), service, slo), slo_series(c.sli_errors_rate(text), service, slo)
        queries = sli_queries(service, slo, text, recorded_total=f"sum({requests})")
        total, bad = queries.total, queries.errors
        if rules and window == SHORT_WINDOW:  # what the long windows and the budget sum pauses in maintenance
            total, bad = (f"(\n{indent(query)}\n)\nunless on()\n{maintenance_on(service, slo)}" for query in (total, bad))
        rules += [
            {"record": c.sli_requests_rate(text), "expr": total, "labels": labels},
            {"record": c.sli_errors_rate(text), "expr": bad, "labels": labels},
            {"record": c.sli_error_ratio(text), "expr": ratio(errors, requests), "labels": labels},
        ]
    return rules


def indent(query: str) -> str:
    return "\n".join(f"  {line}" for line in query.splitlines())


def maintenance_on(service: Service, slo: SLO) -> str:
    """The series that is 1 while the SLO's maintenance mask is on (maintenance_rules)."""
    return slo_series(c.MAINTENANCE_ACTIVE, service, slo)


def excludes_maintenance(service: Service, slo: SLO) -> bool:
    """Whether the SLO's 5m recordings pause in the service's maintenance windows."""
    return slo.maintenance_excluded and service.maintenance is not None


def maintenance_rules(service: Service, slo: SLO) -> list[dict]:
    """For an SLO that leaves maintenance out: the maintenance's wall clock and whether a window is
    on, first in its recordings group, so the 5m recordings after them read this evaluation's mask
    (slo/maintenance_mask.py). None otherwise."""
    if not excludes_maintenance(service, slo):
        return []
    labels = recording_labels(service, slo)
    clock = slo_series(c.MAINTENANCE_WALL_CLOCK, service, slo)
    return [{"record": c.MAINTENANCE_WALL_CLOCK, "expr": wall_clock(service.maintenance.time_zone), "labels": labels},
            {"record": c.MAINTENANCE_ACTIVE, "expr": in_maintenance(service.maintenance, clock), "labels": labels}]


RATIO_RESOLUTION = "1e-12"


def ratio(bad: str, total: str) -> str:
    """bad / total, to 12 decimals: subtracting rates (a latency SLI's all minus fast) leaves float
    noise, and a burn rate of exactly 1 must not read as 1.0000000000000071 and tip a threshold of 1."""
    return f"round(\n  {bad}\n  /\n  {total},\n  {RATIO_RESOLUTION}\n)"


def coverage(service: Service, slo: SLO, window: Fraction) -> str:
    """The share of `window` the 5m recordings cover (0 to 1). Before that, history is unknown and
    counts as good: a long window right after the rules were loaded says nothing about the rest of it."""
    start = slo_series(c.SLI_HISTORY_START, service, slo)
    return f"clamp_max((time() - {start}) / {format_number(window)}, 1)"


def budget_rules(service: Service, slo: SLO) -> list[dict]:
    """Long windows (request-weighted sums of the 5m recordings, summed over every label set and
    previous name they were recorded under), when the recordings began, and the SLO window's burn
    rate and remaining budget: the rules evaluated every LONG_WINDOW_INTERVAL (the constants are
    slo_constants, one rule per service)."""
    labels = recording_labels(service, slo)
    rules = []
    for window in long_windows(slo.window_seconds):
        text = format_duration(window)
        # Request-weighted: total bad events over total events. A mean of 5m ratios would weigh a
        # quiet night's single failure like a busy hour's.
        total = by_cluster(service, window, slo)
        errors = f"{total}(sum_over_time({history_series(c.SLI_ERRORS_RATE5M, service, slo)}[{text}]))"
        requests = f"{total}(sum_over_time({history_series(c.SLI_REQUESTS_RATE5M, service, slo)}[{text}]))"
        rules.append({"record": c.sli_error_ratio(text), "expr": ratio(errors, requests), "labels": labels})
    # Latched: the earliest start recorded over the SLO window, else the first 5m recording now.
    # Over the whole window, it survives a Prometheus restart, and recordings backfilled with
    # `promtool tsdb create-blocks-from rules` move it back to where they begin.
    start = history_series(c.SLI_HISTORY_START, service, slo)
    rules.append({"record": c.SLI_HISTORY_START, "expr": (
        f"min(min_over_time({start}[{slo.window}]))\nor\nmin(timestamp({history_series(c.SLI_REQUESTS_RATE5M, service, slo)}))"),
        "labels": labels})
    budget = format_number(slo.error_budget)
    rules += [
        {"record": c.PERIOD_BURN_RATE, "expr": (
            f"{slo_series(c.sli_error_ratio(slo.window), service, slo)} / {budget}\n* {coverage(service, slo, slo.window_seconds)}"),
         "labels": labels},
        {"record": c.PERIOD_BUDGET_REMAINING, "expr": f"1 - {slo_series(c.PERIOD_BURN_RATE, service, slo)}", "labels": labels},
    ]
    return rules


def slo_constants(service: Service) -> list[dict]:
    """The objective and error budget of every SLO, one rule each per service rather than per SLO
    (a ruler counts rules: a Mimir tenant's groups fill up): each writes one series per SLO, with
    the same labels as the other recordings, so dashboards read `slo:objective:ratio{service,slo}`
    as before."""
    def per_slo(value) -> str:
        return "\nor\n".join(f"label_replace(vector({format_number(value(slo))}), {promql.quote(c.LABEL_SLO)}, "
                               f"{promql.quote(slo.name)}, \"\", \"\")" for slo in service.slos)

    if not service.slos:
        return []
    return [{"record": c.OBJECTIVE, "expr": per_slo(lambda slo: slo.objective), "labels": {c.LABEL_SERVICE: service.name}},
            {"record": c.ERROR_BUDGET, "expr": per_slo(lambda slo: slo.error_budget), "labels": {c.LABEL_SERVICE: service.name}}]


def current_burn_rate_rule(service: Service, slo: SLO) -> dict:
    """The burn rate over the last 5 minutes, at every evaluation, beside the alerts."""
    short = slo_series(c.sli_error_ratio(format_duration(SHORT_WINDOW)), service, slo)
    return {"record": c.CURRENT_BURN_RATE, "expr": f"{short} / {format_number(slo.error_budget)}",
            "labels": recording_labels(service, slo)}


# Go templates that Prometheus expands in annotations; the generated unit tests pass the values
# they expect instead, so rules and tests share one text.
BURN_RATE_VALUE = '{{ $value | printf "%.1f" }}'
SPENT_SHARE_VALUE = "{{ $value | humanizePercentage }}"


def slo_alerts(service: Service, slo: SLO) -> list[dict]:
    rules = [burn_rate_alert(service, slo, pair) for pair in window_pairs(slo.window_seconds)]
    alert = c.alert_budget_exhausted(slo.name)
    rules.append({
        "alert": alert,
        "expr": f"{slo_series(c.PERIOD_BURN_RATE, service, slo)} > 1",
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


def burn_condition(service: Service, slo: SLO, pair: WindowPair) -> str:
    """Both windows above the threshold; a long window built from the recordings counts the time
    before they began as good; a fast pair needs its floor of bad events (page_min_bad_events)."""
    threshold = format_number(burn_rate_threshold(pair, slo.window_seconds))
    budget = format_number(slo.error_budget)
    long_burn = f"{slo_series(c.sli_error_ratio(pair.long_text), service, slo)} / {budget}"
    if pair.long > RAW_WINDOW_LIMIT:  # with clusters, the history start is global: each cluster's window takes it
        group = f" {ON_SLO} group_left()" if service.cluster_label else ""
        long_burn += f"\n*{group} {coverage(service, slo, pair.long)}"
    parts = [f"{long_burn}\n> {threshold}", f"{slo_series(c.sli_error_ratio(pair.short_text), service, slo)} / {budget} > {threshold}"]
    floor = page_min_bad_events(service, slo)
    if floor is not None and pair in fast_pairs(slo):
        parts.append(f"{bad_events_in_window(slo, slo_series(c.sli_errors_rate(pair.long_text), service, slo), pair.long)} >= {floor}")
    return f"\nand {on_slo(service)}\n".join(parts)


def burn_rate_alert(service: Service, slo: SLO, pair: WindowPair) -> dict:
    budget = format_number(slo.error_budget)
    long_ratio = slo_series(c.sli_error_ratio(pair.long_text), service, slo)
    remaining = slo_series(c.PERIOD_BUDGET_REMAINING, service, slo)
    if service.cluster_label:  # the global budget left, at the burning cluster's rate
        long_ratio = promql.selector(c.sli_error_ratio(pair.long_text), promql.matcher(c.LABEL_SERVICE, service.name),
                                     promql.matcher(c.LABEL_SLO, slo.name), promql.matcher(service.cluster_label, "%s"))
    seconds_left = f"clamp_min({remaining}, 0) * {format_number(slo.window_seconds)} / {ON_SLO} ({long_ratio} / {budget})"
    query = (f"printf `{seconds_left}` $labels.{service.cluster_label} | query" if service.cluster_label
             else f"query `{seconds_left}`")
    time_left = (
        f"{{{{ with {query} }}}}{{{{ . | first | value | humanizeDuration }}}}"
        "{{ else }}an unknown time{{ end }}"
    )
    return {
        "alert": c.alert_budget_burn(slo.name),
        "expr": burn_condition(service, slo, pair),
        "for": format_duration(pair.for_seconds),
        "labels": burn_rate_labels(service, slo, pair),
        "annotations": burn_rate_annotations(service, slo, pair, BURN_RATE_VALUE, time_left),
    }


def burn_rate_labels(service: Service, slo: SLO, pair: WindowPair) -> dict[str, str]:
    return {
        **slo_labels(service, slo),
        c.LABEL_SEVERITY: burn_severity(slo, pair),
        c.LABEL_LONG_WINDOW: pair.long_text,
        c.LABEL_SHORT_WINDOW: pair.short_text,
    }


def burn_rate_annotations(service: Service, slo: SLO, pair: WindowPair, burn_rate: str, time_left: str,
                          cluster: str | None = None) -> dict[str, str]:
    """`cluster`: what the alert's cluster label expands to (default: the template that expands it)."""
    threshold = format_number(burn_rate_threshold(pair, slo.window_seconds))
    lasts = format_duration(budget_lasts(pair, slo.window_seconds))
    where = ""
    if service.cluster_label:
        where = f" in {service.cluster_label} " + (f"{{{{ $labels.{service.cluster_label} }}}}" if cluster is None else cluster)
    return annotations(
        service, c.alert_budget_burn(slo.name),
        summary=f"{service.name} is burning the error budget of its {slo.name} SLO too fast{where}.",
        description=(
            f"The {slo.name} SLO ({format_number(slo.objective_percent)}% over {slo.window}) is burning its "
            f"error budget {burn_rate} times faster than sustainable over the last {pair.long_text}, and "
            f"is still above the threshold of {threshold} over the last {pair.short_text} (at {threshold} times, "
            f"the whole {slo.window} budget lasts {lasts}). At this rate the remaining budget is gone in {time_left}."
        ),
    )


def health_alerts(service: Service) -> list[dict]:
    """SLONoData: scraped targets down (page); per SLO, SLI series that had events in the last day
    and vanished (page, if the SLO pages), or that are missing without such history, a fresh or idle
    service (ticket); and a latency or freshness threshold with no bucket (ticket). A service that
    is not scraped (Lambda, cron jobs) has no `up`: there, missing SLI data is the only sign."""
    up = promql.selector(c.TARGET_UP_METRIC, service.selector)
    rules = []
    if is_scraped(service):
        scraped_lately = f"count(present_over_time({up}[{NO_DATA_HISTORY}]))"  # a target existed: it did not just never come
        rules.append({
            "alert": c.ALERT_NO_DATA,
            "expr": f"max({up}) == 0\nor\n(sum(absent({up})) and on() {scraped_lately})",
            "for": "5m",
            "labels": no_data_labels(service, NO_DATA_TARGETS_DOWN),
            "annotations": no_data_annotations(service, NO_DATA_TARGETS_DOWN),
        })
        rules.append({
            "alert": c.ALERT_NO_DATA,
            "expr": f"sum(absent({up}))\nunless on()\n{scraped_lately}",
            "for": "15m",
            "labels": no_data_labels(service, NO_DATA_TARGETS_MISSING),
            "annotations": no_data_annotations(service, NO_DATA_TARGETS_MISSING),
        })
    for slo in service.slos:
        requests = slo_series(c.SLI_REQUESTS_RATE5M, service, slo)
        scraped = f"\nand on()\nmax({up}) == 1" if is_scraped(service) else ""
        had_events = f"max(max_over_time({requests}[{no_data_history(service, slo)}])) > 0"
        metric = threshold_histogram(slo)
        bucket_missing = None
        if metric is not None:  # series without the threshold's bucket, which the SLI leaves out
            count = promql.selector(metric.count, service.selector)
            bucket = promql.selector(metric.bucket, service.selector, le_matcher(slo.sli.threshold_seconds))
            bucket_missing = f"count(\n  {count}\n  unless ignoring(le)\n  {bucket}\n)"
        explained = f"\nunless on()\n{bucket_missing}" if bucket_missing else ""  # one cause, one alert
        if excludes_maintenance(service, slo):  # the 5m recordings pause in maintenance: not a fault
            explained += f"\nunless on()\n{maintenance_on(service, slo)}"
        for cause, link in ((NO_DATA_SLI_VANISHED, "and on()"), (NO_DATA_SLI_MISSING, "unless on()")):
            rules.append({
                "alert": c.ALERT_NO_DATA,
                "expr": f"sum(absent({requests}))\n{link}\n{had_events}{scraped}{explained}",
                "for": "15m",
                "labels": no_data_labels(service, cause, slo),
                "annotations": no_data_annotations(service, cause, slo),
            })
        if bucket_missing is not None:
            rules.append({
                "alert": c.ALERT_NO_DATA,
                "expr": bucket_missing,
                "for": "15m",
                "labels": no_data_labels(service, NO_DATA_BUCKET_MISSING, slo),
                "annotations": no_data_annotations(service, NO_DATA_BUCKET_MISSING, slo),
            })
    return rules


NO_DATA_TARGETS_DOWN = "targets-down"
NO_DATA_TARGETS_MISSING = "targets-missing"  # no target in the last day: not deployed yet, or never scraped
NO_DATA_SLI_VANISHED = "sli-metrics-vanished"
NO_DATA_SLI_MISSING = "sli-metrics-missing"
NO_DATA_BUCKET_MISSING = "threshold-bucket-missing"
NO_DATA_HISTORY = "1d"  # SLI series that had events this recently and are gone have vanished, not yet to come


def no_data_history(service: Service, slo: SLO) -> str:
    """NO_DATA_HISTORY, and for an SLO whose 5m recordings pause in maintenance the longest pause
    more: a service that does not come back from a long window has vanished, not yet to come."""
    if not excludes_maintenance(service, slo):
        return NO_DATA_HISTORY
    hours = -(-(86400 + longest_pause(service.maintenance)) // 3600)
    return format_duration(Fraction(hours * 3600))


def threshold_histogram(slo: SLO) -> c.DurationHistogram | None:
    """The histogram whose bucket at the threshold a latency or freshness SLI reads."""
    sli = slo.sli
    if sli.kind == "freshness":
        return c.MESSAGE_AGE
    return c.REQUEST_METRICS[sli.interface] if sli.kind == "latency" else None


def no_data_severity(cause: str, slo: SLO | None, service: Service | None = None) -> str:
    if cause == NO_DATA_TARGETS_DOWN or (cause == NO_DATA_SLI_VANISHED and slo.pages and vanishing_is_a_fault(service, slo)):
        return c.SEVERITY_PAGE
    return c.SEVERITY_TICKET


def no_data_labels(service: Service, cause: str, slo: SLO | None = None) -> dict[str, str]:
    labels = {c.LABEL_SERVICE: service.name, c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier)}
    if slo is not None:
        labels[c.LABEL_SLO] = slo.name
    return {**labels, c.LABEL_SEVERITY: no_data_severity(cause, slo, service), c.LABEL_CAUSE: cause}


def no_data_annotations(service: Service, cause: str, slo: SLO | None = None) -> dict[str, str]:
    if cause == NO_DATA_TARGETS_DOWN:
        return annotations(
            service, c.ALERT_NO_DATA,
            summary=f"Prometheus cannot scrape {service.name}, so its SLO alerts are blind.",
            description=(
                f"No target matching {{{service.selector}}} has been up for 5 minutes (or the targets scraped in the last "
                f"{NO_DATA_HISTORY} are gone). "
                f"Every SLO alert of {service.name} is silent while this lasts."
            ),
        )
    if cause == NO_DATA_TARGETS_MISSING:
        return annotations(
            service, c.ALERT_NO_DATA,
            summary=f"Prometheus has no target of {service.name}, and had none in the last {NO_DATA_HISTORY}.",
            description=(
                f"No target matches {{{service.selector}}} and none did in the last {NO_DATA_HISTORY}: the service is "
                f"not deployed yet, or Prometheus was never told to scrape it. Every SLO alert of {service.name} is "
                f"blind until it is scraped."
            ),
        )
    if cause == NO_DATA_BUCKET_MISSING:
        histogram = threshold_histogram(slo).histogram
        threshold = format_duration(slo.sli.threshold_seconds)
        return annotations(
            service, c.ALERT_NO_DATA,
            summary=f"The {slo.name} SLI of {service.name} has no histogram bucket at its threshold of {threshold}, so that SLO's alerts are blind.",
            description=(
                f"{histogram} has series with observations but no bucket with "
                f"le={format_number(slo.sli.threshold_seconds)}: the {slo.name} SLI cannot count what is slower than "
                f"{threshold} there, and leaves them out (it records nothing when no series has the bucket). Make {threshold} a bucket boundary of the service's histogram (and of "
                f"spec.prometheus.buckets), or use a threshold that is one."
            ),
        )
    blind = "so that SLO's alerts are blind"
    where = f"{service.name} is up but" if is_scraped(service) else f"for {service.name},"
    if cause == NO_DATA_SLI_VANISHED:
        return annotations(
            service, c.ALERT_NO_DATA,
            summary=f"The metrics of the {slo.name} SLO of {service.name} vanished, {blind}.",
            description=(
                f"The {slo.name} SLI counted events within the last {no_data_history(service, slo)} and has recorded nothing for "
                f"15 minutes, {where} its series are gone: the instrumentation is broken or renamed, or the query no "
                f"longer matches."
            ),
        )
    never = "the job has not pushed a result since it was deployed" if service.is_cron_job else \
        "the service has had no traffic since it started"
    return annotations(
        service, c.ALERT_NO_DATA,
        summary=f"The {slo.name} SLO of {service.name} has no metrics yet, {blind}.",
        description=(
            f"The {slo.name} SLI has recorded nothing for 15 minutes and counted no events in the last "
            f"{no_data_history(service, slo)}: most likely {never}. If traffic is flowing, the metrics are missing or renamed."
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
    """Per dependency, its error share and p99 latency against its thresholds: tickets. A critical
    dependency's alerts page instead while a burn page of the service is pending or firing: then it
    is the likely cause of that user pain, and the page names it (docs/alerts.md: let it hold back
    the SLO page in Alertmanager, so the pain is one page)."""
    rules = []
    slo_paging = slo_page_active(service)
    for dependency in service.dependencies:
        conditions = [
            (c.ALERT_DEPENDENCY_ERRORS, dependency_error_condition(service, dependency), DEPENDENCY_ERRORS_FOR,
             lambda severity: dependency_error_annotations(service, dependency, RATIO_VALUE, severity)),
            (c.ALERT_DEPENDENCY_LATENCY, dependency_latency_condition(service, dependency), DEPENDENCY_LATENCY_FOR,
             lambda severity: dependency_latency_annotations(service, dependency, SECONDS_VALUE, severity)),
        ]
        pages = dependency_pages(service, dependency)
        for alert, condition, hold, texts in conditions:
            rules.append({"alert": alert, "expr": f"{condition}\nunless on()\n{slo_paging}" if pages else condition,
                          "for": hold, "labels": dependency_labels(service, dependency, c.SEVERITY_TICKET),
                          "annotations": texts(c.SEVERITY_TICKET)})
            if pages:
                rules.append({"alert": alert, "expr": f"{condition}\nand on()\n{slo_paging}",
                              "for": DEPENDENCY_PAGE_FOR, "labels": dependency_labels(service, dependency, c.SEVERITY_PAGE),
                              "annotations": texts(c.SEVERITY_PAGE)})
    return rules


DEPENDENCY_PAGE_FOR = "2m"  # as the SLO pages it joins: they arrive together


def slo_page_active(service: Service) -> str:
    """Whether a page-severity burn alert of the service is pending or firing (from ALERTS)."""
    names = "|".join(c.alert_budget_burn(slo.name) for slo in service.slos if slo.pages)
    return (f'count({promql.selector("ALERTS", promql.matcher("alertname", names, "=~"), promql.matcher(c.LABEL_SERVICE, service.name), promql.matcher(c.LABEL_SEVERITY, c.SEVERITY_PAGE))})')


def dependency_error_condition(service: Service, dependency: Dependency) -> str:
    metric = c.DEPENDENCY_METRICS[dependency.kind]
    failed = " or ".join(promql.rate(dependency_series(service, dependency, "_count", m), "5m") for m in metric.error_matchers)
    total = promql.rate(dependency_series(service, dependency, "_count"), "5m")
    return f"sum({failed})\n/\nsum({total})\n> {format_number(dependency.error_ratio_threshold)}"


def dependency_latency_condition(service: Service, dependency: Dependency) -> str:
    p99 = f"histogram_quantile(0.99, sum by (le) ({promql.rate(dependency_series(service, dependency, '_bucket'), '5m')}))"
    return f"{p99}\n> {format_number(dependency.latency_threshold_seconds)}"


def dependency_labels(service: Service, dependency: Dependency, severity: str) -> dict[str, str]:
    return {
        c.LABEL_SERVICE: service.name, c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier),
        c.LABEL_SEVERITY: severity, c.LABEL_DEPENDENCY: dependency.name, c.LABEL_DEPENDENCY_KIND: dependency.kind,
    }


def _impact(service: Service, dependency: Dependency, severity: str) -> str:
    if severity == c.SEVERITY_PAGE:
        return (f"{dependency.name} is critical and {service.name} is burning its error budget fast: this is the likely "
                f"cause of the burn.")
    if dependency.critical:
        return f"{dependency.name} is critical: {service.name} fails when it fails, though its SLOs are not burning fast yet."
    return f"{dependency.name} is not critical: {service.name} should degrade, not fail."


def dependency_error_annotations(service: Service, dependency: Dependency, ratio: str, severity: str) -> dict[str, str]:
    threshold = format_number(dependency.error_ratio_threshold * 100)
    return annotations(
        service, c.ALERT_DEPENDENCY_ERRORS,
        summary=f"Calls from {service.name} to {dependency.name} fail too often.",
        description=(f"{ratio} of calls from {service.name} to {dependency.name} ({dependency.kind}) failed over the "
                     f"last 5 minutes (threshold {threshold}%). {_impact(service, dependency, severity)}"),
    )


def dependency_latency_annotations(service: Service, dependency: Dependency, seconds: str, severity: str) -> dict[str, str]:
    threshold = format_duration(dependency.latency_threshold_seconds)
    return annotations(
        service, c.ALERT_DEPENDENCY_LATENCY,
        summary=f"Calls from {service.name} to {dependency.name} are slow.",
        description=(f"The p99 latency of calls from {service.name} to {dependency.name} ({dependency.kind}) is {seconds} "
                     f"over the last 5 minutes (threshold {threshold}). {_impact(service, dependency, severity)}"),
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
