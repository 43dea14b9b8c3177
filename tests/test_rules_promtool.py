"""Generated rules pass the real `promtool check rules`, and the generated unit tests pass
`promtool test rules`, for the bundled example, both blueprints and descriptors that cover
several windows, objectives, interfaces and every SLI kind."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml_helpers

from conftest import EXAMPLES, LEDGER_EXPORT_JOB, ROOT, TEST_DESCRIPTORS, run_opgen, service_folder

DESCRIPTORS = sorted(TEST_DESCRIPTORS.glob("*.yaml")) + [EXAMPLES / "checkout" / "service.yaml"]


def generate(tmp_path: Path, descriptor: Path) -> Path:
    folder = service_folder(tmp_path, descriptor)
    result = run_opgen("sync", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return folder / "ops" / "prometheus"


def promtool_ok(promtool: str, *args: str) -> str:
    result = subprocess.run([promtool, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda p: p.parent.name if p.name == "service.yaml" else p.stem)
def test_rules_check_and_their_unit_tests_pass(tmp_path, promtool, descriptor):
    out = generate(tmp_path, descriptor)
    (rules,) = out.glob("*.rules.yml")
    (tests,) = out.glob("*.rules.test.yml")
    assert "SUCCESS" in promtool_ok(promtool, "check", "rules", str(rules))
    assert "SUCCESS" in promtool_ok(promtool, "test", "rules", str(tests))


@pytest.mark.parametrize("blueprint", sorted(p.stem for p in (ROOT / "blueprints").glob("*.yaml")))
def test_new_services_from_each_blueprint_pass_promtool(tmp_path, promtool, blueprint):
    result = run_opgen("new-service", "svc", "--blueprint", blueprint, "--no-input", "--team", "t", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "svc" / "ops" / "prometheus"
    promtool_ok(promtool, "check", "rules", str(out / "svc.rules.yml"))
    promtool_ok(promtool, "test", "rules", str(out / "svc.rules.test.yml"))


def test_rule_groups_stay_within_twenty_rules_and_alert_names_within_forty(tmp_path):
    out = generate(tmp_path, EXAMPLES / "checkout" / "service.yaml")
    groups = yaml_helpers.load(out / "checkout.rules.yml")["groups"]
    assert all(len(g["rules"]) <= 20 for g in groups)
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert alerts == {"AvailabilityBudgetBurn", "AvailabilityBudgetExhausted", "LatencyBudgetBurn", "LatencyBudgetExhausted",
                      "ChargeSuccessBudgetBurn", "ChargeSuccessBudgetExhausted", "SLONoData",
                      "DependencyErrorRatioHigh", "DependencyLatencyHigh", "CPUNearLimit", "MemoryNearLimit", "ReplicasAtMaximum"}
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                assert len(rule["alert"]) <= 40
                assert rule["labels"]["severity"] in ("page", "ticket")
                assert rule["annotations"]["summary"].endswith(".")
                assert rule["annotations"]["runbook_url"].endswith(f"/checkout/{rule['alert']}.md")
                assert rule["annotations"]["dashboard_url"] == "https://grafana.example.com/d/opgen-checkout/checkout"


# A hand-written promtool test against the generated rules: one busy hour at 1 % errors, then a
# quiet hour without errors. Request-weighted, the 1d ratio is 3600 / 363600 = 0.0099; a mean of
# 5m ratios (time-weighted, as Sloth records it) would say about half that.
WEIGHTING_TEST = """
rule_files: [search.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'http_server_request_duration_seconds_count{job="search",http_response_status_code="200"}'
        values: '0+5940x60 356400+60x60'
      - series: 'http_server_request_duration_seconds_count{job="search",http_response_status_code="500"}'
        values: '0+60x60 3600+0x60'
    promql_expr_test:
      - expr: |
          (slo:sli_error:ratio_rate1d{slo="availability"} > bool 0.0096)
          * (slo:sli_error:ratio_rate1d{slo="availability"} < bool 0.0102)
        eval_time: 120m
        exp_samples:
          - labels: '{service="search",slo="availability"}'
            value: 1
      - expr: slo:sli_error:ratio_rate5m{slo="availability"}
        eval_time: 120m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate5m{service="search",slo="availability"}'
            value: 0
"""


def test_long_windows_are_request_weighted(tmp_path, promtool):
    out = generate(tmp_path, TEST_DESCRIPTORS / "http-28d.yaml")
    (out / "weighting.test.yml").write_text(WEIGHTING_TEST)
    promtool_ok(promtool, "test", "rules", str(out / "weighting.test.yml"))


def test_the_weighting_test_can_fail(tmp_path, promtool):
    """The same test against a time-weighted 1d recording fails: the test above has teeth."""
    out = generate(tmp_path, TEST_DESCRIPTORS / "http-28d.yaml")
    rules = out / "search.rules.yml"
    text = re.sub(
        r'sum\(sum_over_time\(slo:sli_errors:rate5m\{service="search",slo="availability"\}\[1d\]\)\)\n *'
        r'/\n *sum\(sum_over_time\(slo:sli_requests:rate5m\{service="search",slo="availability"\}\[1d\]\)\)',
        'avg_over_time(slo:sli_error:ratio_rate5m{service="search",slo="availability"}[1d])', rules.read_text())
    assert text != rules.read_text()
    rules.write_text(text)
    (out / "weighting.test.yml").write_text(WEIGHTING_TEST)
    result = subprocess.run([promtool, "test", "rules", str(out / "weighting.test.yml")], capture_output=True, text=True)
    assert result.returncode != 0


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda p: p.parent.name if p.name == "service.yaml" else p.stem)
def test_the_rules_hold_exactly_the_alerts_of_the_catalog(tmp_path, descriptor):
    """alerts.py lists every alert (runbooks and dashboards follow it); the rules must agree with it."""
    from opgen.alerts import service_alerts
    from opgen.descriptor.load import load_service

    out = generate(tmp_path, descriptor)
    (rules,) = out.glob("*.rules.yml")
    groups = yaml_helpers.load(rules)["groups"]
    in_rules = {}
    for rule in (r for g in groups for r in g["rules"] if "alert" in r):
        in_rules.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
    catalog = {a.name: set(a.severities) for a in service_alerts(load_service(out.parent.parent / "service.yaml"))}
    assert in_rules == catalog


# Time-based SLIs, by hand: a job that succeeds at 0m, fails at 120m and succeeds again at 240m
# (its pushed gauges hold Unix seconds; promtool's clock starts at the epoch). The latest run is
# failed for 120 of the 301 minutes the 6h window holds at 300m.
JOB_DESCRIPTOR = LEDGER_EXPORT_JOB
JOB_TEST = """
rule_files: [ledger-export.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'cronjob_last_completion_timestamp_seconds{job="ledger-export"}'
        values: '0x119 7200x119 14400x60'
      - series: 'cronjob_last_success_timestamp_seconds{job="ledger-export"}'
        values: '0x239 14400x60'
      # the recordings began before the SLO window, so the 1d and 3d windows count as covered
      - series: 'slo:sli_history_start:timestamp{service="ledger-export",slo="runs-succeed"}'
        values: '-2592000x300'
    promql_expr_test:
      - expr: slo:sli_error:ratio_rate5m{slo="runs-succeed"}
        eval_time: 180m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate5m{service="ledger-export",slo="runs-succeed"}'
            value: 1
      - expr: slo:sli_error:ratio_rate5m{slo="runs-succeed"}
        eval_time: 300m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate5m{service="ledger-export",slo="runs-succeed"}'
            value: 0
      - expr: (slo:sli_error:ratio_rate6h{slo="runs-succeed"} > bool 0.39) * (slo:sli_error:ratio_rate6h{slo="runs-succeed"} < bool 0.41)
        eval_time: 300m
        exp_samples:
          - labels: '{service="ledger-export",slo="runs-succeed"}'
            value: 1
      # on-time, threshold 1h: late from 61m (3660 s after the 0m success) until the 240m success.
      - expr: slo:sli_error:ratio_rate5m{slo="on-time"}
        eval_time: 55m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate5m{service="ledger-export",slo="on-time"}'
            value: 0
      - expr: slo:sli_error:ratio_rate5m{slo="on-time"}
        eval_time: 180m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate5m{service="ledger-export",slo="on-time"}'
            value: 1
      - expr: slo:sli_error:ratio_rate5m{slo="on-time"}
        eval_time: 300m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate5m{service="ledger-export",slo="on-time"}'
            value: 0
      # every window pair of the runs-succeed SLO fires, each a ticket: a failed run is fixed the same
      # day (job-success pages only at tier 1).
      - expr: count by (severity) (ALERTS{alertname="RunsSucceedBudgetBurn",alertstate="firing"})
        eval_time: 180m
        exp_samples:
          - labels: '{severity="ticket"}'
            value: 4
"""


def _job_rules(tmp_path: Path) -> Path:
    folder = tmp_path / "ledger-export"
    folder.mkdir()
    (folder / "service.yaml").write_text(JOB_DESCRIPTOR)
    result = run_opgen("sync", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = folder / "ops" / "prometheus"
    (out / "job.test.yml").write_text(JOB_TEST)
    return out


def test_time_based_slis_count_bad_minutes_of_a_cron_job(tmp_path, promtool):
    out = _job_rules(tmp_path)
    promtool_ok(promtool, "test", "rules", str(out / "job.test.yml"))


def test_time_based_generated_tests_catch_an_inverted_bad_minute(tmp_path, promtool):
    """Mutants of the bad-minute comparison fail both the hand-written and the generated tests."""
    out = _job_rules(tmp_path)
    rules = out / "ledger-export.rules.yml"
    original = rules.read_text()
    for mutant in (original.replace("> bool", "< bool"), original.replace("> bool 3600", "> bool 36000")):
        assert mutant != original
        rules.write_text(mutant)
        for test in ("job.test.yml", "ledger-export.rules.test.yml"):
            result = subprocess.run([promtool, "test", "rules", str(out / test)], capture_output=True, text=True)
            assert result.returncode != 0, (test, result.stdout)


def test_every_group_stays_within_twenty_rules_with_many_slos_and_dependencies(tmp_path):
    """Mimir's ruler refuses groups of more than 20 rules: health and dependency alerts are split."""
    slos = "".join(f"    - {{name: s{i}, objective: 99.9, window: {7 + i}d, sli: {{kind: latency, threshold: 300ms}}}}\n"
                   for i in range(12))
    deps = "".join(f"    - {{name: d{i}, kind: postgres, critical: true}}\n" for i in range(12))
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "service.yaml").write_text("apiVersion: opgen/v1\nkind: Service\nmetadata: {name: many, team: t}\nspec:\n"
                                         "  interfaces: [{kind: http}]\n  slos:\n" + slos + "  dependencies:\n" + deps)
    assert run_opgen("sync", str(folder), cwd=tmp_path).returncode == 0
    groups = yaml_helpers.load(folder / "ops" / "prometheus" / "many.rules.yml")["groups"]
    assert max(len(g["rules"]) for g in groups) <= 20
    assert {g["name"] for g in groups} >= {"many-health", "many-health-2", "many-dependencies", "many-dependencies-2"}
