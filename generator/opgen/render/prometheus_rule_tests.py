"""ops/prometheus/<name>.rules.test.yml: promtool unit tests that prove the generated alerts.

Per SLO, scenarios with a constant error ratio from the first sample on, so every window sees
the same ratio and which alerts fire follows from the thresholds alone:
- no errors at all (the error series never appears): the SLI reads 0, nothing fires;
- healthy: half the lowest threshold, nothing fires;
- slow burn: between the ticket and the page thresholds, only ticket-severity alerts fire;
- fast burn: above the page thresholds, the page fires within its `for` plus one evaluation.
Per service: targets down, and targets up without SLI series, fire the no-data alert.

Inputs are the raw metrics the SLI reads when they can be written as literal series (the metric
contract, or an events SLI of the form sum(rate(metric{label="value"}[{{window}}]))). Otherwise
the scenario feeds the SLI recordings themselves: that proves the alert logic, not the user's query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from opgen import conventions as c
from opgen import promql
from opgen.alerts import has_dependency_alerts, is_scraped
from opgen.descriptor.checks import WINDOW_PLACEHOLDER
from opgen.descriptor.model import SLO, Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render import prometheus_rules as rules
from opgen.render.yaml_output import dump_yaml
from opgen.slo.durations import format_duration
from opgen.slo.numbers import format_number
from opgen.slo.sli import le_values
from opgen.slo.windows import EXHAUSTED_FOR, WINDOW_PAIRS, burn_rate_factor, recorded_windows

EVALUATION_INTERVAL_MINUTES = 1
SCENARIO_MINUTES = 25  # longer than every `for`, plus the first rate's sample
FIRST_RATE_MINUTE = 1  # a rate() needs two samples


@dataclass(frozen=True)
class Scenario:
    title: str
    burn_rate: Fraction  # error ratio / error budget, constant over the scenario


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    tests = []
    for slo in service.slos:
        tests += [slo_test(service, slo, s) for s in scenarios(slo)]
    tests += no_data_tests(service)
    tests += dependency_tests(service)
    tests += saturation_tests(service)
    document = {
        "rule_files": [c.rules_path(service.name).rsplit("/", 1)[-1]],
        "evaluation_interval": f"{EVALUATION_INTERVAL_MINUTES}m",
        "tests": tests,
    }
    header = generated_header(context) + "# Run: promtool test rules " + c.rules_test_path(service.name).rsplit("/", 1)[-1] + "\n"
    return [Artifact(c.rules_test_path(service.name), dump_yaml(document, header))]


# --- which burn rates to test --------------------------------------------------------------------


def thresholds(slo: SLO) -> dict[str, Fraction]:
    """Burn-rate thresholds by severity: each pair's factor; budget exhaustion at 1."""
    factors = {"page": [], "ticket": [Fraction(1)]}
    for pair in WINDOW_PAIRS:
        factors[pair.severity].append(burn_rate_factor(pair.budget_share, slo.window_seconds, pair.long))
    return factors


def scenarios(slo: SLO) -> list[Scenario]:
    limits = thresholds(slo)
    most = 1 / slo.error_budget  # every event bad
    result = [
        Scenario("every minute good: the latest run succeeded just now, the SLI reads 0 and nothing fires"
                 if slo.sli.time_based else
                 "no errors at all (the error series never appears): the SLI reads 0 and nothing fires", Fraction(0)),
        Scenario("healthy: errors at half the lowest threshold fire nothing",
                 _round_tenths(min(limits["page"] + limits["ticket"]) / 2)),
    ]
    low, high = max(limits["ticket"]), min(limits["page"])
    slow = _round_tenths((low + high) / 2)
    if low * Fraction(11, 10) <= slow <= high * Fraction(10, 11) and slow <= most:
        result.append(Scenario("slow burn: only ticket-severity alerts fire", slow))
    fast = min(most, Fraction(math.ceil(max(limits["page"]) * Fraction(3, 2))))
    if any(limit * Fraction(11, 10) <= fast for limit in limits["page"]):
        result.append(Scenario("fast burn: the page fires within its `for` plus one evaluation", fast))
    if slo.sli.time_based and fast != most:
        # Time-based inputs can only be written as literal series when every minute is good or
        # every minute is bad; this scenario is the one that proves the raw query.
        result.append(Scenario("every minute bad: the job is failed or overdue from the start", most))
    return result


def _round_tenths(value: Fraction) -> Fraction:
    """A burn rate with one decimal, so printed values are far from rounding boundaries."""
    return max(Fraction(1, 10), Fraction(round(value * 10), 10)) if value else Fraction(0)


# --- one SLO scenario ----------------------------------------------------------------------------


def slo_test(service: Service, slo: SLO, scenario: Scenario) -> dict:
    error_ratio = scenario.burn_rate * slo.error_budget
    per_minute = _events_per_minute(error_ratio)
    bad = int(error_ratio * per_minute)
    minutes = SCENARIO_MINUTES
    series = raw_input_series(service, slo, per_minute, bad, minutes, prometheus3=scenario.burn_rate > 2)
    first_minute = 0 if slo.sli.time_based else FIRST_RATE_MINUTE  # a subquery has data from its first sample
    if series is None:
        series = recorded_input_series(service, slo, per_minute, bad, minutes)
        first_minute = 0

    burn_alert, exhausted_alert = c.alert_budget_burn(slo.name), c.alert_budget_exhausted(slo.name)
    checks = []
    page_for = min(p.for_seconds for p in WINDOW_PAIRS if p.severity == c.SEVERITY_PAGE) // 60
    if scenario.burn_rate and any(e["exp_labels"][c.LABEL_SEVERITY] == c.SEVERITY_PAGE
                                  for e in expected_burn_alerts(service, slo, scenario, minutes, first_minute)):
        # Before the page's `for` has passed nothing fires; one evaluation after it, the page does.
        checks.append({"eval_time": f"{first_minute + page_for - 1}m", "alertname": burn_alert, "exp_alerts": []})
        early = first_minute + page_for + 1
        checks.append({"eval_time": f"{early}m", "alertname": burn_alert,
                       "exp_alerts": expected_burn_alerts(service, slo, scenario, early, first_minute)})
    checks.append({"eval_time": f"{minutes}m", "alertname": burn_alert,
                   "exp_alerts": expected_burn_alerts(service, slo, scenario, minutes, first_minute)})
    checks.append({"eval_time": f"{minutes}m", "alertname": exhausted_alert,
                   "exp_alerts": expected_exhausted_alerts(service, slo, scenario, minutes, first_minute)})

    test = {
        "name": f"{slo.name}: {scenario.title}",
        "interval": f"{EVALUATION_INTERVAL_MINUTES}m",
        "input_series": series,
        "alert_rule_test": checks,
    }
    if not bad:
        test["promql_expr_test"] = [ratio_is_zero(service, slo, window, minutes) for window in ("5m", slo.window)]
    return test


def _events_per_minute(error_ratio: Fraction) -> int:
    """Whole numbers of events per minute that give exactly this error ratio (at least 1000)."""
    base = error_ratio.denominator
    return base * max(1, math.ceil(1000 / base))


def expected_burn_alerts(service: Service, slo: SLO, scenario: Scenario, minute: int, first_minute: int) -> list[dict]:
    expected = []
    for pair in WINDOW_PAIRS:
        factor = burn_rate_factor(pair.budget_share, slo.window_seconds, pair.long)
        held = minute - first_minute >= pair.for_seconds / 60
        if scenario.burn_rate > factor and held:
            expected.append({
                "exp_labels": rules.burn_rate_labels(service, slo, pair),
                "exp_annotations": rules.burn_rate_annotations(
                    service, slo, pair, f"{float(scenario.burn_rate):.1f}", _time_left(slo, scenario)),
            })
    return expected


def _time_left(slo: SLO, scenario: Scenario) -> str:
    """What humanizeDuration prints for the remaining budget. Every scenario that fires burns more
    than 1x from the first sample (slow burn sits above budget exhaustion), so none is left."""
    return "0s"


def expected_exhausted_alerts(service: Service, slo: SLO, scenario: Scenario, minute: int, first_minute: int) -> list[dict]:
    if scenario.burn_rate < 1 or minute - first_minute < EXHAUSTED_FOR / 60:
        return []
    spent = f"{float(scenario.burn_rate) * 100:.4g}%"
    return [{"exp_labels": rules.exhausted_labels(service, slo),
             "exp_annotations": rules.exhausted_annotations(service, slo, spent)}]


def ratio_is_zero(service: Service, slo: SLO, window: str, minute: int) -> dict:
    name = c.sli_error_ratio(window)
    labels = ",".join(promql.matcher(k, v) for k, v in rules.slo_labels(service, slo).items())
    return {
        "expr": rules.slo_series(name, service, slo),
        "eval_time": f"{minute}m",
        "exp_samples": [{"labels": f"{name}{{{labels}}}", "value": 0}],
    }


# --- input series -------------------------------------------------------------------------------


def counter(per_minute: int, minutes: int) -> str:
    return f"0+{per_minute}x{minutes}"


def raw_input_series(service: Service, slo: SLO, total: int, bad: int, minutes: int, prometheus3: bool) -> list[dict] | None:
    """The metrics the SLI reads, as literal series; None when they cannot be written that way."""
    sli = slo.sli
    if sli.kind == "events":
        errors, totals = simple_counter(sli.errors_promql), simple_counter(sli.total_promql)
        if errors is None or totals is None or errors == totals:
            return None
        series = [{"series": _series(totals[0], totals[1]), "values": counter(total, minutes)}]
        if bad:
            series.append({"series": _series(errors[0], errors[1]), "values": counter(bad, minutes)})
        return series

    base = selector_labels(service.selector)
    if base is None:
        return None
    if sli.time_based:
        return job_input_series(service, slo, base, bad, total, minutes)
    if sli.kind == "freshness":
        return histogram_input_series(c.MESSAGE_AGE, base + list(c.MESSAGE_AGE_EXAMPLE), sli.threshold_seconds,
                                      total, bad, minutes, prometheus3)
    metric = c.REQUEST_METRICS[sli.interface]
    ok = base + list(metric.ok_example)
    if sli.kind == "availability":
        # Bad events are spread over every kind of failure (a 5xx, a request that got no answer).
        series = [{"series": _series(metric.count, ok), "values": counter(total - bad, minutes)}]
        kinds = metric.failed_examples
        for index, failed in enumerate(kinds):
            share = bad // len(kinds) + (1 if index < bad % len(kinds) else 0)
            if share:
                series.append({"series": _series(metric.count, base + list(failed)), "values": counter(share, minutes)})
        return series
    return histogram_input_series(metric, ok, sli.threshold_seconds, total, bad, minutes, prometheus3)


def histogram_input_series(metric: c.DurationHistogram, labels: list[tuple[str, str]], threshold: Fraction,
                           total: int, bad: int, minutes: int, prometheus3: bool) -> list[dict]:
    """Bad observations are above the threshold, so they sit only in the +Inf bucket."""
    le = le_values(threshold)
    le_text = le[-1] if prometheus3 else le[0]  # Prometheus 3 writes "1.0" where 2 writes "1"
    return [
        {"series": _series(metric.count, labels), "values": counter(total, minutes)},
        {"series": _series(metric.bucket, labels + [("le", le_text)]), "values": counter(total - bad, minutes)},
        {"series": _series(metric.bucket, labels + [("le", "+Inf")]), "values": counter(total, minutes)},
    ]


def job_input_series(service: Service, slo: SLO, base: list[tuple[str, str]], bad: int, total: int,
                     minutes: int) -> list[dict] | None:
    """The job's pushed gauges, when every minute is good or every minute is bad; None otherwise.

    Test time starts at the Unix epoch, so a gauge of `0+60x…` is "now" at every evaluation.
    Good: the latest run succeeded just now. Bad, job-success: runs keep completing, the last
    success stays at the epoch. Bad, job-on-time: the last success is older than the threshold."""
    if bad not in (0, total):
        return None
    now = f"0+60x{minutes}"
    completion = {"series": _series(c.JOB_LAST_COMPLETION, base), "values": now if bad == 0 or slo.sli.kind == "job-on-time"
                  else f"60+60x{minutes}"}
    if bad == 0:
        success = now
    elif slo.sli.kind == "job-success":
        success = f"0x{minutes}"
    else:
        success = f"{format_number(-(slo.sli.threshold_seconds + 60))}x{minutes}"
    return [completion, {"series": _series(c.JOB_LAST_SUCCESS, base), "values": success}]


def recorded_input_series(service: Service, slo: SLO, total: int, bad: int, minutes: int) -> list[dict]:
    """The SLI recordings as constant series, for SLIs whose raw inputs cannot be synthesised."""
    labels = list(rules.slo_labels(service, slo).items())
    series = [
        {"series": _series(c.SLI_REQUESTS_RATE5M, labels),
         "values": f"{1 if slo.sli.time_based else format_number(Fraction(total, 60))}x{minutes}"},
    ]
    ratio = format_number(Fraction(bad, total))
    for window in recorded_windows(slo.window_seconds):
        series.append({"series": _series(c.sli_error_ratio(format_duration(window)), labels), "values": f"{ratio}x{minutes}"})
    return series


def selector_labels(selector: str) -> list[tuple[str, str]] | None:
    """Labels that satisfy the selector, when it only uses equality matchers."""
    import promql_parser

    expr = promql_parser.parse("up{" + selector + "}")
    return _equality_labels(expr)


def simple_counter(query: str) -> tuple[str, list[tuple[str, str]]] | None:
    """(metric, labels) when the query is sum(rate|increase(metric{l="v"}[{{window}}]))."""
    import promql_parser

    expr = promql_parser.parse(query.replace(WINDOW_PLACEHOLDER, "5m"))
    if isinstance(expr, promql_parser.AggregateExpr):
        if str(expr.op) != "sum" or expr.param is not None or expr.modifier is not None:
            return None
        expr = expr.expr
    if not isinstance(expr, promql_parser.Call) or expr.func.name not in ("rate", "increase"):
        return None
    matrix = expr.args[0]
    if not isinstance(matrix, promql_parser.MatrixSelector):
        return None
    vector = matrix.vector_selector
    labels = _equality_labels(vector)
    if labels is None or not vector.name or vector.offset is not None or vector.at is not None:
        return None
    return vector.name, labels


def _equality_labels(vector) -> list[tuple[str, str]] | None:
    import promql_parser

    labels = []
    for m in vector.matchers.matchers:
        if m.op != promql_parser.MatchOp.Equal:
            return None
        if m.name != "__name__":
            labels.append((m.name, m.value))
    return labels


def _series(metric: str, labels: list[tuple[str, str]]) -> str:
    return promql.selector(metric, *(promql.matcher(k, v) for k, v in labels))


# --- no data ---------------------------------------------------------------------------------


def no_data_tests(service: Service) -> list[dict]:
    labels = selector_labels(service.selector)
    if labels is None:
        return []
    up = _series(c.TARGET_UP_METRIC, labels + [("instance", "10.0.0.1:8080")])
    scraped = is_scraped(service)
    tests = []
    if scraped:
        tests.append({
            "name": "no data: every target down fires the no-data page",
            "interval": "1m",
            "input_series": [{"series": up, "values": "1x4 0x10"}],
            "alert_rule_test": [
                {"eval_time": "7m", "alertname": c.ALERT_NO_DATA, "exp_alerts": []},
                {"eval_time": "12m", "alertname": c.ALERT_NO_DATA, "exp_alerts": [_no_data(service, rules.NO_DATA_TARGETS_DOWN)]},
            ],
        })
    if service.slos:
        tests.append({
            "name": "no data: no SLI series " + ("while targets are up " if scraped else "") + "fires the no-data page",
            "interval": "1m",
            "input_series": [{"series": up, "values": "1x20"}] if scraped else [{"series": "unrelated_series", "values": "1x20"}],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": c.ALERT_NO_DATA, "exp_alerts": []},
                {"eval_time": "20m", "alertname": c.ALERT_NO_DATA,
                 "exp_alerts": [_no_data(service, rules.NO_DATA_SLI_MISSING, slo) for slo in service.slos]},
            ],
        })
    return tests


def _no_data(service: Service, cause: str, slo: SLO | None = None) -> dict:
    return {"exp_labels": rules.no_data_labels(service, cause, slo),
            "exp_annotations": rules.no_data_annotations(service, cause, slo)}


# --- dependencies ----------------------------------------------------------------------------------

CALLS_PER_MINUTE = 600


def dependency_tests(service: Service) -> list[dict]:
    """Healthy calls fire nothing; 10 % failed and all slow fire both alerts for every dependency."""
    base = selector_labels(service.selector)
    if not has_dependency_alerts(service) or base is None:
        return []
    return [
        dependency_test(service, base, "dependencies: 1% failed, fast calls fire nothing", failed=6, slow=False),
        dependency_test(service, base, "dependencies: 10% failed, slow calls fire both alerts for each", failed=60, slow=True),
    ]


def dependency_test(service: Service, base: list[tuple[str, str]], title: str, failed: int, slow: bool) -> dict:
    series, errors, latency = [], [], []
    for dependency in service.dependencies:
        metric = c.DEPENDENCY_METRICS[dependency.kind]
        labels = base + [(c.PEER_LABEL, dependency.name)] + ([metric.system] if metric.system else [])
        threshold = metric.latency_threshold_seconds
        ok, bad = labels + list(metric.ok_example), labels + list(metric.failed_example)
        series += [
            {"series": _series(metric.count, ok), "values": counter(CALLS_PER_MINUTE - failed, SCENARIO_MINUTES)},
            {"series": _series(metric.count, bad), "values": counter(failed, SCENARIO_MINUTES)},
        ]
        fast_calls = 0 if slow else CALLS_PER_MINUTE
        for le, calls in ((threshold, fast_calls), (threshold * 10, CALLS_PER_MINUTE), (None, CALLS_PER_MINUTE)):
            le_text = "+Inf" if le is None else format_number(le)
            series.append({"series": _series(metric.bucket, ok + [("le", le_text)]), "values": counter(calls, SCENARIO_MINUTES)})
        if slow:
            labels_of = rules.dependency_labels(service, dependency)
            errors.append({"exp_labels": labels_of, "exp_annotations": rules.dependency_error_annotations(
                service, dependency, f"{failed / CALLS_PER_MINUTE * 100:.4g}%")})
            p99 = float(threshold) + float(threshold * 9) * 0.99  # histogram_quantile inside the (t, 10t] bucket
            latency.append({"exp_labels": labels_of, "exp_annotations": rules.dependency_latency_annotations(
                service, dependency, f"{p99:.4g}s")})
    at = f"{SCENARIO_MINUTES}m"
    return {
        "name": title,
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": at, "alertname": c.ALERT_DEPENDENCY_ERRORS, "exp_alerts": errors},
            {"eval_time": at, "alertname": c.ALERT_DEPENDENCY_LATENCY, "exp_alerts": latency},
        ],
    }


# --- saturation ------------------------------------------------------------------------------------


def saturation_tests(service: Service) -> list[dict]:
    """At 95 % of every limit the saturation alerts fire; at 50 % none does."""
    return [saturation_test(service, Fraction(1, 2)), saturation_test(service, Fraction(95, 100))]


def saturation_test(service: Service, level: Fraction) -> dict:
    series, shown = _saturation_inputs(service, level)
    fires = level > c.SATURATION_THRESHOLD
    checks = []
    for rule in rules.saturation_alerts(service):
        alert = rule["alert"]
        expected = []
        if fires:
            expected = [{"exp_labels": rules.saturation_labels(service),
                         "exp_annotations": rules.saturation_annotations(service, alert, shown[alert])}]
        checks.append({"eval_time": "40m", "alertname": alert, "exp_alerts": expected})
    return {
        "name": f"saturation: at {format_number(level * 100)}% of every limit " + ("the alerts fire" if fires else "nothing fires"),
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": checks,
    }


def _saturation_inputs(service: Service, level: Fraction) -> tuple[list[dict], dict[str, str]]:
    """Input series at `level` of each limit, and how each alert's description shows the value."""
    percent = f"{float(level) * 100:.4g}%"
    minutes = 40
    if service.platform == "lambda":
        function = [("dimension_FunctionName", service.name)]
        throttles = 3 if level > c.SATURATION_THRESHOLD else 0
        return ([{"series": _series(c.LAMBDA_THROTTLES, function), "values": f"{throttles}x{minutes}"}],
                {c.ALERT_LAMBDA_THROTTLED: str(throttles)})
    if service.platform == "ecs":
        ecs = [("dimension_ClusterName", service.namespace), ("dimension_ServiceName", service.name)]
        value = format_number(level * 100)
        return ([{"series": _series(c.ECS_CPU_UTILIZATION, ecs), "values": f"{value}x{minutes}"},
                 {"series": _series(c.ECS_MEMORY_UTILIZATION, ecs), "values": f"{value}x{minutes}"}],
                {c.ALERT_CPU_NEAR_LIMIT: percent, c.ALERT_MEMORY_NEAR_LIMIT: percent})
    pod = [("namespace", service.namespace), ("pod", service.name + c.K8S_EXAMPLE_POD_SUFFIX)]
    container = pod + [("container", "app")]
    hpa = [("namespace", service.namespace), ("horizontalpodautoscaler", service.name)]
    replicas = 10 if level > c.SATURATION_THRESHOLD else 5
    mib = 1024 * 1024
    series = [
        {"series": _series(c.K8S_CPU_USAGE, container), "values": counter(int(level * 60), minutes)},  # level cores
        {"series": _series(c.K8S_RESOURCE_LIMITS, container + [("resource", "cpu"), ("unit", "core")]), "values": f"1x{minutes}"},
        {"series": _series(c.K8S_MEMORY_WORKING_SET, container), "values": f"{int(level * 1000) * mib}x{minutes}"},
        {"series": _series(c.K8S_RESOURCE_LIMITS, container + [("resource", "memory"), ("unit", "byte")]), "values": f"{1000 * mib}x{minutes}"},
        {"series": _series(c.K8S_HPA_CURRENT_REPLICAS, hpa), "values": f"{replicas}x{minutes}"},
        {"series": _series(c.K8S_HPA_MAX_REPLICAS, hpa), "values": f"10x{minutes}"},
    ]
    shown = {c.ALERT_CPU_NEAR_LIMIT: percent, c.ALERT_MEMORY_NEAR_LIMIT: percent, c.ALERT_REPLICAS_AT_MAX: str(replicas)}
    if service.gpu is not None:
        gpu = pod + [("gpu", "0")]
        used = int(level * 20000)
        series += [
            {"series": _series(c.GPU_MEMORY_USED, gpu), "values": f"{used}x{minutes}"},
            {"series": _series(c.GPU_MEMORY_FREE, gpu), "values": f"{20000 - used}x{minutes}"},
            {"series": _series(c.GPU_UTILIZATION, gpu), "values": f"{format_number(level * 100)}x{minutes}"},
        ]
        shown.update({c.ALERT_GPU_MEMORY_NEAR_LIMIT: percent, c.ALERT_GPU_SATURATED: percent})
    return series, shown
