"""Alerts an on-call engineer can trust (docs/alerts.md): hand-written promtool scenarios against
the generated rules, one section of the spec each. No page that means nothing: short SLO windows,
quiet services, thresholds without a bucket, idle services, cron jobs, dependencies, fresh
deployments. No silence when users suffer: outages of quiet services, vanished metrics, renamed
SLOs, changed teams. Which alerts fire is read from ALERTS, by service, SLO and severity."""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import yaml_helpers

from conftest import run_opgen

FIRING = 'count by (alertname, slo, severity, long_window, cause) (ALERTS{{service="{service}",alertstate="firing"}})'


def kit(tmp_path: Path, descriptor: str) -> Path:
    """Sync `descriptor` (its metadata.name names the folder); the rules' folder."""
    name = re.search(r"name: ([a-z0-9-]+)", descriptor).group(1)
    folder = tmp_path / name
    folder.mkdir()
    (folder / "service.yaml").write_text(textwrap.dedent(descriptor))
    result = run_opgen("sync", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "ops" / "prometheus"


def promtool_test(promtool: str, rules: Path, text: str) -> subprocess.CompletedProcess:
    (rules / "case.test.yml").write_text(textwrap.dedent(text))
    return subprocess.run([promtool, "test", "rules", str(rules / "case.test.yml")], capture_output=True, text=True)


def assert_passes(promtool: str, rules: Path, text: str) -> None:
    result = promtool_test(promtool, rules, text)
    assert result.returncode == 0, result.stdout + result.stderr


def firing(service: str, eval_time: str, *alerts: str) -> str:
    """A promql_expr_test item: exactly these alerts fire, each written as its label set."""
    samples = "".join(f"\n      - labels: '{{{labels}}}'\n        value: 1" for labels in alerts)
    return (f"  - expr: '{FIRING.format(service=service)}'\n    eval_time: {eval_time}\n"
            f"    exp_samples:{samples if alerts else ' []'}\n")


def scenario(rules_file: str, series: list[tuple[str, str]], checks: str, up: bool = True) -> str:
    """A promtool test file: `series` as inputs at 1m, and, with `up`, the service's target up."""
    job = rules_file.removesuffix(".rules.yml")
    if up and not any(s.startswith("up{") for s, _ in series):
        series = [(f'up{{job="{job}",instance="a"}}', "1x900"), *series]
    inputs = "".join(f"\n      - series: '{s}'\n        values: '{v}'" for s, v in series)
    checks = textwrap.indent(checks, "    ")
    return (f"rule_files: [{rules_file}]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n"
            f"    input_series:{inputs}\n    promql_expr_test:\n{checks}")


def history(service: str, slo: str, window_seconds: int) -> tuple[str, str]:
    """The recordings' history began before the SLO window: every long window is covered."""
    return f'slo:sli_history_start:timestamp{{service="{service}",slo="{slo}"}}', f"-{window_seconds}x600"


HTTP = 'http_server_request_duration_seconds_count{{job="{job}",http_route="/",http_response_status_code="{code}"}}'


# --- 1. short SLO windows ---------------------------------------------------------------------

STOCK_7D = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: stock, team: core, tier: 2}
spec:
  interfaces: [{kind: http}]
  slos: [{name: availability, objective: 99, window: 7d, sli: {kind: availability}}]
"""


def test_a_7d_slo_that_meets_its_objective_raises_nothing(tmp_path, promtool):
    """0.9 % errors against a 1 % budget: burn rate 0.9, the objective holds. Today's fixed pairs
    ticket at 0.7 (1d) and 0.233 (3d) on a 7d window."""
    rules = kit(tmp_path, STOCK_7D)
    assert_passes(promtool, rules, scenario("stock.rules.yml", [
        (HTTP.format(job="stock", code="200"), "0+991x600"),
        (HTTP.format(job="stock", code="500"), "0+9x600"),
        history("stock", "availability", 604800),
    ], firing("stock", "2h") + firing("stock", "10h")))


def test_a_7d_slo_that_will_miss_its_objective_opens_a_ticket(tmp_path, promtool):
    """1.2 % errors: burn rate 1.2, the budget is gone before the week ends. The scaled slow pair
    (18h, threshold 1) tickets; no page (those need 5.6 and more)."""
    rules = kit(tmp_path, STOCK_7D)
    assert_passes(promtool, rules, scenario("stock.rules.yml", [
        (HTTP.format(job="stock", code="200"), "0+988x600"),
        (HTTP.format(job="stock", code="500"), "0+12x600"),
        history("stock", "availability", 604800),
    ], firing("stock", "2h", 'alertname="AvailabilityBudgetBurn",long_window="18h",severity="ticket",slo="availability"',
              'alertname="AvailabilityBudgetExhausted",severity="ticket",slo="availability"')))


def test_the_runbook_says_how_long_a_7d_budget_lasts(tmp_path):
    rules = kit(tmp_path, STOCK_7D)
    page = (rules.parent / "runbooks" / "stock" / "AvailabilityBudgetBurn.md").read_text()
    rows = [line.split(" | ") for line in page.splitlines() if line.startswith(("| page |", "| ticket |"))]
    assert [(r[1], r[3], r[-1].rstrip(" |")) for r in rows] == [
        ("15m", "13.44", "750m"), ("90m", "5.6", "30h"), ("6h", "2.8", "60h"), ("18h", "1", "7d")]


# --- 2. low-traffic services ------------------------------------------------------------------

QUIET = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: quiet, team: core, tier: 2}
spec:
  interfaces: [{kind: http, port: 8080}]
  traffic: {baseline_rps: 0.05}
  slos: [{name: availability, objective: 99.99, sli: {kind: availability}}]
"""


def test_one_failure_on_a_quiet_service_pages_nobody(tmp_path, promtool):
    """3 requests a minute (0.05/s), one 5xx: 1/180 of the last hour, 56 times the budget. A page
    needs 10 bad events in its long window."""
    rules = kit(tmp_path, QUIET)
    assert_passes(promtool, rules, scenario("quiet.rules.yml", [
        (HTTP.format(job="quiet", code="200"), "0+3x60"),
        (HTTP.format(job="quiet", code="500"), "0x10 1x50"),
    ], firing("quiet", "15m") + firing("quiet", "30m")))


def test_a_total_outage_of_the_quiet_service_pages(tmp_path, promtool):
    """Every request fails from the start: 10 have failed after 4 minutes, the page follows its `for`."""
    rules = kit(tmp_path, QUIET)
    assert_passes(promtool, rules, scenario("quiet.rules.yml", [
        (HTTP.format(job="quiet", code="500"), "0+3x60"),
    ], firing("quiet", "12m", 'alertname="AvailabilityBudgetBurn",long_window="1h",severity="page",slo="availability"',
              'alertname="AvailabilityBudgetBurn",long_window="6h",severity="page",slo="availability"')))


def test_validate_says_what_one_failure_costs_a_quiet_service_and_what_to_do(tmp_path):
    folder = tmp_path / "quiet"
    folder.mkdir()
    (folder / "service.yaml").write_text(QUIET)
    result = run_opgen("validate", str(folder / "service.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if "one failed" in line]
    assert warning.startswith("quiet/service.yaml:7:42: warning: ")
    # 0.01 % of 0.05/s over 30d is 12.96 requests: one failure spends 7.72 % of the budget.
    assert "7.72%" in warning and "1%" in warning
    for option in ("probe", "window", "objective"):
        assert option in warning
    strict = run_opgen("validate", "--strict", str(folder / "service.yaml"), cwd=tmp_path)
    assert strict.returncode == 2 and "error: " in strict.stderr


# --- 3. latency thresholds that are not bucket boundaries --------------------------------------

BUCKETED = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: search, team: core, tier: 2}
spec:
  runtime: {language: go}
  interfaces: [{kind: http}]
  prometheus: {buckets: {http: [100ms, 250ms, 500ms, 1s]}}
  slos: [{name: latency, objective: 99, sli: {kind: latency, threshold: 300ms}}]
"""


def test_validate_refuses_a_threshold_that_is_not_a_declared_bucket(tmp_path):
    (tmp_path / "service.yaml").write_text(BUCKETED)
    result = run_opgen("validate", "service.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (problem,) = [line for line in result.stderr.splitlines() if line.startswith("service.yaml:")]
    assert problem.startswith("service.yaml:8:73: ")
    assert "300ms" in problem and "250ms" in problem and "500ms" in problem


LATENCY = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: search, team: core, tier: 2}
spec:
  interfaces: [{kind: http}]
  slos: [{name: latency, objective: 99, sli: {kind: latency, threshold: 500ms}}]
"""
BUCKET = 'http_server_request_duration_seconds_bucket{{job="search",http_route="/",le="{le}"}}'


def test_a_missing_bucket_is_no_data_with_its_cause_never_a_page(tmp_path, promtool):
    """The service's histogram has 0.25 and 1, not 0.5: the SLI must not read every request as slow."""
    rules = kit(tmp_path, LATENCY)
    assert_passes(promtool, rules, scenario("search.rules.yml", [
        ("up{job=\"search\",instance=\"a\"}", "1x60"),
        ('http_server_request_duration_seconds_count{job="search",http_route="/"}', "0+100x60"),
        (BUCKET.format(le="0.25"), "0+90x60"),
        (BUCKET.format(le="1"), "0+100x60"),
        (BUCKET.format(le="+Inf"), "0+100x60"),
    ], firing("search", "30m", 'alertname="SLONoData",cause="threshold-bucket-missing",severity="ticket",slo="latency"')
        + "  - expr: slo:sli_error:ratio_rate5m\n    eval_time: 30m\n    exp_samples: []\n"))


def test_the_latency_runbook_checks_the_bucket_exists(tmp_path):
    rules = kit(tmp_path, LATENCY)
    page = (rules.parent / "runbooks" / "search" / "LatencyBudgetBurn.md").read_text()
    assert 'count by (le) (http_server_request_duration_seconds_bucket{job="search"})' in page


# --- 4. no-data, cron jobs and dependencies ----------------------------------------------------


def test_an_idle_service_without_sli_series_opens_a_ticket_not_a_page(tmp_path, promtool):
    rules = kit(tmp_path, QUIET)
    assert_passes(promtool, rules, scenario("quiet.rules.yml", [
        ('up{job="quiet",instance="a"}', "1x60"),
    ], firing("quiet", "30m", 'alertname="SLONoData",cause="sli-metrics-missing",severity="ticket",slo="availability"')))


def test_sli_series_that_vanish_after_traffic_page(tmp_path, promtool):
    rules = kit(tmp_path, QUIET)
    assert_passes(promtool, rules, scenario("quiet.rules.yml", [
        ('up{job="quiet",instance="a"}', "1x60"),
        (HTTP.format(job="quiet", code="200"), "0+3x10"),
    ], firing("quiet", "40m", 'alertname="SLONoData",cause="sli-metrics-vanished",severity="page",slo="availability"')))


NIGHTLY = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: nightly, team: finance, tier: 2}
spec:
  blueprint: cron-job
  slos:
    - {name: runs-succeed, objective: 99, sli: {kind: job-success}}
    - {name: on-time, objective: 99, sli: {kind: job-on-time, threshold: 1h}}
"""
COMPLETION = 'cronjob_last_completion_timestamp_seconds{job="nightly"}'
SUCCESS = 'cronjob_last_success_timestamp_seconds{job="nightly"}'


def test_one_failed_run_opens_a_ticket_and_a_missed_deadline_pages(tmp_path, promtool):
    """A run at 0m succeeds; the next, at 30m, fails and nothing reruns it. Each minute is bad for
    runs-succeed from 30m (a ticket: fixed the same day), and for on-time once the last success
    is older than its 1h threshold, from 61m (a page: the deadline is missed). The 1d and 3d
    pairs count the unrecorded rest of their windows as good: not yet at 80m."""
    rules = kit(tmp_path, NIGHTLY)
    assert_passes(promtool, rules, scenario("nightly.rules.yml", [
        (COMPLETION, "0x29 1800x150"),
        (SUCCESS, "0x180"),
    ], up=False, checks=firing("nightly", "55m", 'alertname="RunsSucceedBudgetBurn",long_window="1h",severity="ticket",slo="runs-succeed"',
              'alertname="RunsSucceedBudgetBurn",long_window="6h",severity="ticket",slo="runs-succeed"')
        + firing("nightly", "80m",
                 'alertname="OnTimeBudgetBurn",long_window="1h",severity="page",slo="on-time"',
                 'alertname="OnTimeBudgetBurn",long_window="6h",severity="page",slo="on-time"',
                 'alertname="RunsSucceedBudgetBurn",long_window="1h",severity="ticket",slo="runs-succeed"',
                 'alertname="RunsSucceedBudgetBurn",long_window="6h",severity="ticket",slo="runs-succeed"')))


CALLER = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: caller, team: core, tier: 2}
spec:
  interfaces: [{kind: http}]
  slos: [{name: availability, objective: 99.9, sli: {kind: availability}}]
  dependencies:
    - {name: db, kind: postgres, critical: true, error_threshold: 20, latency_threshold: 2s}
    - {name: cache, kind: redis, critical: true}
"""
SERVING = [('up{job="caller",instance="a"}', "1x60"), (HTTP.format(job="caller", code="200"), "0+1000x60")]
DB_CALLS = 'db_client_operation_duration_seconds_count{{job="caller",peer_service="{peer}",db_system_name="{system}"{error}}}'


def test_dependency_thresholds_are_set_per_dependency(tmp_path, promtool):
    """10 % of calls fail to both: above the 5 % default of the cache, below the db's 20 %."""
    rules = kit(tmp_path, CALLER)
    series = list(SERVING)
    for peer, system in (("db", "postgresql"), ("cache", "redis")):
        series += [(DB_CALLS.format(peer=peer, system=system, error=""), "0+90x60"),
                   (DB_CALLS.format(peer=peer, system=system, error=',error_type="timeout"'), "0+10x60")]
    assert_passes(promtool, rules, scenario("caller.rules.yml", series, firing(
        "caller", "30m", 'alertname="DependencyErrorRatioHigh",severity="ticket"')))
    text = (rules / "caller.rules.yml").read_text()
    assert "> 0.2\n" in text and "> 2\n" in text  # the db's thresholds, 20 % and 2 s


def test_a_critical_dependency_pages_only_as_the_likely_cause_of_an_slo_page(tmp_path, promtool):
    """The cache fails half its calls. Users are fine (no 5xx): a ticket. Once the service answers
    5xx and its SLO pages, the cache's alert pages too, naming the likely cause."""
    rules = kit(tmp_path, CALLER)
    cache = [(DB_CALLS.format(peer="cache", system="redis", error=""), "0+50x60"),
             (DB_CALLS.format(peer="cache", system="redis", error=',error_type="timeout"'), "0+50x60")]
    up = ('up{job="caller",instance="a"}', "1x60")
    assert_passes(promtool, rules, scenario("caller.rules.yml", cache + SERVING, firing(
        "caller", "30m", 'alertname="DependencyErrorRatioHigh",severity="ticket"')))
    assert_passes(promtool, rules, scenario("caller.rules.yml", cache + [
        up,
        (HTTP.format(job="caller", code="200"), "0+500x60"),
        (HTTP.format(job="caller", code="503"), "0+500x60"),
    ], firing("caller", "15m", 'alertname="AvailabilityBudgetBurn",long_window="1h",severity="page",slo="availability"',
              'alertname="AvailabilityBudgetBurn",long_window="6h",severity="page",slo="availability"',
              'alertname="DependencyErrorRatioHigh",severity="page"')))


# --- 5. SLO renames -------------------------------------------------------------------------------

RENAMED = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: cart, team: core, tier: 2}
spec:
  interfaces: [{kind: http}]
  slos: [{name: availability, objective: 99.9, previous_names: [success], sli: {kind: availability}}]
"""


def test_a_renamed_slo_keeps_the_history_of_its_previous_name(tmp_path, promtool):
    """Before the rename the 5m recordings were written as slo="success": 2 % errors for the first
    half hour. After it, no errors. The 30d ratio still holds the old half hour: about 1 %."""
    rules = kit(tmp_path, RENAMED)
    assert_passes(promtool, rules, scenario("cart.rules.yml", [
        ('slo:sli_errors:rate5m{service="cart",slo="success"}', "2x29"),
        ('slo:sli_requests:rate5m{service="cart",slo="success"}', "100x29"),
        (HTTP.format(job="cart", code="200"), "_x30 0+6000x30"),
    ], "  - expr: (slo:sli_error:ratio_rate30d > bool 0.009) * (slo:sli_error:ratio_rate30d < bool 0.011)\n"
       "    eval_time: 60m\n    exp_samples:\n      - labels: '{service=\"cart\",slo=\"availability\"}'\n        value: 1\n"))


def test_a_rename_that_resets_history_is_warned_about(tmp_path):
    folder = tmp_path / "cart"
    folder.mkdir()
    descriptor = folder / "service.yaml"
    descriptor.write_text(RENAMED.replace(", previous_names: [success]", "").replace("name: availability", "name: success"))
    assert run_opgen("sync", str(folder), cwd=tmp_path).returncode == 0
    descriptor.write_text(RENAMED.replace(", previous_names: [success]", ""))
    result = run_opgen("validate", "--strict", str(folder), cwd=tmp_path)
    assert result.returncode == 2
    (line,) = [x for x in result.stderr.splitlines() if "success" in x]
    assert line.startswith("cart/service.yaml:6:17: error: ") and "previous_names: [success]" in line
    descriptor.write_text(RENAMED)
    result = run_opgen("validate", str(folder), cwd=tmp_path)
    assert result.returncode == 0 and "success" not in result.stderr


# --- 6. label changes, fresh deployments, cost ------------------------------------------------

TEAMED = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: search, team: discovery, tier: 2}
spec:
  interfaces: [{kind: http}]
  slos: [{name: availability, objective: 99, sli: {kind: availability}}]
"""


def test_changing_the_team_mid_window_breaks_no_recording(tmp_path, promtool):
    """The first hour was recorded while the service belonged to team "search-old" (tier 3). Both
    halves sit in the 1d, 3d and 30d windows: the long windows must evaluate (no "same labelset"
    error), count both, and the ticket they raise carries the new team."""
    rules = kit(tmp_path, TEAMED)
    old = '{service="search",slo="availability",team="search-old",tier="3"}'
    assert_passes(promtool, rules, scenario("search.rules.yml", [
        (f"slo:sli_errors:rate5m{old}", "0.5x60"),
        (f"slo:sli_requests:rate5m{old}", "10x60"),
        (HTTP.format(job="search", code="200"), "_x60 0+570x60"),
        (HTTP.format(job="search", code="500"), "_x60 0+30x60"),
        history("search", "availability", 2592000),
    ], "  - expr: (slo:sli_error:ratio_rate1d > bool 0.049) * (slo:sli_error:ratio_rate1d < bool 0.051)\n"
       "    eval_time: 110m\n    exp_samples:\n      - labels: '{service=\"search\",slo=\"availability\"}'\n        value: 1\n"
       "  - expr: count(ALERTS{alertname=\"AvailabilityBudgetBurn\",long_window=\"1d\",team=\"discovery\",tier=\"2\",alertstate=\"firing\"})\n"
       "    eval_time: 110m\n    exp_samples:\n      - labels: '{}'\n        value: 1\n"))


def test_recordings_do_not_depend_on_team_or_tier(tmp_path):
    first = yaml_helpers.load(kit(tmp_path, TEAMED) / "search.rules.yml")
    other = tmp_path / "other"
    other.mkdir()
    second = yaml_helpers.load(kit(other, TEAMED.replace("team: discovery, tier: 2", "team: ranking, tier: 1")) / "search.rules.yml")
    recordings = [[r for r in g["rules"] if "record" in r] for g in first["groups"]]
    assert recordings == [[r for r in g["rules"] if "record" in r] for g in second["groups"]]


def test_a_fresh_deployment_does_not_over_fire_the_long_windows(tmp_path, promtool):
    """6.7 h of history, 44 minutes of it at 2 % errors (99.9 %): over what is recorded, a burn rate
    of 2.2. Counting the unrecorded rest of the 3d and 30d windows as good, it is 0.2 and 0.02."""
    rules = kit(tmp_path, TEAMED.replace("objective: 99", "objective: 99.9"))
    assert_passes(promtool, rules, scenario("search.rules.yml", [
        ('up{job="search",instance="a"}', "1x402"),
        (HTTP.format(job="search", code="200"), "0+1000x300 300980+980x43 344120+1000x57"),
        (HTTP.format(job="search", code="500"), "0x300 20+20x43 880x57"),
    ], firing("search", "402m")))


def test_each_raw_window_reads_the_total_once(tmp_path):
    """The bad events' rule reads the window's recorded total, not the total metric again."""
    text = (kit(tmp_path, TEAMED) / "search.rules.yml").read_text()
    for window in ("5m", "30m", "1h", "2h", "6h"):
        total = f'http_server_request_duration_seconds_count{{job="search"}}[{window}]'
        assert text.count(total) == 1, window
