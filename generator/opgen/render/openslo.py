"""ops/slo/<name>.openslo.yaml: the SLOs and their burn-rate alerting as OpenSLO v1 documents.

They say what the Prometheus rules say, for SLO tools that import OpenSLO:

- one Service, and per SLO one SLO with its indicator inline, labelled like the rules
  (service, slo, team, tier);
- per SLO and window pair one AlertCondition (burn rate over the long window above the factor the
  rules use, for the rules' `for`) and one AlertPolicy that references it, since OpenSLO allows one
  condition per policy; the pair's short window has no OpenSLO field and is in the labels and the
  description. Budget exhaustion (period burn rate above 1) is a condition and a policy too;
- AlertNotificationTargets from metadata.oncall, where the Alertmanager config sends the alerts:
  pages to PagerDuty (to Slack when there is no PagerDuty), tickets to Slack; without on-call data,
  the default channel (conventions.DEFAULT_ALERT_CHANNEL). Every policy has a target: the OpenSLO
  spec makes notificationTargets required, and OpenSLO/go-sdk wants at least one.
- displayName is at most 63 characters (go-sdk's metadata rule): a long one gives way to a
  shorter form.

Indicators: availability, latency and freshness SLIs are the rules' counters without rate()
(counter: true), so a consumer takes increases over whatever window it needs; freshness reads the
message-age histogram as latency reads the duration histogram. Events SLIs are the descriptor's
PromQL with {{window}} set to 5m, exactly the rules' 5m recordings: values over the last 5m
(rates or increases), hence counter: false. Summed over a window they weigh events as the rules'
long windows do.

Time-based SLIs (job-success, job-on-time) budget by Timeslices, as OpenSLO v1 defines them: each
timeSliceWindow (1m, the rules' resolution) is good when its good-to-total ratio reaches
timeSliceTarget, and `target` is the share of good slices. Their indicator is the rules' SLI over
one slice (counter: false): bad is 1 in a minute in which the job is in a bad state and 0
otherwise, total is 1 in every minute with data. timeSliceTarget is 1, so a minute is good only
when nothing in it is bad, and the objective counts good minutes exactly as the rules do.
"""

from __future__ import annotations

import hashlib
import re
from fractions import Fraction

from opgen import conventions as c
from opgen import promql
from opgen.descriptor.model import SLI, SLO, Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.prometheus_rules import burn_rate_labels, exhausted_labels, slo_labels
from opgen.render.yaml_output import dump_yaml
from opgen.slo.durations import format_duration
from opgen.slo.numbers import format_number
from opgen.slo.sli import le_matcher, sli_queries
from opgen.alerts import burn_severity
from opgen.slo.windows import EXHAUSTED_FOR, SHORT_WINDOW, WindowPair, budget_lasts, burn_rate_threshold, window_pairs

API_VERSION = "openslo/v1"
NAME_LIMIT = 63  # RFC 1123 label
DISPLAY_NAME_LIMIT = 63  # OpenSLO/go-sdk, pkg/openslo/v1/objects.go: metadata.displayName StringMaxLength(63)
TARGET_PAGERDUTY, TARGET_SLACK, TARGET_DEFAULT = "pagerduty", "slack", "default"
ANNOTATION_PAGERDUTY = "opgen.dev/pagerduty-service-id"
ANNOTATION_SLACK = "opgen.dev/slack-channel"
ANNOTATION_MAINTENANCE = "opgen.dev/maintenance"  # "excluded": the SLI leaves the service's planned maintenance out


# --- names: RFC 1123 labels, unique per kind -------------------------------------------------


def object_name(*parts: str) -> str:
    """`parts` joined by '-'; a name over 63 characters keeps a hash of the whole, so it stays unique."""
    name = "-".join(parts)
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:NAME_LIMIT - 9].rstrip('-')}-{digest}"


def slo_name(service: Service, slo: SLO) -> str:
    return object_name(service.name, slo.name)


def indicator_name(service: Service, slo: SLO) -> str:
    return object_name(service.name, slo.name, "sli")


def burn_condition_name(service: Service, slo: SLO, pair: WindowPair) -> str:
    return object_name(service.name, slo.name, "burn", pair.long_text)  # long windows differ between pairs


def burn_policy_name(service: Service, slo: SLO, pair: WindowPair) -> str:
    return object_name(service.name, slo.name, pair.severity, pair.long_text)


def exhausted_condition_name(service: Service, slo: SLO) -> str:
    return object_name(service.name, slo.name, "exhausted")


def exhausted_policy_name(service: Service, slo: SLO) -> str:
    return object_name(service.name, slo.name, c.SEVERITY_TICKET, "exhausted")


def target_name(service: Service, target: str) -> str:
    return object_name(service.name, target)


def display_name(*candidates: str) -> str:
    """The first candidate that fits DISPLAY_NAME_LIMIT; the last one cut to fit when none does."""
    for text in candidates:
        if len(text) <= DISPLAY_NAME_LIMIT:
            return text
    return candidates[-1][:DISPLAY_NAME_LIMIT - 1] + "…"


# --- rendering ---------------------------------------------------------------------------------


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    documents = [service_document(service), *notification_targets(service)]
    for slo in service.slos:
        documents.append(slo_document(service, slo))
        for pair in window_pairs(slo.window_seconds):
            documents += burn_rate_alerting(service, slo, pair)
        documents += exhausted_alerting(service, slo)
    text = generated_header(context) + "".join("---\n" + dump_yaml(d) for d in documents)
    return [Artifact(c.openslo_path(service.name), text)]


def document(kind: str, metadata: dict, spec: dict) -> dict:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def service_document(service: Service) -> dict:
    labels = {c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier)}
    spec = {"description": service.description} if service.description else {}
    display = display_name(f"{service.name} ({service.team}, tier {service.tier})", service.name)
    return document("Service", {"name": service.name, "displayName": display, "labels": labels}, spec)


def slo_document(service: Service, slo: SLO) -> dict:
    objective = f"{format_number(slo.objective_percent)}% over {slo.window}"
    metadata = {"name": slo_name(service, slo), "displayName": display_name(f"{service.name} {slo.name}: {objective}",
                                                                          f"{slo.name}: {objective}"),
                "labels": slo_labels(service, slo)}
    description = slo.description
    if slo.maintenance_excluded and service.maintenance is not None:
        metadata["annotations"] = {ANNOTATION_MAINTENANCE: "excluded"}
        description = (f"{description} " if description else "") + (
            f"Planned maintenance ({service.maintenance.time_zone}; the runbook lists the windows) and the 5 minutes "
            "after each window are left out of the SLI.")
    spec = {"description": description} if description else {}
    policies = [burn_policy_name(service, slo, pair) for pair in window_pairs(slo.window_seconds)] + [exhausted_policy_name(service, slo)]
    spec |= {
        "service": service.name,
        "indicator": indicator(service, slo),
        "timeWindow": [{"duration": shorthand(slo.window_seconds), "isRolling": True}],
        "budgetingMethod": budgeting_method(slo),
        "objectives": [slo_objective(slo, objective)],
        "alertPolicies": [{"alertPolicyRef": name} for name in policies],
    }
    return document("SLO", metadata, spec)


def budgeting_method(slo: SLO) -> str:
    return "Timeslices" if slo.sli.time_based else "Occurrences"


def slo_objective(slo: SLO, shown: str) -> dict:
    objective = {"displayName": shown, "target": number(slo.objective)}
    if slo.sli.time_based:
        objective |= {"timeSliceTarget": 1, "timeSliceWindow": c.TIME_SLICE}
    return objective


def indicator(service: Service, slo: SLO) -> dict:
    def source(query: str) -> dict:
        return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}

    sli = slo.sli
    if sli.kind == "events":
        queries = sli_queries(service, slo, format_duration(SHORT_WINDOW))
        ratio = {"counter": False, "bad": source(queries.errors), "total": source(queries.total)}
        description = "The descriptor's queries with {{window}} set to 5m, as in the rules' 5m recordings: values over 5m, not counters."
    elif sli.time_based:
        queries = sli_queries(service, slo, c.TIME_SLICE)
        ratio = {"counter": False, "bad": source(queries.errors), "total": source(queries.total)}
        description = (f"Minutes in which {bad_minute_text(sli)}, from the gauges the job pushes to the Pushgateway: "
                       f"the rules' SLI over one {c.TIME_SLICE} time slice, bad 1 in a bad minute and 0 in a good one, "
                       "total 1 in every minute with data (none before the job's first run).")
    else:
        metric = c.MESSAGE_AGE if sli.kind == "freshness" else c.REQUEST_METRICS[sli.interface]
        total = promql.sum_of(promql.selector(metric.count, service.selector))
        if sli.kind == "availability":
            failed = " or ".join(promql.selector(metric.count, service.selector, m) for m in metric.error_matchers)
            ratio = {"counter": True, "bad": source(promql.zero_when_absent(promql.sum_of(failed), total))}
            description = f"Failed events of {metric.histogram} over all its events."
        else:
            # No zero when the bucket is missing: a threshold that is not a boundary has no data, not 100 % bad.
            good = promql.sum_of(promql.selector(metric.bucket, service.selector, le_matcher(sli.threshold_seconds)))
            ratio = {"counter": True, "good": source(good)}
            description = f"Events of {metric.histogram} within {format_duration(sli.threshold_seconds)} over all its events."
        ratio["total"] = source(total)
    return {"metadata": {"name": indicator_name(service, slo)}, "spec": {"description": description, "ratioMetric": ratio}}


def bad_minute_text(sli: SLI) -> str:
    """What makes a minute bad (slo/sli.py: bad_minute), in words."""
    if sli.kind == "job-on-time":
        return f"the job's last success was older than {format_duration(sli.threshold_seconds)}"
    return "the job's latest run had failed"


def burn_rate_alerting(service: Service, slo: SLO, pair: WindowPair) -> list[dict]:
    factor = burn_rate_threshold(pair, slo.window_seconds)
    lasts = format_duration(budget_lasts(pair, slo.window_seconds))
    condition = burn_condition_name(service, slo, pair)
    severity = burn_severity(slo, pair)
    description = (
        f"Burn rate of the {slo.name} SLO above {format_number(factor)} over {pair.long_text} (and over "
        f"{pair.short_text}, which the Prometheus rules check too): at {format_number(factor)} times the "
        f"sustainable rate, the whole {slo.window} error budget lasts {lasts}."
    )
    return [
        alert_condition(condition, burn_rate_labels(service, slo, pair), description, severity,
                        op="gt", threshold=factor, lookback=pair.long, alert_after=pair.for_seconds),
        alert_policy(service, burn_policy_name(service, slo, pair), condition, severity,
                     f"when the {slo.name} SLO burns its {slo.window} error budget faster than it would last {lasts}, over {pair.long_text}."),
    ]


def exhausted_alerting(service: Service, slo: SLO) -> list[dict]:
    condition = exhausted_condition_name(service, slo)
    description = f"Burn rate of the {slo.name} SLO over {slo.window} above 1: more than its whole {slo.window} error budget is spent."
    return [
        alert_condition(condition, exhausted_labels(service, slo), description, c.SEVERITY_TICKET,
                        op="gt", threshold=Fraction(1), lookback=slo.window_seconds, alert_after=EXHAUSTED_FOR),
        alert_policy(service, exhausted_policy_name(service, slo), condition, c.SEVERITY_TICKET,
                     f"when the {slo.name} SLO has spent its whole {slo.window} error budget."),
    ]


def alert_condition(name: str, labels: dict, description: str, severity: str, *,
                    op: str, threshold: Fraction, lookback: Fraction, alert_after: Fraction) -> dict:
    condition = {"kind": "burnrate", "op": op, "threshold": number(threshold),
                 "lookbackWindow": shorthand(lookback), "alertAfter": shorthand(alert_after)}
    return document("AlertCondition", {"name": name, "labels": labels},
                    {"description": description, "severity": severity, "condition": condition})


def alert_policy(service: Service, name: str, condition: str, severity: str, when: str) -> dict:
    verb = "Pages" if severity == c.SEVERITY_PAGE else "Opens a ticket"
    return document("AlertPolicy", {"name": name}, {
        "description": f"{verb} {when}",
        "alertWhenBreaching": True,
        "alertWhenResolved": False,
        # The rules page when an SLO's metrics go missing (SLONoData); tickets stay quiet.
        "alertWhenNoData": severity == c.SEVERITY_PAGE,
        "conditions": [{"conditionRef": condition}],
        "notificationTargets": [{"targetRef": target_name(service, t)} for t in policy_targets(service, severity)],
    })


def policy_targets(service: Service, severity: str) -> list[str]:
    """Where the Alertmanager config sends this severity for a service of its own (render/alertmanager_routes.py)."""
    if severity == c.SEVERITY_PAGE and service.pagerduty_service_id:
        return [TARGET_PAGERDUTY]
    return [TARGET_SLACK if service.slack else TARGET_DEFAULT]


def notification_targets(service: Service) -> list[dict]:
    used = {t for slo in service.slos for severity in (c.SEVERITY_PAGE, c.SEVERITY_TICKET) for t in policy_targets(service, severity)}
    documents = []
    if TARGET_PAGERDUTY in used:
        documents.append(document(
            "AlertNotificationTarget",
            {"name": target_name(service, TARGET_PAGERDUTY), "annotations": {ANNOTATION_PAGERDUTY: service.pagerduty_service_id}},
            {"target": TARGET_PAGERDUTY, "description": f"PagerDuty service {service.pagerduty_service_id}."},
        ))
    if TARGET_SLACK in used:
        documents.append(document(
            "AlertNotificationTarget",
            {"name": target_name(service, TARGET_SLACK), "annotations": {ANNOTATION_SLACK: service.slack}},
            {"target": TARGET_SLACK, "description": f"Slack channel {service.slack}."},
        ))
    if TARGET_DEFAULT in used:
        documents.append(document(
            "AlertNotificationTarget",
            {"name": target_name(service, TARGET_DEFAULT), "annotations": {ANNOTATION_SLACK: c.DEFAULT_ALERT_CHANNEL}},
            {"target": TARGET_SLACK, "description": f"Slack channel {c.DEFAULT_ALERT_CHANNEL}, where alerts of services "
                                                  "without on-call data go (the descriptor names no Slack channel or "
                                                  "PagerDuty service): nobody is paged."},
        ))
    return documents


# --- values ------------------------------------------------------------------------------------

_SHORTHAND = re.compile(r"[1-9][0-9]*[mhdw]")


def shorthand(seconds: Fraction) -> str:
    """An OpenSLO duration-shorthand (a whole number of minutes, hours, days or weeks)."""
    text = format_duration(seconds)
    if not _SHORTHAND.fullmatch(text):
        raise ValueError(f"{text} has no OpenSLO duration-shorthand (whole minutes at least)")
    return text


def number(value: Fraction) -> int | float:
    """A YAML number that prints as format_number prints it, so it reads like the rules."""
    text = format_number(value)
    return float(text) if "." in text else int(text)
