"""journeys/<name>.rules.yml and its promtool tests, in the fleet folder: a journey's SLI and alerts.

The journey's error ratio over each window is 1 - prod(1 - e_i) over its steps' recorded error
ratios of that window (opgen/journeys.py says why), recorded as
journey:sli_error:ratio_rate<window>{journey="<name>"}. A step with no events in a window (its
ratio is NaN, 0/0) counts as no errors there: a quiet step must not blind the journey to a step
that burns; a step whose metrics vanish has its own SLONoData page. The alerts are the steps'
multi-window, multi-burn-rate pairs (slo/windows.py) on the journey's objective and window, with
the same conventions as a service's: `severity` page or ticket, `team` the journey's (routing),
a page only with its floor of bad events across the steps, long windows counting the time before
the steps' recordings began as good.
"""

from __future__ import annotations

import math
from fractions import Fraction

from opgen import conventions as c
from opgen import promql
from opgen.alerts import page_min_bad_events
from opgen.fleet import percent_text
from opgen.journeys import ResolvedJourney
from opgen.render import Artifact
from opgen.render.prometheus_rules import LONG_WINDOW_INTERVAL, RATIO_RESOLUTION
from opgen.render.yaml_output import dump_yaml
from opgen.slo.durations import format_duration
from opgen.slo.numbers import format_number
from opgen.slo.sli import bad_events_in_window
from opgen.slo.windows import (
    RAW_WINDOW_LIMIT,
    WindowPair,
    budget_lasts,
    burn_rate_threshold,
    long_windows,
    raw_windows,
    window_pairs,
)

BURN_RATE_VALUE = '{{ $value | printf "%.1f" }}'


def header(journey: ResolvedJourney, fleet_header: str) -> str:
    text = fleet_header.replace("Do not edit by hand:", f"Journey {journey.journey.name!r}. Do not edit by hand:", 1)
    if any(s.service.cluster_label for s in journey.steps):  # the steps' long windows and objectives are the global ruler's
        text += ("# Load into the global ruler (Thanos ruler, Mimir), with the steps' global rules; a step's window under a\n"
                 "# day counts its worst cluster (docs/fleet.md, \"Many clusters\").\n")
    return text


def render(journey: ResolvedJourney, fleet_header: str) -> list[Artifact]:
    name = journey.journey.name
    rules = dump_yaml({"groups": rule_groups(journey)}, header(journey, fleet_header))
    tests = dump_yaml(rule_tests(journey), header(journey, fleet_header)
                      + f"# Run: promtool test rules {c.journey_rules_test_path(name).rsplit('/', 1)[-1]}\n")
    return [Artifact(c.journey_rules_path(name), rules), Artifact(c.journey_rules_test_path(name), tests)]


# --- rules ------------------------------------------------------------------------------------------


def journey_labels(journey: ResolvedJourney) -> dict[str, str]:
    return {c.LABEL_JOURNEY: journey.journey.name}


def journey_series(metric: str, journey: ResolvedJourney) -> str:
    return promql.selector(metric, promql.matcher(c.LABEL_JOURNEY, journey.journey.name))


def step_series(metric: str, step) -> str:
    return promql.slo_series(metric, step.service.name, step.slo.name)


def combined_error_ratio(journey: ResolvedJourney, window: str) -> str:
    """1 - prod(1 - e_i): each step's ratio of `window`, 0 when it is NaN or absent."""
    factors = "\n  *\n".join(f"  (1 - (max({step_series(c.sli_error_ratio(window), s)}) >= 0 or on() vector(0)))"
                             for s in journey.steps)
    return f"round(\n  1 - (\n{factors}\n  ),\n  {RATIO_RESOLUTION}\n)"


def rule_groups(journey: ResolvedJourney) -> list[dict]:
    name, labels = journey.journey.name, journey_labels(journey)
    window = journey.journey.window_seconds
    raw = [{"record": c.journey_error_ratio(format_duration(w)), "expr": combined_error_ratio(journey, format_duration(w)),
            "labels": labels} for w in raw_windows(window)]
    long = [{"record": c.journey_error_ratio(format_duration(w)), "expr": combined_error_ratio(journey, format_duration(w)),
             "labels": labels} for w in long_windows(window)]
    alerts = [burn_rate_alert(journey, pair) for pair in window_pairs(window)] + [step_missing_alert(journey)]
    return [
        {"name": c.journey_rule_group(name, "recordings"), "rules": raw},
        {"name": c.journey_rule_group(name, "long-windows"), "interval": LONG_WINDOW_INTERVAL, "rules": long},
        {"name": c.journey_rule_group(name, "alerts"), "rules": alerts},
    ]


def coverage(journey: ResolvedJourney, window: Fraction) -> str:
    """The share of `window` that every step's 5m recordings cover (the latest start counts)."""
    starts = " or ".join(step_series(c.SLI_HISTORY_START, s) for s in journey.steps)
    return f"clamp_max((time() - max({starts})) / {format_number(window)}, 1)"


def page_floor(journey: ResolvedJourney) -> int | None:
    """Bad events a page needs in its long window, summed over the steps: the lowest of the steps'
    own floors (so an outage of the quietest step pages as soon as that step's own page would);
    None for time-based steps, whose minutes always tick."""
    floors = [page_min_bad_events(s.service, s.slo) for s in journey.steps]
    return None if journey.time_based else min(floors)


def fast(pair: WindowPair) -> bool:
    return pair.severity == c.SEVERITY_PAGE


def burn_condition(journey: ResolvedJourney, pair: WindowPair) -> str:
    window = journey.journey.window_seconds
    threshold = format_number(burn_rate_threshold(pair, window))
    budget = format_number(journey.journey.error_budget)
    long_burn = f"{journey_series(c.journey_error_ratio(pair.long_text), journey)} / {budget}"
    if pair.long > RAW_WINDOW_LIMIT:
        long_burn += f"\n* on() group_left()\n{coverage(journey, pair.long)}"
    parts = [f"{long_burn}\n> {threshold}",
             f"{journey_series(c.journey_error_ratio(pair.short_text), journey)} / {budget} > {threshold}"]
    floor = page_floor(journey)
    if floor is not None and fast(pair):
        bad = " or ".join(bad_events_in_window(s.slo, step_series(c.sli_errors_rate(pair.long_text), s), pair.long)
                          for s in journey.steps)
        parts.append(f"sum({bad}) >= {floor}")
    return "\nand on()\n".join(parts)


def burn_rate_labels(journey: ResolvedJourney, pair: WindowPair) -> dict[str, str]:
    return {c.LABEL_JOURNEY: journey.journey.name, c.LABEL_TEAM: journey.journey.team, c.LABEL_SEVERITY: pair.severity,
            c.LABEL_LONG_WINDOW: pair.long_text, c.LABEL_SHORT_WINDOW: pair.short_text}


def burn_rate_annotations(journey: ResolvedJourney, pair: WindowPair, burn_rate: str) -> dict[str, str]:
    j = journey.journey
    threshold = format_number(burn_rate_threshold(pair, j.window_seconds))
    lasts = format_duration(budget_lasts(pair, j.window_seconds))
    steps = ", ".join(f"{s.service.name}/{s.slo.name}" for s in journey.steps)
    return {
        "summary": f"The {j.name} journey is burning its error budget too fast.",
        "description": (
            f"The {j.name} journey ({format_number(j.objective_percent)}% over {j.window}) is burning its error budget "
            f"{burn_rate} times faster than sustainable over the last {pair.long_text}, and is still above the threshold of "
            f"{threshold} over the last {pair.short_text} (at {threshold} times, the whole {j.window} budget lasts {lasts}). "
            f"Its steps: {steps}; the runbook shows which one burns."),
        "runbook_url": c.journey_runbook_url(journey.runbook_base_url, j.name),
    }


def burn_rate_alert(journey: ResolvedJourney, pair: WindowPair) -> dict:
    return {"alert": c.ALERT_JOURNEY_BURN, "expr": burn_condition(journey, pair), "for": format_duration(pair.for_seconds),
            "labels": burn_rate_labels(journey, pair), "annotations": burn_rate_annotations(journey, pair, BURN_RATE_VALUE)}


STEP_MISSING_FOR = "15m"


def step_missing_alert(journey: ResolvedJourney) -> dict:
    """A ticket per step whose SLO's rules this Prometheus does not evaluate (its objective, a
    constant every evaluation records, is absent): the journey reads such a step as error-free, so
    it would miss that step's burn. Not about traffic: a step without traffic has its objective."""
    expr = "\nor\n".join(f"absent({step_series(c.OBJECTIVE, s)})" for s in journey.steps)
    return {"alert": c.ALERT_JOURNEY_STEP_MISSING, "expr": expr, "for": STEP_MISSING_FOR,
            "labels": step_missing_labels(journey), "annotations": step_missing_annotations(journey)}


def step_missing_labels(journey: ResolvedJourney) -> dict[str, str]:
    return {c.LABEL_JOURNEY: journey.journey.name, c.LABEL_TEAM: journey.journey.team, c.LABEL_SEVERITY: c.SEVERITY_TICKET}


def step_missing_annotations(journey: ResolvedJourney) -> dict[str, str]:
    j = journey.journey
    return {
        "summary": f"A step of the {j.name} journey has no SLO rules here, so the journey cannot see it burn.",
        "description": (
            "No rules record the {{ $labels.slo }} SLO of {{ $labels.service }} in this Prometheus: the "
            f"{j.name} journey counts that step as error-free and would miss its burn. Load that service's "
            "rules beside the journey's (or fix the step, if the SLO was renamed)."),
        "runbook_url": c.journey_runbook_url(journey.runbook_base_url, j.name),
    }


# --- promtool tests -----------------------------------------------------------------------------------

SCENARIO_MINUTES = 20  # longer than every `for`
BAD_EVENTS_PER_SECOND = 1  # of a burning step: far above any page floor


def rule_tests(journey: ResolvedJourney) -> dict:
    """Each step burning alone fires what the journey's burn rate passes; every step at half its
    own budget, and no errors at all, fire what the arithmetic says (nothing, unless the journey
    promises more than its steps allow). The inputs are the steps' recordings, as their services'
    rules write them, constant from the first sample, with their history begun long ago."""
    tests = [scenario_test(journey, "no step has errors", [Fraction(0)] * len(journey.steps))]
    tests.append(scenario_test(journey, "every step at half its own error budget",
                               [s.slo.error_budget / 2 for s in journey.steps]))
    for index, step in enumerate(journey.steps):
        ratios = [Fraction(0)] * len(journey.steps)
        ratios[index] = burning_ratio(journey)
        tests.append(scenario_test(journey, f"only {step.service.name}/{step.slo.name} burns", ratios))
    last = journey.steps[-1]
    tests.append(scenario_test(journey, f"the rules of {last.service.name}/{last.slo.name} are not loaded",
                               [Fraction(0)] * len(journey.steps), missing=(last,)))
    return {"rule_files": [c.journey_rules_path(journey.journey.name).rsplit("/", 1)[-1]],
            "evaluation_interval": "1m", "tests": tests}


def burning_ratio(journey: ResolvedJourney) -> Fraction:
    """An error ratio that burns the journey's budget 1.5 times faster than its highest threshold."""
    window = journey.journey.window_seconds
    highest = max(burn_rate_threshold(p, window) for p in window_pairs(window))
    return min(Fraction(1), journey.journey.error_budget * highest * Fraction(3, 2))


def journey_ratio(ratios: list[Fraction]) -> float:
    """As Prometheus computes it, in floats: 1 - prod(1 - e_i)."""
    product = 1.0
    for ratio in ratios:
        product *= 1 - float(ratio)
    return round_to(1 - product)


def round_to(value: float) -> float:
    """PromQL's round(value, 1e-12)."""
    scale = 1 / float(RATIO_RESOLUTION)
    return math.floor(value * scale + 0.5) / scale


def scenario_test(journey: ResolvedJourney, title: str, ratios: list[Fraction], missing: tuple = ()) -> dict:
    window = journey.journey.window_seconds
    started = -int(window) * 2  # history began two windows before the test: every long window is covered
    series = []
    for step, ratio in zip(journey.steps, ratios):
        for w in (*raw_windows(window), *long_windows(window)):
            series.append({"series": step_series(c.sli_error_ratio(format_duration(w)), step),
                           "values": f"{format_number(ratio)}x{SCENARIO_MINUTES}"})
        for pair in window_pairs(window):
            if fast(pair):
                bad = BAD_EVENTS_PER_SECOND if ratio else 0
                series.append({"series": step_series(c.sli_errors_rate(pair.long_text), step),
                               "values": f"{bad}x{SCENARIO_MINUTES}"})
        series.append({"series": step_series(c.SLI_HISTORY_START, step), "values": f"{started}x{SCENARIO_MINUTES}"})
        if step not in missing:
            series.append({"series": step_series(c.OBJECTIVE, step), "values": f"{format_number(step.slo.objective)}x{SCENARIO_MINUTES}"})
    series = list({s["series"]: s for s in series}.values())  # a window both raw and a pair's long one: once
    value = journey_ratio(ratios)
    burn = value / float(journey.journey.error_budget)
    expected = []
    for pair in window_pairs(window):
        if Fraction(burn) > burn_rate_threshold(pair, window):
            expected.append({"exp_labels": burn_rate_labels(journey, pair),
                             "exp_annotations": burn_rate_annotations(journey, pair, f"{burn:.1f}")})
    unrecorded = [{"exp_labels": {**step_missing_labels(journey), c.LABEL_SERVICE: s.service.name, c.LABEL_SLO: s.slo.name},
                   "exp_annotations": {**step_missing_annotations(journey), "description": step_missing_annotations(journey)[
                       "description"].replace("{{ $labels.slo }}", s.slo.name).replace("{{ $labels.service }}", s.service.name)}}
                  for s in missing]
    return {"name": f"journey {journey.journey.name}: {title}", "interval": "1m", "input_series": series,
            "alert_rule_test": [{"eval_time": f"{SCENARIO_MINUTES}m", "alertname": c.ALERT_JOURNEY_BURN, "exp_alerts": expected},
                                {"eval_time": f"{SCENARIO_MINUTES}m", "alertname": c.ALERT_JOURNEY_STEP_MISSING, "exp_alerts": unrecorded}],
            "promql_expr_test": [{"expr": journey_series(c.journey_error_ratio("5m"), journey), "eval_time": f"{SCENARIO_MINUTES}m",
                                  "exp_samples": [{"labels": f'{c.journey_error_ratio("5m")}{{{c.LABEL_JOURNEY}="{journey.journey.name}"}}',
                                                   "value": value}]}]}


def render_all(journeys: tuple[ResolvedJourney, ...], fleet_header: str) -> list[Artifact]:
    """Every journey's files in the fleet folder, and one dashboard with a row per journey."""
    artifacts = []
    for journey in journeys:
        artifacts += render(journey, fleet_header)
        artifacts.append(openslo_artifact(journey, fleet_header))
        artifacts.append(runbook_artifact(journey))
    if journeys:
        artifacts.append(dashboard_artifact(journeys))
    return artifacts


# --- runbook ------------------------------------------------------------------------------------------


def runbook_artifact(journey: ResolvedJourney) -> Artifact:
    from opgen.render.templating import md_fenced, render_template

    j, window = journey.journey, journey.journey.window_seconds
    pairs = [{"severity": p.severity, "long": p.long_text, "short": p.short_text,
              "factor": format_number(burn_rate_threshold(p, window)), "hold": format_duration(p.for_seconds),
              "lasts": format_duration(budget_lasts(p, window))} for p in window_pairs(window)]
    steps = [{"service": s.service.name, "slo": s.slo.name, "objective": f"{format_number(s.slo.objective_percent)}%",
              "runbook": c.runbook_url(s.service.runbook_base_url, s.service.name, c.alert_budget_burn(s.slo.name))}
             for s in journey.steps]
    ratios = " or ".join(step_series(c.sli_error_ratio("1h"), s) for s in journey.steps)
    text = render_template("runbooks/journey.md.j2", j=j, objective=f"{format_number(j.objective_percent)}%",
                           budget=f"{format_number(j.error_budget * 100)}%", pairs=pairs, steps=steps,
                           ceiling=percent_text(journey.ceiling_percent), dashboard=c.journey_dashboard_path(),
                           step_query=md_fenced(f"sort_desc({ratios})", "promql"), step_missing_for=STEP_MISSING_FOR)
    return Artifact(c.journey_runbook_path(j.name), text)


# --- OpenSLO ------------------------------------------------------------------------------------------


def openslo_artifact(journey: ResolvedJourney, fleet_header: str) -> Artifact:
    """The journey as OpenSLO v1: a Service, an SLO whose indicator is the recorded journey error
    ratio (ratioMetric raw, rawType failure), and a condition and policy per window pair."""
    from opgen.render import openslo

    j, window = journey.journey, journey.journey.window_seconds
    name = openslo.object_name("journey", j.name)
    target = openslo.object_name("journey", j.name, "team")
    channel = j.slack or c.DEFAULT_ALERT_CHANNEL
    objective = f"{format_number(j.objective_percent)}% over {j.window}"
    documents = [
        openslo.document("Service", {"name": name, "displayName": openslo.display_name(f"journey {j.name} ({j.team})", j.name),
                                     "labels": {c.LABEL_TEAM: j.team}}, {"description": j.description} if j.description else {}),
        openslo.document("AlertNotificationTarget", {"name": target, "annotations": {openslo.ANNOTATION_SLACK: channel}},
                         {"target": openslo.TARGET_SLACK, "description": f"Team {j.team}'s alerts, routed by the fleet's Alertmanager config."}),
    ]
    policies = []
    for pair in window_pairs(window):
        condition = openslo.object_name("journey", j.name, pair.long_text, pair.short_text)
        factor = burn_rate_threshold(pair, window)
        lasts = format_duration(budget_lasts(pair, window))
        documents.append(openslo.alert_condition(
            condition, burn_rate_labels(journey, pair),
            f"Burn rate of the {j.name} journey above {format_number(factor)} over {pair.long_text} (and over {pair.short_text}): "
            f"the whole {j.window} error budget lasts {lasts}.", pair.severity,
            op="gt", threshold=factor, lookback=pair.long, alert_after=pair.for_seconds))
        policy = openslo.object_name("journey", j.name, pair.long_text, pair.short_text, "policy")
        verb = "Pages" if pair.severity == c.SEVERITY_PAGE else "Opens a ticket"
        documents.append(openslo.document("AlertPolicy", {"name": policy}, {
            "description": f"{verb} when the {j.name} journey burns its budget faster than it would last {lasts}, over {pair.long_text}.",
            "alertWhenBreaching": True, "alertWhenResolved": False, "alertWhenNoData": False,
            "conditions": [{"conditionRef": condition}], "notificationTargets": [{"targetRef": target}]}))
        policies.append(policy)
    steps = ", ".join(f"{s.service.name}/{s.slo.name}" for s in journey.steps)
    query = journey_series(c.journey_error_ratio("5m"), journey)
    documents.insert(2, openslo.document("SLO", {
        "name": name, "displayName": openslo.display_name(f"journey {j.name}: {objective}", objective),
        "labels": {c.LABEL_JOURNEY: j.name, c.LABEL_TEAM: j.team}}, {
        **({"description": j.description} if j.description else {}),
        "service": name,
        "indicator": {"metadata": {"name": openslo.object_name("journey", j.name, "sli")}, "spec": {
            "description": f"1 - prod(1 - e) over the steps' error ratios ({steps}), as the journey's rules record it over 5m.",
            "ratioMetric": {"counter": False, "rawType": "failure",
                            "raw": {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}}}},
        "timeWindow": [{"duration": openslo.shorthand(window), "isRolling": True}],
        "budgetingMethod": "Timeslices" if journey.time_based else "Occurrences",
        "objectives": [{"displayName": objective, "target": openslo.number(j.objective_percent / 100),
                        **({"timeSliceTarget": 1, "timeSliceWindow": c.TIME_SLICE} if journey.time_based else {})}],
        "alertPolicies": [{"alertPolicyRef": p} for p in policies]}))
    text = header(journey, fleet_header) + "".join("---\n" + dump_yaml(d) for d in documents)
    return Artifact(c.journey_openslo_path(j.name), text)


# --- dashboard ----------------------------------------------------------------------------------------


def dashboard_artifact(journeys: tuple[ResolvedJourney, ...]) -> Artifact:
    """One dashboard, a row per journey: its burn rate against its page threshold, its error
    ratio, and each step's burn of the journey's budget (which step burns)."""
    import json

    from opgen.render import grafana_dashboard as g

    sections = []
    for journey in journeys:
        j = journey.journey
        budget = format_number(j.error_budget)
        page = min(burn_rate_threshold(p, j.window_seconds) for p in window_pairs(j.window_seconds) if fast(p))
        burn = g.panel("timeseries", "Journey burn rate (1h)", f"The {j.name} journey's error ratio over its budget; it pages above "
                       f"{format_number(page)} (1h with 5m).", "none",
                       [(f"{journey_series(c.journey_error_ratio('1h'), journey)} / {budget}", "1h"),
                        (f"{journey_series(c.journey_error_ratio('5m'), journey)} / {budget}", "5m")],
                       limits=[(page, "red")])
        steps = g.panel("timeseries", "Each step's burn of the journey budget (1h)",
                        "Each step's error ratio over the journey's error budget: the highest line is the step that burns.",
                        "none", [(f"{step_series(c.sli_error_ratio('1h'), s)} / {budget}", f"{s.service.name}/{s.slo.name}")
                                 for s in journey.steps], limits=[(page, "red")], width=16)
        sections.append((f"Journey {j.name} ({format_number(j.objective_percent)}% over {j.window}, team {j.team})", [burn, steps]))
    dashboard = {
        "uid": c.JOURNEY_DASHBOARD_UID, "id": None, "title": "Journeys",
        "description": "Generated by opgen from the fleet's journeys. Do not edit by hand: change the journeys and run `opgen sync`.",
        "tags": ["opgen", "journeys"], "timezone": "browser", "editable": True, "graphTooltip": 1,
        "time": {"from": "now-24h", "to": "now"}, "refresh": "1m", "schemaVersion": g.SCHEMA_VERSION,
        "templating": {"list": [g.datasource_variable()]}, "panels": g.laid_out(sections),
    }
    return Artifact(c.journey_dashboard_path(), json.dumps(dashboard, indent=2) + "\n")
