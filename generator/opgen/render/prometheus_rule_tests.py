"""ops/prometheus/<name>.rules.test.yml: promtool unit tests that prove the generated alerts.

Per SLO, scenarios with a constant error ratio from the first sample on, and the recordings'
history start set before the longest window (as on a Prometheus that has run the rules for
longer than the SLO window), so every window sees the same ratio and which alerts fire follows
from the thresholds alone:
- no errors at all (the error series never appears): the SLI reads 0, nothing fires;
- healthy: half the lowest threshold, nothing fires;
- sustainable: a burn rate of exactly 1 meets the objective, nothing fires;
- slow burn: between the ticket and the page thresholds, only ticket-severity alerts fire;
- fast burn: above the page thresholds, the page fires within its `for` plus one evaluation.
Then what the thresholds alone do not show:
- fresh deployment: the fast burn with no recorded history; the pairs over raw windows fire, the
  long windows (which count the time before their history as good) and BudgetExhausted do not;
- quiet service: one bad event among few does not page (a page needs its floor of bad events);
  a total outage at the same traffic does.
Per service: targets down; SLI series missing with no history (ticket), and vanished after
events (page); a latency or freshness threshold without its bucket (no data, its own cause).
Dependencies: their thresholds, and the page of a critical one while an SLO page is active.

With clusters (opgen-settings.yaml `clusters`), the same tests load both rule files (one cluster,
whose recordings carry no cluster label, as promtool sets no external_labels), and
<name>.global.rules.test.yml feeds the global file two clusters' recordings: one burning, one
healthy; the burning one pages with its cluster label, the SLO's ratio is request-weighted.

Inputs are the raw metrics the SLI reads when they can be written as literal series (the metric
contract, or an events SLI of the form sum(rate(metric{label="value"}[{{window}}]))). Otherwise
the scenario feeds the SLI recordings themselves, labelled as an older opgen recorded them (with
team and tier, which the rules must still read): that proves the alert logic, not the user's query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from opgen import conventions as c
from opgen import promql
from opgen.alerts import (
    declared_event_rate,
    dependency_pages,
    fast_pairs,
    has_dependency_alerts,
    is_scraped,
    page_min_bad_events,
)
from opgen.descriptor.checks import WINDOW_PLACEHOLDER
from opgen.descriptor.model import SLO, Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render import prometheus_rules as rules
from opgen.render.yaml_output import dump_yaml
from opgen.slo.durations import format_duration
from opgen.slo.numbers import format_number
from opgen.slo.sli import counts_events, le_values
from opgen.slo.windows import EXHAUSTED_FOR, RAW_WINDOW_LIMIT, WindowPair, burn_rate_threshold, raw_windows, window_pairs

EVALUATION_INTERVAL_MINUTES = 1
SCENARIO_MINUTES = 25  # longer than every `for`, plus the first rate's sample
FIRST_RATE_MINUTE = 1  # a rate() needs two samples
MARGIN = Fraction(11, 10)  # a burn rate tested against a threshold stays this far from it


@dataclass(frozen=True)
class Scenario:
    title: str
    burn_rate: Fraction  # error ratio / error budget, constant over the scenario


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    tests = []
    for slo in service.slos:
        tests += [slo_test(service, slo, s) for s in scenarios(slo)]
        tests += fresh_deployment_tests(service, slo)
        tests += quiet_service_tests(service, slo)
        tests += renamed_slo_tests(service, slo)
    tests += no_data_tests(service)
    tests += dependency_tests(service)
    tests += saturation_tests(service)
    evaluations = (c.EVALUATION_CLUSTER, c.EVALUATION_GLOBAL) if service.cluster_label else (None,)
    artifacts = [test_file(context, None, [c.rules_path(service.name, e) for e in evaluations], tests)]
    global_tests = [t for slo in service.slos for t in two_cluster_tests(service, slo)] if service.cluster_label else []
    if global_tests:
        artifacts.append(test_file(context, c.EVALUATION_GLOBAL, [c.rules_path(service.name, c.EVALUATION_GLOBAL)], global_tests))
    return artifacts


def test_file(context: RenderContext, evaluation: str | None, rule_files: list[str], tests: list[dict]) -> Artifact:
    document = {
        "rule_files": [path.rsplit("/", 1)[-1] for path in rule_files],
        "evaluation_interval": f"{EVALUATION_INTERVAL_MINUTES}m",
        "tests": tests,
    }
    path = c.rules_test_path(context.service.name, evaluation)
    header = generated_header(context) + "# Run: promtool test rules " + path.rsplit("/", 1)[-1] + "\n"
    return Artifact(path, dump_yaml(document, header))


# --- which burn rates to test --------------------------------------------------------------------


def thresholds(slo: SLO) -> dict[str, list[Fraction]]:
    """Burn-rate thresholds of the fast (workbook page) pairs and the slow ones, budget exhaustion (1) among them."""
    fast = set(fast_pairs(slo))
    limits: dict[str, list[Fraction]] = {"fast": [], "slow": [Fraction(1)]}
    for pair in window_pairs(slo.window_seconds):
        limits["fast" if pair in fast else "slow"].append(burn_rate_threshold(pair, slo.window_seconds))
    return limits


def scenarios(slo: SLO) -> list[Scenario]:
    limits = thresholds(slo)
    most = 1 / slo.error_budget  # every event bad
    result = [
        Scenario("every minute good: the latest run succeeded just now, the SLI reads 0 and nothing fires"
                 if slo.sli.time_based else
                 "no errors at all (the error series never appears): the SLI reads 0 and nothing fires", Fraction(0)),
        Scenario("healthy: errors at half the lowest threshold fire nothing",
                 _round_tenths(min(limits["fast"] + limits["slow"]) / 2)),
    ]
    if not slo.sli.time_based:  # minutes are all good or all bad: no burn rate of 1
        result.append(Scenario("sustainable: a burn rate of 1 meets the objective, nothing fires", Fraction(1)))
    fast = fast_burn_rate(slo)
    low, high = max(limits["slow"]), min(limits["fast"])
    slow = _round_tenths((low + high) / 2)
    if low * MARGIN <= slow <= high / MARGIN and slow <= most:
        result.append(Scenario("slow burn: only the slow pairs fire (tickets)", slow))
    if fast is not None:
        result.append(Scenario("fast burn: the page fires within its `for` plus one evaluation", fast))
    if slo.sli.time_based and fast != most:
        # Time-based inputs can only be written as literal series when every minute is good or
        # every minute is bad; this scenario is the one that proves the raw query.
        result.append(Scenario("every minute bad: the job is failed or overdue from the start", most))
    return result


def fast_burn_rate(slo: SLO) -> Fraction | None:
    """1.5 x the highest fast threshold, rounded up, at most every event bad; None when no fast pair can be beaten by 10 %."""
    limits = thresholds(slo)["fast"]
    fast = min(1 / slo.error_budget, Fraction(math.ceil(max(limits) * Fraction(3, 2))))
    return fast if any(limit * MARGIN <= fast for limit in limits) else None


def _round_tenths(value: Fraction) -> Fraction:
    """A burn rate with one decimal, so printed values are far from rounding boundaries."""
    return max(Fraction(1, 10), Fraction(round(value * 10), 10)) if value else Fraction(0)


# --- one SLO scenario ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    series: list[dict]
    first_minute: int  # the first minute the SLI recordings have a value
    raw: bool  # the raw metrics (else the recordings themselves)


def slo_inputs(service: Service, slo: SLO, traffic: Traffic, history: bool = True) -> Inputs | None:
    """The scenario's series: raw when they can be written, else the recordings (constant traffic
    only, else None); with `history`, the start of the recordings' history before the SLO window,
    so every long window is covered."""
    series = raw_input_series(service, slo, traffic)
    inputs = Inputs(series, 0 if slo.sli.time_based else FIRST_RATE_MINUTE, True)
    if series is None:
        if traffic.constant_rates is None:
            return None
        inputs = Inputs(recorded_input_series(service, slo, traffic), 0, False)
    if history:
        start = _series(c.SLI_HISTORY_START, list(rules.recording_labels(service, slo).items()))
        inputs.series.append({"series": start, "values": f"{format_number(-slo.window_seconds)}x{traffic.minutes}"})
    return inputs


def slo_test(service: Service, slo: SLO, scenario: Scenario) -> dict:
    error_ratio = scenario.burn_rate * slo.error_budget
    per_minute = _events_per_minute(error_ratio)
    bad = int(error_ratio * per_minute)
    minutes = SCENARIO_MINUTES
    traffic = Traffic.constant(per_minute - bad, bad, minutes, prometheus3=scenario.burn_rate > 2)
    inputs = slo_inputs(service, slo, traffic)
    first_minute = inputs.first_minute

    burn_alert, exhausted_alert = c.alert_budget_burn(slo.name), c.alert_budget_exhausted(slo.name)
    checks = []
    page_for = min(p.for_seconds for p in fast_pairs(slo)) // 60
    firing_at_end = expected_burn_alerts(service, slo, scenario, bad, minutes, inputs)
    if scenario.burn_rate and any(e["exp_labels"][c.LABEL_LONG_WINDOW] in {p.long_text for p in fast_pairs(slo)}
                                  for e in firing_at_end):
        # Before the fast pair's `for` has passed nothing fires; one evaluation after it, it does.
        checks.append({"eval_time": f"{first_minute + page_for - 1}m", "alertname": burn_alert, "exp_alerts": []})
        early = first_minute + page_for + 1
        checks.append({"eval_time": f"{early}m", "alertname": burn_alert,
                       "exp_alerts": expected_burn_alerts(service, slo, scenario, bad, early, inputs)})
    checks.append({"eval_time": f"{minutes}m", "alertname": burn_alert, "exp_alerts": firing_at_end})
    checks.append({"eval_time": f"{minutes}m", "alertname": exhausted_alert,
                   "exp_alerts": expected_exhausted_alerts(service, slo, scenario, minutes, first_minute)})

    test = {
        "name": f"{slo.name}: {scenario.title}",
        "interval": f"{EVALUATION_INTERVAL_MINUTES}m",
        "input_series": inputs.series,
        "alert_rule_test": checks,
    }
    if not bad and inputs.raw:
        test["promql_expr_test"] = [ratio_is_zero(service, slo, window, minutes) for window in ("5m", slo.window)]
    return test


def _events_per_minute(error_ratio: Fraction) -> int:
    """Whole numbers of events per minute that give exactly this error ratio (at least 1000)."""
    base = error_ratio.denominator
    return base * max(1, math.ceil(1000 / base))


def active_from(service: Service, slo: SLO, pair: WindowPair, bad_per_minute: int, first_minute: int, raw: bool) -> int | None:
    """The first minute at which a pair's condition can hold, at a constant bad-event rate: a fast
    pair waits for its floor of bad events (None: never reached)."""
    floor = page_min_bad_events(service, slo)
    if floor is None or pair not in fast_pairs(slo) or not bad_per_minute:
        return first_minute
    if raw:  # the counters start at 0: the bad events so far reach the floor
        return max(first_minute, math.ceil(Fraction(floor, bad_per_minute)))
    return first_minute if bad_per_minute * pair.long / 60 >= floor else None  # recorded rates: a whole window's worth


def expected_burn_alerts(service: Service, slo: SLO, scenario: Scenario, bad_per_minute: int, minute: int,
                         inputs: Inputs, cluster: str = "") -> list[dict]:
    """`cluster`: the cluster label of the burning series (with clusters; "" is none)."""
    expected = []
    for pair in window_pairs(slo.window_seconds):
        start = active_from(service, slo, pair, bad_per_minute, inputs.first_minute, inputs.raw)
        held = start is not None and minute - start >= pair.for_seconds / 60
        if scenario.burn_rate > burn_rate_threshold(pair, slo.window_seconds) and held:
            labels = rules.burn_rate_labels(service, slo, pair)
            expected.append({
                "exp_labels": {**labels, service.cluster_label: cluster} if cluster else labels,
                "exp_annotations": rules.burn_rate_annotations(
                    service, slo, pair, f"{float(scenario.burn_rate):.1f}", _time_left(slo, scenario),
                    cluster if service.cluster_label else None),
            })
    return expected


def _time_left(slo: SLO, scenario: Scenario) -> str:
    """What humanizeDuration prints for the remaining budget. Every scenario that fires burns more
    than 1x from the first sample (slow burn sits above budget exhaustion), so none is left."""
    return "0s"


def expected_exhausted_alerts(service: Service, slo: SLO, scenario: Scenario, minute: int, first_minute: int) -> list[dict]:
    if scenario.burn_rate <= 1 or minute - first_minute < EXHAUSTED_FOR / 60:
        return []
    spent = f"{float(scenario.burn_rate) * 100:.4g}%"
    return [{"exp_labels": rules.exhausted_labels(service, slo),
             "exp_annotations": rules.exhausted_annotations(service, slo, spent)}]


def ratio_is_zero(service: Service, slo: SLO, window: str, minute: int) -> dict:
    name = c.sli_error_ratio(window)
    labels = ",".join(promql.matcher(k, v) for k, v in rules.recording_labels(service, slo).items())
    return {
        "expr": rules.slo_series(name, service, slo),
        "eval_time": f"{minute}m",
        "exp_samples": [{"labels": f"{name}{{{labels}}}", "value": 0}],
    }


def firing(service: Service, slo: SLO, minute: int, expected: dict[tuple[str, str, str], int],
           windows: tuple[str, ...] = ()) -> dict:
    """A check on ALERTS: how many burn and exhausted alerts of the SLO fire, by severity and long
    window (exhausted: none), only over `windows` when given. For scenarios whose annotations
    depend on rounding, or that are about some pairs only."""
    names = f"{c.alert_budget_burn(slo.name)}|{c.alert_budget_exhausted(slo.name)}"
    only = f',{promql.matcher(c.LABEL_LONG_WINDOW, "|".join(windows), "=~")}' if windows else ""
    expr = (f'count by (alertname, severity, long_window) (ALERTS{{alertname=~"{names}",alertstate="firing",'
            f'{promql.matcher(c.LABEL_SERVICE, service.name)},{promql.matcher(c.LABEL_SLO, slo.name)}{only}}})')
    samples = []
    for (alert, severity, window), count in sorted(expected.items()):
        labels = {"alertname": alert, c.LABEL_SEVERITY: severity, **({c.LABEL_LONG_WINDOW: window} if window else {})}
        samples.append({"labels": "{" + ",".join(promql.matcher(k, v) for k, v in sorted(labels.items())) + "}", "value": count})
    return {"expr": expr, "eval_time": f"{minute}m", "exp_samples": samples}


# --- clusters: the global file over two clusters' recordings -------------------------------------

# Two clusters of unequal traffic (events per second): a mean of their ratios would differ from the
# request-weighted one the SLO must be.
CLUSTERS = (("a", 100), ("b", 300))


def two_cluster_tests(service: Service, slo: SLO) -> list[dict]:
    """Each cluster in turn burns fast while the other is healthy: only the burning one pages, with
    its cluster label; the SLO (its window's ratio, BudgetExhausted) is global and request-weighted."""
    burn = fast_burn_rate(slo)
    if burn is None:
        return []
    tests = []
    minutes = SCENARIO_MINUTES
    for burning, _ in CLUSTERS:
        ratios = {name: burn * slo.error_budget if name == burning else Fraction(0) for name, _ in CLUSTERS}
        series = [s for name, per_second in CLUSTERS for s in cluster_series(service, slo, name, per_second, ratios[name], minutes)]
        start = _series(c.SLI_HISTORY_START, list(rules.recording_labels(service, slo).items()))
        series.append({"series": start, "values": f"{format_number(-slo.window_seconds)}x{minutes}"})
        per_second = dict(CLUSTERS)
        bad_per_minute = int(ratios[burning] * per_second[burning] * 60)
        inputs = Inputs(series, 0, False)
        weighted = sum(ratios[n] * per_second[n] for n in per_second) / sum(per_second.values())
        scenario = Scenario("", burn)
        tests.append({
            "name": f"{slo.name}: clusters: {burning} burns fast, the other is healthy: {burning} pages, the SLO is global",
            "interval": f"{EVALUATION_INTERVAL_MINUTES}m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": f"{minutes}m", "alertname": c.alert_budget_burn(slo.name),
                 "exp_alerts": expected_burn_alerts(service, slo, scenario, bad_per_minute, minutes, inputs, burning)},
                {"eval_time": f"{minutes}m", "alertname": c.alert_budget_exhausted(slo.name),
                 "exp_alerts": expected_exhausted_alerts(service, slo, Scenario("", weighted / slo.error_budget), minutes, 0)},
            ],
            "promql_expr_test": [{
                "expr": rules.slo_series(c.sli_error_ratio(slo.window), service, slo),
                "eval_time": f"{minutes}m",
                "exp_samples": [{"labels": _series(c.sli_error_ratio(slo.window), list(rules.recording_labels(service, slo).items())),
                                 "value": float(weighted)}],
            }],
        })
    return tests


def cluster_series(service: Service, slo: SLO, cluster: str, per_second: int, error_ratio: Fraction, minutes: int) -> list[dict]:
    """One cluster's raw-window recordings, as its Prometheus ships them (with its cluster label):
    events per second, or in the window for an SLI that counts them."""
    labels = list(rules.recording_labels(service, slo).items()) + [(service.cluster_label, cluster)]
    series = []
    for window in raw_windows(slo.window_seconds):
        text = format_duration(window)
        events = per_second * (window if counts_events(slo) else 1)
        for metric, value in ((c.sli_requests_rate(text), events), (c.sli_errors_rate(text), error_ratio * events),
                              (c.sli_error_ratio(text), error_ratio)):
            series.append({"series": _series(metric, labels), "values": f"{format_number(value)}x{minutes}"})
    return series


# --- fresh deployment: no recorded history -----------------------------------------------------


def fresh_deployment_tests(service: Service, slo: SLO) -> list[dict]:
    """The fast burn on a Prometheus that has just loaded the rules: the pairs over raw windows
    fire as ever, the long windows count the unrecorded time as good and stay quiet, and so does
    BudgetExhausted. Left out when a long window would come near its threshold within the scenario."""
    burn = fast_burn_rate(slo)
    if burn is None:
        return []
    error_ratio = burn * slo.error_budget
    per_minute = _events_per_minute(error_ratio)
    bad = int(error_ratio * per_minute)
    raw = [p for p in window_pairs(slo.window_seconds) if p.long <= RAW_WINDOW_LIMIT and burn > burn_rate_threshold(p, slo.window_seconds)]
    first = 0 if slo.sli.time_based else FIRST_RATE_MINUTE
    starts = [active_from(service, slo, p, bad, first, raw=True) for p in raw]
    if None in starts:
        return []
    # Long enough for the raw pairs' `for`, once they can hold (a fast pair after its floor of bad events).
    minutes = max((s + int(p.for_seconds // 60) for s, p in zip(starts, raw)), default=SCENARIO_MINUTES - 3) + 3
    inputs = slo_inputs(service, slo, Traffic.constant(per_minute - bad, bad, minutes, prometheus3=True), history=False)
    if inputs.first_minute != first:
        return []
    covered = Fraction(minutes - inputs.first_minute + 1) * 60  # at most, whichever group runs first
    for pair in window_pairs(slo.window_seconds):
        if pair.long > RAW_WINDOW_LIMIT and burn * covered / pair.long * MARGIN >= burn_rate_threshold(pair, slo.window_seconds):
            return []
    expected = {(c.alert_budget_burn(slo.name), rules.burn_rate_labels(service, slo, p)[c.LABEL_SEVERITY], p.long_text): 1
                for p in raw}
    if burn * covered / slo.window_seconds * MARGIN >= 1:
        return []
    return [{
        "name": f"{slo.name}: fresh deployment: the fast burn with no recorded history fires only the raw-window pairs",
        "interval": f"{EVALUATION_INTERVAL_MINUTES}m",
        "input_series": inputs.series,
        "promql_expr_test": [firing(service, slo, minutes, expected)],
    }]


# --- renamed SLO: the history of its previous names ---------------------------------------------


def renamed_slo_tests(service: Service, slo: SLO) -> list[dict]:
    """An SLO with previous_names: 5m recordings written under its first previous name, burning the
    whole budget twice over, still count in its SLO window: BudgetExhausted fires under its name."""
    if not slo.previous_names:
        return []
    old = {**rules.recording_labels(service, slo), c.LABEL_SLO: slo.previous_names[0]}
    requests = 1 if slo.sli.time_based else 10
    errors = min(Fraction(requests), 2 * slo.error_budget * requests)
    minutes = SCENARIO_MINUTES
    series = [
        {"series": _series(c.SLI_REQUESTS_RATE5M, list(old.items())), "values": f"{requests}x{minutes}"},
        {"series": _series(c.SLI_ERRORS_RATE5M, list(old.items())), "values": f"{format_number(errors)}x{minutes}"},
        {"series": _series(c.SLI_HISTORY_START, list(rules.recording_labels(service, slo).items())),
         "values": f"{format_number(-slo.window_seconds)}x{minutes}"},
    ]
    return [{
        "name": f"{slo.name}: renamed from {slo.previous_names[0]}: the history recorded under the old name counts",
        "interval": f"{EVALUATION_INTERVAL_MINUTES}m",
        "input_series": series,
        "promql_expr_test": [firing(service, slo, minutes, {(c.alert_budget_exhausted(slo.name), c.SEVERITY_TICKET, ""): 1})],
    }]


# --- quiet service: the bad-event floor of pages -------------------------------------------------


def quiet_service_tests(service: Service, slo: SLO) -> list[dict]:
    """At a trickle of traffic one bad event is above both thresholds of the first page pair, but
    below the pages' floor of bad events: no page. The trickle is the declared event rate when it
    is that quiet, else one made up for the test. A total outage at the declared rate pages through
    every fast pair whose long window holds the floor, once that many events have failed."""
    floor = page_min_bad_events(service, slo)
    if floor is None:
        return []
    first = fast_pairs(slo)[0]
    threshold = burn_rate_threshold(first, slo.window_seconds) * slo.error_budget  # as an error ratio

    def one_failure_fires(per_minute: Fraction) -> bool:
        return all(1 / (per_minute * window / 60) > threshold * MARGIN for window in (first.long, first.short))

    declared = declared_event_rate_per_minute(service, slo)
    trickle = declared if declared is not None and one_failure_fires(declared) else \
        Fraction(math.floor(Fraction(60) / (2 * threshold * first.long) * 100), 100)  # two decimals
    if not trickle or not one_failure_fires(trickle):
        return []
    # The outage: at the declared rate, where the floor is reached within a tenth of the first page
    # window by construction; with no rate declared, fast enough to reach it in five minutes.
    outage_rate = declared if declared is not None else Fraction(floor, 5)
    reached = max(FIRST_RATE_MINUTE, math.ceil(floor / outage_rate))  # the minute the outage has failed `floor` events
    paging = [p for p in fast_pairs(slo) if outage_rate * p.long / 60 >= floor]  # windows that can hold the floor
    if not paging:
        return []
    quiet_minutes = 12
    minutes = reached + max(int(p.for_seconds // 60) for p in paging) + 3
    one = Traffic(tuple(trickle for _ in range(quiet_minutes)), tuple(Fraction(i == 3) for i in range(quiet_minutes)))
    outage = Traffic(tuple(Fraction(0) for _ in range(minutes)), tuple(outage_rate for _ in range(minutes)))
    one_inputs, outage_inputs = slo_inputs(service, slo, one, history=False), slo_inputs(service, slo, outage, history=False)
    if one_inputs is None or outage_inputs is None or not outage_inputs.raw:
        return []
    fast = tuple(p.long_text for p in fast_pairs(slo))
    pages = {(c.alert_budget_burn(slo.name), rules.burn_rate_labels(service, slo, p)[c.LABEL_SEVERITY], p.long_text): 1
             for p in paging}
    return [
        {
            "name": f"{slo.name}: quiet service: one bad event among {format_number(trickle)} per minute pages nobody "
                    f"(floor: {floor})",
            "interval": f"{EVALUATION_INTERVAL_MINUTES}m",
            "input_series": one_inputs.series,
            "promql_expr_test": [firing(service, slo, m, {}, fast) for m in (6, quiet_minutes)],
        },
        {
            "name": f"{slo.name}: quiet service: a total outage at {format_number(outage_rate)} events per minute pages "
                    f"once {floor} have failed",
            "interval": f"{EVALUATION_INTERVAL_MINUTES}m",
            "input_series": outage_inputs.series,
            "promql_expr_test": [firing(service, slo, minutes, pages, fast)],
        },
    ]


def declared_event_rate_per_minute(service: Service, slo: SLO) -> Fraction | None:
    rate = declared_event_rate(service, slo)
    return None if rate is None else rate * 60


# --- input series -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """Good and bad events, minute by minute: the increments of the SLI's counters from minute 1
    (every counter is 0 at minute 0)."""

    good: tuple[Fraction, ...]
    bad: tuple[Fraction, ...]
    prometheus3: bool = False  # write a whole-second `le` as Prometheus 3 does ("1.0")

    @classmethod
    def constant(cls, good: int, bad: int, minutes: int, prometheus3: bool = False) -> Traffic:
        return cls(tuple(Fraction(good) for _ in range(minutes)), tuple(Fraction(bad) for _ in range(minutes)), prometheus3)

    @property
    def minutes(self) -> int:
        return len(self.good)

    @property
    def total(self) -> tuple[Fraction, ...]:
        return tuple(g + b for g, b in zip(self.good, self.bad))

    @property
    def constant_rates(self) -> tuple[Fraction, Fraction] | None:
        """(total, bad) per minute when both are the same every minute."""
        if len(set(self.good)) == 1 and len(set(self.bad)) == 1:
            return self.total[0], self.bad[0]
        return None


def counter(increments: tuple[Fraction, ...]) -> str:
    """Promtool's expanding notation for a counter that is 0 at minute 0 and grows by `increments`,
    one run (`start+stepxN`) per stretch of equal increments."""
    if increments and increments.count(increments[0]) == len(increments):  # the common case: one run
        return f"0+{format_number(increments[0])}x{len(increments)}"
    runs, value, i = [], Fraction(0), 0
    first = True
    while i < len(increments):
        step = increments[i]
        j = i
        while j < len(increments) and increments[j] == step:
            j += 1
        start = value if first else value + step
        count = j - i if first else j - i - 1
        runs.append(f"{format_number(start)}+{format_number(step)}x{count}")
        value += step * (j - i)
        first, i = False, j
    return " ".join(runs)


def raw_input_series(service: Service, slo: SLO, traffic: Traffic) -> list[dict] | None:
    """The metrics the SLI reads, as literal series; None when they cannot be written that way."""
    sli = slo.sli
    if sli.kind == "events":
        errors, totals = simple_counter(sli.errors_promql), simple_counter(sli.total_promql)
        if errors is None or totals is None or errors == totals:
            return None
        series = [{"series": _series(totals[0], totals[1]), "values": counter(traffic.total)}]
        if any(traffic.bad):
            series.append({"series": _series(errors[0], errors[1]), "values": counter(traffic.bad)})
        return series

    base = selector_labels(service.selector)
    if base is None:
        return None
    if sli.time_based:
        return job_input_series(service, slo, base, traffic)
    if sli.kind == "freshness":
        return histogram_input_series(c.MESSAGE_AGE, base + list(c.MESSAGE_AGE_EXAMPLE), sli.threshold_seconds, traffic)
    metric = c.REQUEST_METRICS[sli.interface]
    ok = base + list(metric.ok_example)
    if sli.kind == "availability":
        # Bad events are spread over every kind of failure (a 5xx, a request that got no answer).
        series = [{"series": _series(metric.count, ok), "values": counter(traffic.good)}]
        kinds = metric.failed_examples
        whole = all(b.denominator == 1 for b in traffic.bad)
        for index, failed in enumerate(kinds):
            if whole:
                share = tuple(b // len(kinds) + (1 if index < b % len(kinds) else 0) for b in traffic.bad)
            else:
                share = traffic.bad if index == 0 else tuple(Fraction(0) for _ in traffic.bad)
            if any(share):
                series.append({"series": _series(metric.count, base + list(failed)), "values": counter(share)})
        return series
    return histogram_input_series(metric, ok, sli.threshold_seconds, traffic)


def histogram_input_series(metric: c.DurationHistogram, labels: list[tuple[str, str]], threshold: Fraction,
                           traffic: Traffic) -> list[dict]:
    """Bad observations are above the threshold, so they sit only in the +Inf bucket."""
    le = le_values(threshold)
    le_text = le[-1] if traffic.prometheus3 else le[0]  # Prometheus 3 writes "1.0" where 2 writes "1"
    return [
        {"series": _series(metric.count, labels), "values": counter(traffic.total)},
        {"series": _series(metric.bucket, labels + [("le", le_text)]), "values": counter(traffic.good)},
        {"series": _series(metric.bucket, labels + [("le", "+Inf")]), "values": counter(traffic.total)},
    ]


def job_input_series(service: Service, slo: SLO, base: list[tuple[str, str]], traffic: Traffic) -> list[dict] | None:
    """The job's pushed gauges, when every minute is good or every minute is bad; None otherwise.

    Test time starts at the Unix epoch, so a gauge of `0+60x…` is "now" at every evaluation.
    Good: the latest run succeeded just now. Bad, job-success: runs keep completing, the last
    success stays at the epoch. Bad, job-on-time: the last success is older than the threshold."""
    rates = traffic.constant_rates
    if rates is None or rates[1] not in (0, rates[0]):
        return None
    bad, minutes = rates[1], traffic.minutes
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


def recorded_input_series(service: Service, slo: SLO, traffic: Traffic) -> list[dict]:
    """The raw-window recordings as constant series, for SLIs whose raw inputs cannot be
    synthesised; labelled with team and tier as an older opgen recorded them, so they never
    collide with what the rules record (`service` and `slo` alone) and prove the rules read both."""
    total, bad = traffic.constant_rates
    labels = list(rules.slo_labels(service, slo).items())
    requests = 1 if slo.sli.time_based else total / 60
    errors = Fraction(bad, total) * requests
    series = []
    for window in raw_windows(slo.window_seconds):
        text = format_duration(window)
        series += [
            {"series": _series(c.sli_requests_rate(text), labels), "values": f"{format_number(requests)}x{traffic.minutes}"},
            {"series": _series(c.sli_errors_rate(text), labels), "values": f"{format_number(errors)}x{traffic.minutes}"},
        ]
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
        tests.append({
            "name": "no data: no target now nor in the last day (not deployed yet, or never scraped) is a ticket",
            "interval": "1m",
            "input_series": [{"series": "unrelated_series", "values": "1x30"}],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": c.ALERT_NO_DATA, "exp_alerts": []},
                {"eval_time": "20m", "alertname": c.ALERT_NO_DATA, "exp_alerts": [_no_data(service, rules.NO_DATA_TARGETS_MISSING)]},
            ],
        })
    if not service.slos:
        return tests
    targets = [{"series": up, "values": "1x40"}] if scraped else [{"series": "unrelated_series", "values": "1x40"}]
    tests.append({
        "name": "no data: no SLI series, and no events in the last day (a fresh or idle service), is a ticket",
        "interval": "1m",
        "input_series": targets,
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": c.ALERT_NO_DATA, "exp_alerts": []},
            {"eval_time": "20m", "alertname": c.ALERT_NO_DATA,
             "exp_alerts": [_no_data(service, rules.NO_DATA_SLI_MISSING, slo) for slo in service.slos]},
        ],
    })
    recorded = [{"series": _series(c.SLI_REQUESTS_RATE5M, list(rules.recording_labels(service, slo).items())),
                 "values": "5x10"} for slo in service.slos]
    tests.append({
        "name": "no data: SLI series that counted events and vanish " + ("while targets are up " if scraped else "")
                + "fire SLONoData (a page for SLOs that page)",
        "interval": "1m",
        "input_series": targets + recorded,
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": c.ALERT_NO_DATA, "exp_alerts": []},
            {"eval_time": "40m", "alertname": c.ALERT_NO_DATA,
             "exp_alerts": [_no_data(service, rules.NO_DATA_SLI_VANISHED, slo) for slo in service.slos]},
        ],
    })
    tests += missing_bucket_tests(service, labels, targets)
    return tests


def missing_bucket_tests(service: Service, labels: list[tuple[str, str]], targets: list[dict]) -> list[dict]:
    """Latency and freshness SLIs over a histogram without a bucket at the threshold: the SLI has no
    data (not 100 % bad), no burn alert fires, and SLONoData names the cause."""
    tests = []
    for slo in service.slos:
        metric = rules.threshold_histogram(slo)
        if metric is None:
            continue
        extra = list(c.MESSAGE_AGE_EXAMPLE) if metric is c.MESSAGE_AGE else list(c.REQUEST_METRICS[slo.sli.interface].ok_example)
        other = format_number(slo.sli.threshold_seconds * 2)  # a boundary, not the threshold's
        series = [
            {"series": _series(metric.count, labels + extra), "values": "0+100x40"},
            {"series": _series(metric.bucket, labels + extra + [("le", other)]), "values": "0+100x40"},
            {"series": _series(metric.bucket, labels + extra + [("le", "+Inf")]), "values": "0+100x40"},
        ]
        tests.append({
            "name": f"{slo.name}: no bucket at the threshold: the SLI has no data, no burn alert, SLONoData says why",
            "interval": "1m",
            "input_series": targets + series,
            "alert_rule_test": [{"eval_time": "20m", "alertname": c.alert_budget_burn(slo.name), "exp_alerts": []}],
            "promql_expr_test": [
                {"expr": rules.slo_series(c.sli_error_ratio("5m"), service, slo), "eval_time": "20m", "exp_samples": []},
                {"expr": f'count by (slo, severity) (ALERTS{{alertname="{c.ALERT_NO_DATA}",alertstate="firing",'
                         f'{promql.matcher(c.LABEL_CAUSE, rules.NO_DATA_BUCKET_MISSING)}}})',
                 "eval_time": "20m", "exp_samples": [{
                     "labels": "{" + f"{promql.matcher(c.LABEL_SEVERITY, rules.no_data_severity(rules.NO_DATA_BUCKET_MISSING, slo))},"
                               f"{promql.matcher(c.LABEL_SLO, slo.name)}" + "}", "value": 1}]},
            ],
        })
    return tests


def _no_data(service: Service, cause: str, slo: SLO | None = None) -> dict:
    return {"exp_labels": rules.no_data_labels(service, cause, slo),
            "exp_annotations": rules.no_data_annotations(service, cause, slo)}


# --- dependencies ----------------------------------------------------------------------------------

CALLS_PER_MINUTE = 600


def dependency_tests(service: Service) -> list[dict]:
    """Calls well within each dependency's thresholds fire nothing; failing and slow calls open a
    ticket per dependency; while a burn page of the service is active, a critical dependency's
    alerts page instead (the likely cause), and the others stay tickets."""
    base = selector_labels(service.selector)
    if not has_dependency_alerts(service) or base is None:
        return []
    tests = [
        dependency_test(service, base, "dependencies: failures at a fifth of each threshold, fast calls: nothing fires",
                        failing=False),
        dependency_test(service, base, "dependencies: failing and slow calls, no SLO paging: a ticket for each",
                        failing=True),
    ]
    if any(dependency_pages(service, d) for d in service.dependencies):
        tests.append(dependency_test(service, base, "dependencies: failing and slow calls while an SLO pages: "
                                                    "critical ones page (the likely cause), the others stay tickets",
                                     failing=True, slo_paging=True))
    return tests


def dependency_test(service: Service, base: list[tuple[str, str]], title: str, failing: bool,
                    slo_paging: bool = False) -> dict:
    series, errors, latency = [], [], []
    for dependency in service.dependencies:
        metric = c.DEPENDENCY_METRICS[dependency.kind]
        labels = base + [(c.PEER_LABEL, dependency.name)] + ([metric.system] if metric.system else [])
        share = min(Fraction(9, 10), dependency.error_ratio_threshold * 2) if failing else dependency.error_ratio_threshold / 5
        failed = math.ceil(share * CALLS_PER_MINUTE) if failing else math.floor(share * CALLS_PER_MINUTE)
        threshold = dependency.latency_threshold_seconds
        ok, bad = labels + list(metric.ok_example), labels + list(metric.failed_example)
        series += [
            {"series": _series(metric.count, ok), "values": counter((Fraction(CALLS_PER_MINUTE - failed),) * SCENARIO_MINUTES)},
            {"series": _series(metric.count, bad), "values": counter((Fraction(failed),) * SCENARIO_MINUTES)},
        ]
        fast_calls = 0 if failing else CALLS_PER_MINUTE
        for le, calls in ((threshold, fast_calls), (threshold * 10, CALLS_PER_MINUTE), (None, CALLS_PER_MINUTE)):
            le_text = "+Inf" if le is None else format_number(le)
            series.append({"series": _series(metric.bucket, ok + [("le", le_text)]),
                           "values": counter((Fraction(calls),) * SCENARIO_MINUTES)})
        if failing:
            severity = c.SEVERITY_PAGE if slo_paging and dependency_pages(service, dependency) else c.SEVERITY_TICKET
            labels_of = rules.dependency_labels(service, dependency, severity)
            errors.append({"exp_labels": labels_of, "exp_annotations": rules.dependency_error_annotations(
                service, dependency, f"{failed / CALLS_PER_MINUTE * 100:.4g}%", severity)})
            p99 = float(threshold) + float(threshold * 9) * 0.99  # histogram_quantile inside the (t, 10t] bucket
            latency.append({"exp_labels": labels_of, "exp_annotations": rules.dependency_latency_annotations(
                service, dependency, f"{p99:.4g}s", severity)})
    if slo_paging:
        paging = next(slo for slo in service.slos if slo.pages)
        alert = [(k, v) for k, v in rules.slo_labels(service, paging).items()] + [
            ("alertname", c.alert_budget_burn(paging.name)), (c.LABEL_SEVERITY, c.SEVERITY_PAGE), ("alertstate", "firing")]
        series.append({"series": _series("ALERTS", alert), "values": f"1x{SCENARIO_MINUTES}"})
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
        {"series": _series(c.K8S_CPU_USAGE, container), "values": counter((Fraction(int(level * 60)),) * minutes)},  # level cores
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
