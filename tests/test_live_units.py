"""The pure parts of the live commands: backtest's rewriting of alert expressions (every recording
they read becomes what it records, as PromQL the parser accepts, for the rules opgen renders from
every test descriptor), its pending -> firing -> resolved logic, and the times commands take."""

from pathlib import Path

import promql_parser
import pytest

from opgen.live.backtest import Episode, alerts_series, fire
from opgen.live.expand import CannotExpand, Expander, Recording
from opgen.live.times import format_time, parse_time
from opgen.live.selectors import selectors_in
from opgen.render.prometheus_rules import rule_groups
from opgen.sync.run import load_services

DESCRIPTORS = sorted((Path(__file__).parent / "descriptors").glob("*.yaml"))
ERRORS = Recording("slo:errors:rate5m", 'sum(rate(req{job="a",code=~"5.."}[5m]))', (("service", "a"), ("slo", "x")), "1m")
REQUESTS = Recording("slo:requests:rate5m", 'sum(rate(req{job="a"}[5m]))', (("service", "a"), ("slo", "x")), "1m")
OTHER = Recording("slo:requests:rate5m", "vector(1)", (("service", "b"), ("slo", "x")), "30s")


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda p: p.stem)
def test_every_generated_alert_expands_to_raw_series(descriptor):
    service = load_services([descriptor], reuse=False)[0].service
    groups = rule_groups(service)
    recordings = [Recording(r["record"], r["expr"], tuple(sorted(r["labels"].items())), "1m")
                  for g in groups for r in g["rules"] if "record" in r]
    expander = Expander(recordings, alerts=lambda selector: alerts_series(selector, []))  # as backtest reads ALERTS
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                expanded = expander.expand(rule["expr"])
                promql_parser.parse(expanded)
                assert not {s.name for s in selectors_in(expanded)} & {r.record for r in recordings}, rule["alert"]


def test_a_range_over_a_recording_becomes_a_subquery_at_its_groups_interval():
    expanded = Expander([ERRORS, REQUESTS]).expand('sum_over_time(slo:errors:rate5m{service="a"}[30d]) > 0')
    assert expanded == ('sum_over_time((label_replace(label_replace((sum(rate(req{job="a",code=~"5.."}[5m]))), '
                        '"service", "a", "", ""), "slo", "x", "", ""))[30d:1m]) > 0')


def test_a_selector_reads_every_recording_it_matches_and_only_those():
    expander = Expander([REQUESTS, OTHER])
    assert expander.expand('slo:requests:rate5m{service="b"}') == \
        'label_replace(label_replace((vector(1)), "service", "b", "", ""), "slo", "x", "", "")'
    both = expander.expand('slo:requests:rate5m{slo="x"}')
    assert both.startswith("(label_replace(") and " or " in both
    with pytest.raises(CannotExpand, match="different intervals"):
        expander.expand('sum_over_time(slo:requests:rate5m{slo="x"}[1h])')


def test_a_recording_that_reads_its_own_past_is_taken_as_running_for_the_horizon():
    """A latch (the earliest of its own values over a day, else now) as if it had run for 30 days:
    the earliest time, over 30 days, at which it would have recorded something without memory."""
    start = Recording("slo:history_start", 'min(min_over_time(slo:history_start{service="a"}[1d])) or '
                      'min(timestamp(slo:requests:rate5m{service="a"}))', (("service", "a"), ("slo", "x")), "1m")
    expanded = Expander([REQUESTS, start], horizon="30d").expand('time() - slo:history_start{service="a"} > 0')
    promql_parser.parse(expanded)
    memoryless = ('label_replace(label_replace((min(min_over_time(((vector(0) > 1))[1d:1m])) or '
                  'min(timestamp(label_replace(label_replace((sum(rate(req{job="a"}[5m]))), "service", "a", "", ""), '
                  '"slo", "x", "", "")))), "service", "a", "", ""), "slo", "x", "", "")')
    assert f"min(min_over_time(({memoryless})[30d:1m]))" in expanded


def test_absent_keeps_the_labels_of_its_selector():
    expanded = Expander([REQUESTS]).expand('sum(absent(slo:requests:rate5m{service="a",slo="x"}))')
    assert expanded.startswith('sum(label_replace(label_replace(absent(')
    assert expanded.endswith('"service", "a", "", ""), "slo", "x", "", ""))')


@pytest.mark.parametrize(("expr", "reason"), [
    ('ALERTS{alertname="X"} == 1', "reads ALERTS"),  # without the alerts evaluated before: a live series
    ('ALERTS_FOR_STATE{alertname="X"}', "reads ALERTS"),
    ('slo:requests:rate5m{service="a"} offset 1h', "offset or @"),
    ('{__name__="slo:requests:rate5m", service="a"}', "__name__"),
    ('slo:requests:rate5m{route="/"}', "matches on route"),
])
def test_what_cannot_be_rewritten_faithfully_is_refused(expr, reason):
    with pytest.raises(CannotExpand, match=reason):
        Expander([REQUESTS]).expand(expr)


def test_names_in_strings_label_lists_and_matchers_are_left_alone():
    expr = 'sum by (slo) (slo:requests:rate5m{service="a"}) and on (slo) label_replace(up, "slo", "slo:requests:rate5m", "", "")'
    expanded = Expander([REQUESTS]).expand(expr)
    assert expanded.count("label_replace(label_replace((sum(rate(") == 1
    assert expanded.endswith('and on (slo) label_replace(up, "slo", "slo:requests:rate5m", "", "")')


# Evaluations every minute (0, 60, ... 600 s); the expression returned the alert at the listed ones.
RETURNED = {0, 1, 2, 3, 4, 7}


@pytest.mark.parametrize(("hold", "keep", "expected"), [
    # Active (pending) from 0 s, fires once active for `for` (2m: at 120 s), resolved at the first
    # evaluation without it (300 s). Back at 420 s for one evaluation: pending, never firing.
    (120, 0, [(0, 120, 300), (420, None, 480)]),
    (60, 0, [(0, 60, 300), (420, None, 480)]),
    # keep_firing_for 3m counts from the first evaluation without it (300 s): it is back at 420 s,
    # then gone from 480 s, kept until 480 + 180 = 660 s, past the range: still firing.
    (120, 180, [(0, 120, None)]),
    # keep_firing_for 1m: kept at 300 s, resolved at 360 s; back at 420 s as a new alert (no `for`),
    # kept at 480 s, resolved at 540 s.
    (0, 60, [(0, 0, 360), (420, 420, 540)]),
])
def test_alerts_go_pending_firing_and_resolved_as_in_prometheus(hold, keep, expected):
    assert list(fire(RETURNED, 0, 600, 60, hold, keep)) == expected


def test_alerts_series_is_what_the_alerts_evaluated_before_wrote():
    """ALERTS{...} for an alert read by another: pending, then firing, each while it lasted."""
    episodes = [Episode("AvailabilityBudgetBurn", {"service": "a", "severity": "page"}, 60, 180, 300, False),
                Episode("AvailabilityBudgetBurn", {"service": "a", "severity": "ticket"}, 0, 0, None, True)]
    selector = selectors_in('ALERTS{alertname="AvailabilityBudgetBurn",severity="page"}')[0]
    text = alerts_series(selector, episodes)
    assert "vector(time()) >= 60 and vector(time()) < 180" in text and "vector(time()) >= 180 and vector(time()) < 300" in text
    assert '"alertstate", "pending"' in text and '"alertstate", "firing"' in text and "ticket" not in text
    promql_parser.parse(text)
    assert alerts_series(selectors_in('ALERTS{alertstate="pending",severity="ticket"}')[0], episodes) == "(vector(0) > 1)"


def test_times_are_rfc3339_or_unix_seconds():
    assert parse_time("2025-06-30T00:00:00Z", "--at") == parse_time("1751241600", "--at") == 1751241600
    assert parse_time("2025-06-30T02:00:00+02:00", "--at") == 1751241600
    assert format_time(1751241600) == "2025-06-30T00:00:00Z" and format_time(1751241600.25) == "2025-06-30T00:00:00.250Z"
    for bad in ("yesterday", "2025-06-30T00:00:00", "-5", "nan"):
        with pytest.raises(ValueError):
            parse_time(bad, "--at")


def test_the_gate_blocks_at_the_line_and_warns_at_its_own():
    """Spent exactly block_at blocks ("100 % or more"); exactly warn_at warns; just below, allows."""
    from dataclasses import replace
    from fractions import Fraction

    from opgen.descriptor.load import load_service_text
    from opgen.live.budget import Day, SLOFigures
    from opgen.live.gate import judge

    service = load_service_text(
        "apiVersion: opgen/v1\nkind: Service\nmetadata: {name: api, team: web, tier: 2}\n"
        "spec:\n  interfaces: [{kind: http}]\n  slos: [{name: availability, objective: 99, sli: {kind: availability}}]\n",
        "service.yaml")

    def decision(bad: float) -> str:
        figures = SLOFigures(service, service.slos[0], 1e9, (Day(1e9, bad, 1000.0),), None, 1e9 - 86400 * 30, 1e9)
        return judge(service, [figures]).decision

    assert [decision(10), decision(9.999), decision(7.5), decision(7.499)] == ["block", "warn", "warn", "allow"]
    service = replace(service, error_budget_policy=replace(service.error_budget_policy, warn_at_percent=Fraction(29)))
    assert decision(2.9) == "warn"  # 2.9 / 1000 / 0.01 is 0.29 give or take float noise; times 100 it is 28.999999999999996
