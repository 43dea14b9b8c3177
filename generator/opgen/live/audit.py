"""`opgen audit`: what the descriptor declares, against what Prometheus observes.

One finding per check and subject: the generated rule groups are loaded as generated and healthy;
the scrape targets are up; every series selector the rules, the dashboard and the autoscaler read
matches series in the hour before --at; every SLO threshold is an `le` of its histogram; every
declared dependency shows up in the client metrics, and peers seen there but not declared are
listed. A FAIL means an alert or panel is blind (the command exits 1); `warn` is worth knowing.

Selectors are checked as their base: without matchers on how a request ended (status code, error
type: no 5xx in the last hour is fine) and on `le` (the bucket check); those naming a dependency's
peer are the dependency check, `up` is the targets check, and recordings the rule-group check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from opgen import conventions as c
from opgen import promql
from opgen.alerts import is_scraped
from opgen.descriptor.model import Service
from opgen.live.client import Prometheus
from opgen.live.selectors import parse_matchers, selectors_in, shape
from opgen.live.times import format_time
from opgen.render import RenderContext, grafana_dashboard
from opgen.render.prometheus_rules import rule_groups
from opgen.slo.durations import parse_duration
from opgen.slo.sli import le_values
from opgen.verify import GRAFANA_VARIABLES, Result, dashboard_queries, format_result

OK, FAIL, WARN = "ok", "FAIL", "warn"
OBSERVED = "1h"  # how far back from --at a series counts as observed


@dataclass(frozen=True)
class Finding:
    service: str
    status: str  # ok | FAIL | warn
    check: str
    subject: str
    detail: str = ""

    def line(self) -> str:
        return format_result(Result(self.status, self.check, f"{self.service}: {self.subject}", self.detail))

    def as_json(self) -> dict:
        return {"service": self.service, "status": self.status, "check": self.check, "subject": self.subject,
                "detail": self.detail}


def audit(prometheus: Prometheus, service: Service, at: float, loaded_groups: list[dict]) -> list[Finding]:
    """Every finding about `service`; `loaded_groups` is /api/v1/rules' answer (asked once per run)."""
    findings = list(rule_group_findings(service, loaded_groups))
    findings += target_findings(prometheus, service, at)
    findings += selector_findings(prometheus, service, at)
    findings += bucket_findings(prometheus, service, at)
    findings += dependency_findings(prometheus, service, at)
    return findings


# --- rule groups ----------------------------------------------------------------------------------


def rule_group_findings(service: Service, loaded_groups: list[dict]):
    loaded: dict[str, list[dict]] = {}
    for group in loaded_groups:
        loaded.setdefault(group["name"], []).append(group)
    for group in rule_groups(service):
        name = group["name"]
        if name not in loaded:
            yield Finding(service.name, FAIL, "rule group", name,
                          "not loaded: add the rule file to Prometheus' rule_files (or load it into the ruler) and reload")
            continue
        differences = [_difference(group, candidate) for candidate in loaded[name]]
        if all(differences):
            yield Finding(service.name, FAIL, "rule group", name,
                          f"loaded, but not as generated ({differences[0]}): run `opgen sync` and load the new file")
            continue
        candidate = loaded[name][differences.index("")]
        broken = [r for r in candidate["rules"] if r.get("health") == "err"]
        if broken:
            yield Finding(service.name, FAIL, "rule group", name,
                          "; ".join(f"{r['name']}: {r.get('lastError', 'evaluation failed')}" for r in broken))
            continue
        evaluated = all(r.get("health") == "ok" for r in candidate["rules"])
        yield Finding(service.name, OK, "rule group", name,
                      f"{len(candidate['rules'])} rules loaded, " + ("healthy" if evaluated else "not evaluated yet"))


def _difference(generated: dict, loaded: dict) -> str:
    """The first way the loaded group differs from the generated one, or ""."""
    ours, theirs = generated["rules"], loaded["rules"]
    if len(ours) != len(theirs):
        return f"{len(theirs)} rules, {len(ours)} generated"
    for index, (rule, seen) in enumerate(zip(ours, theirs), 1):
        name, kind = (rule["alert"], "alerting") if "alert" in rule else (rule["record"], "recording")
        if (seen.get("name"), seen.get("type")) != (name, kind):
            return f"rule {index} is {seen.get('type')} {seen.get('name')}, generated {kind} {name}"
        if not _same_query(seen.get("query", ""), rule["expr"]):
            return f"rule {index} ({name}) has another expression"
        if {k: str(v) for k, v in rule.get("labels", {}).items()} != (seen.get("labels") or {}):
            return f"rule {index} ({name}) has other labels"
        if kind == "alerting" and float(parse_duration(rule["for"]) if rule.get("for") else 0) != float(seen.get("duration", 0)):
            return f"rule {index} ({name}) has another `for`"
    return ""


def _same_query(loaded: str, generated: str) -> bool:
    """Whether Prometheus' text of a rule (its own printing: matchers sorted) is the generated query."""
    try:
        return shape(loaded) == shape(generated)
    except ValueError:  # a query this parser does not know: compare the text
        return " ".join(loaded.split()) == " ".join(generated.split())


# --- scrape targets ----------------------------------------------------------------------------------


def target_findings(prometheus: Prometheus, service: Service, at: float):
    if not is_scraped(service):
        return
    selector = f"{c.TARGET_UP_METRIC}{{{service.selector}}}"
    targets = prometheus.query(selector, at)
    if not targets:
        yield Finding(service.name, FAIL, "targets up", selector,
                      f"no scrape target at {format_time(at)}: Prometheus does not scrape the service, or the selector is wrong")
        return
    down = sorted(t.labels.get("instance", json.dumps(t.labels, sort_keys=True)) for t in targets if t.value != 1)
    if down:
        yield Finding(service.name, FAIL, "targets up", selector, f"{len(down)} of {len(targets)} down: {', '.join(down)}")
    else:
        yield Finding(service.name, OK, "targets up", selector, f"{len(targets)} up")


# --- selectors ---------------------------------------------------------------------------------------


def selector_findings(prometheus: Prometheus, service: Service, at: float):
    for base, users in used_selectors(service).items():
        count = _count(prometheus, base, at)
        if count:
            yield Finding(service.name, OK, "selector", base, f"{count} series (read by {', '.join(users)})")
        else:
            yield Finding(service.name, FAIL, "selector", base,
                          f"matches no series in the {OBSERVED} before {format_time(at)}: what the {', '.join(users)} "
                          "read is missing (instrumentation, exporter or labels differ)")


def used_selectors(service: Service) -> dict[str, list[str]]:
    """The base of each raw selector the rules, dashboard and autoscaler read, and which of them read it."""
    groups = rule_groups(service)
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    sources = [("rules", rule["expr"]) for group in groups for rule in group["rules"]]
    dashboard = json.loads(grafana_dashboard.render(RenderContext(service, service.descriptor_path))[0].text)
    for _, expr in dashboard_queries(dashboard):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        sources.append(("dashboard", expr))
    sources += [("autoscaler", query) for query in autoscaler_queries(service)]
    outcome_labels = _outcome_labels()
    used: dict[str, list[str]] = {}
    for source, expr in sources:
        for selector in selectors_in(expr):
            if (selector.name in recorded or selector.name in (c.TARGET_UP_METRIC, "ALERTS")  # ALERTS: Prometheus's own, empty while calm
                    or selector.value_of(c.PEER_LABEL)):
                continue
            dropped = tuple(m for m in selector.matchers if m[0] in outcome_labels or m[0] == "le")
            users = used.setdefault(selector.text(without=dropped), [])
            if source not in users:
                users.append(source)
    return used


def autoscaler_queries(service: Service) -> list[str]:
    from opgen.capacity import plan_capacity
    from opgen.render import terraform_autoscaling as t

    if t.autoscaler(service) not in ("hpa", "keda"):
        return []
    rate = t.request_rate(service, plan_capacity(service))
    return [q for q in ((rate or {}).get("query"), t.gpu_utilization_query(service)) if q]


def _outcome_labels() -> set[str]:
    """Labels that tell how a request or call ended (status code, error type): a selector of failures
    only (no 5xx, no answer) that matches nothing in the last hour means nothing failed."""
    metrics = [*c.REQUEST_METRICS.values(), *c.DEPENDENCY_METRICS.values()]
    return {m[0] for metric in metrics for text in metric.error_matchers for m in parse_matchers(text)}


# --- histogram buckets ---------------------------------------------------------------------------------


def bucket_findings(prometheus: Prometheus, service: Service, at: float):
    for slo in service.slos:
        if slo.sli.kind not in ("latency", "freshness"):
            continue
        metric = c.MESSAGE_AGE if slo.sli.kind == "freshness" else c.REQUEST_METRICS[slo.sli.interface]
        selector = f"{metric.bucket}{{{service.selector}}}"
        seen = {s.labels.get("le") for s in prometheus.query(f"count by (le) (last_over_time({selector}[{OBSERVED}]))", at)}
        wanted = le_values(slo.sli.threshold_seconds)
        subject = f'{slo.name}: le="{wanted[0]}"'
        if set(wanted) & seen:
            yield Finding(service.name, OK, "bucket", subject, f"in {metric.bucket}")
        elif not seen:
            yield Finding(service.name, FAIL, "bucket", subject, f"no {selector} series at all in the {OBSERVED} before {format_time(at)}")
        else:
            shown = ", ".join(sorted((le for le in seen if le), key=_le_order))
            yield Finding(service.name, FAIL, "bucket", subject,
                          f"not a bucket of {metric.bucket} (buckets seen: {shown}): every event counts as bad; "
                          "add the threshold to the histogram's boundaries (the generated instrumentation does)")


def _le_order(le: str) -> float:
    try:
        return float(le)
    except ValueError:
        return float("inf")


# --- dependencies ---------------------------------------------------------------------------------------


def dependency_findings(prometheus: Prometheus, service: Service, at: float):
    if service.is_cron_job:  # a run ends before any scrape: no client metrics (alerts.has_dependency_alerts)
        return
    declared = {d.name for d in service.dependencies}
    for dependency in service.dependencies:
        metric = c.DEPENDENCY_METRICS[dependency.kind]
        selector = promql.selector(metric.count, *c.dependency_matchers(service.selector, dependency.name, dependency.kind))
        count = _count(prometheus, selector, at)
        if count:
            yield Finding(service.name, OK, "dependency", dependency.name, f"calls seen in {metric.count} ({count} series)")
        else:
            yield Finding(service.name, FAIL, "dependency", dependency.name,
                          f"no calls seen in the {OBSERVED} before {format_time(at)} ({selector}): its dependency alerts "
                          f"cannot fire; set {c.PEER_ATTRIBUTE}={dependency.name} on the client's calls")
    names = "|".join(sorted({m.count for m in c.DEPENDENCY_METRICS.values()}))
    peers = prometheus.query(
        f'count by ({c.PEER_LABEL}) (last_over_time({{__name__=~"{names}",{service.selector},{c.PEER_LABEL}!=""}}[{OBSERVED}]))', at)
    for peer in sorted({p.labels.get(c.PEER_LABEL, "") for p in peers} - declared - {""}):
        yield Finding(service.name, WARN, "undeclared peer", peer,
                      f"calls to {peer} seen in client metrics, but spec.dependencies does not declare it: "
                      "no alert, runbook or dashboard row covers it")


def _count(prometheus: Prometheus, selector: str, at: float) -> int:
    answer = prometheus.query(f"count(last_over_time({selector}[{OBSERVED}]))", at)
    return int(answer[0].value) if answer else 0
