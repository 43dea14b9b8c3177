"""Ruler limits on the shop fleet (22 services): Mimir refuses a tenant of more than 70 rule
groups or a group of more than 20 rules. opgen lays the mimir format's groups out to fit, checks
every limit before writing, and fails with the figures and the options when a fleet cannot fit."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml_helpers

from conftest import run_opgen
from test_rule_formats import declared, plain_groups, promtool_check, rules_by_interval

SHOP = Path(__file__).parent / "fleets" / "shop"


def shop(tmp_path: Path, settings: str | None = None) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    if settings is not None:
        (root / "opgen-settings.yaml").write_text(settings)
    return root


def written(root: Path) -> list[Path]:
    return sorted(root.glob("*/ops")) + sorted(root.glob("ops"))


def test_a_default_mimir_tenant_refuses_the_shop_fleet_so_sync_fails_before_writing(tmp_path):
    root = shop(tmp_path, "rules_format: mimir\n")
    for command in (("sync", "."), ("sync", "--check", "."), ("diff", ".")):
        result = run_opgen(*command, cwd=root)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "tenant 'fleet' (mimir, 22 services, 1 journey): 102 rule groups, over the limit of 70 (max_rule_groups_per_tenant)" \
            in result.stderr
        assert "max_rule_groups_per_tenant: 102" in result.stderr and "-ruler.max-rule-groups-per-tenant=102" in result.stderr
        assert "`ruler: {tenant: team}` (the largest, 'discovery', has 30 groups: fits)" in result.stderr
        assert "fewer rules: an SLO adds up to" in result.stderr
        assert "Traceback" not in result.stderr
        assert written(root) == []


def test_raising_the_tenant_limit_in_settings_lets_the_fleet_sync(tmp_path):
    root = shop(tmp_path, "rules_format: mimir\nruler: {max_rule_groups_per_tenant: 102}\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    groups = [g for path in (root / "ops/mimir").glob("*.rules.yaml") for g in yaml_helpers.load(path)["groups"]]
    assert len(groups) == 102  # the services' 99 and the checkout journey's 3


def test_a_tenant_per_team_fits_mimir_limits_with_every_rule_of_the_plain_files(tmp_path, promtool):
    """Each team's namespace is its own tenant; a service's rules are packed, in the plain file's
    order, into groups of at most 20: nothing is lost, so every recorded name the dashboards and
    runbooks read is still recorded."""
    root = shop(tmp_path, "rules_format: mimir\nruler: {tenant: team}\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    services = declared(root)
    for path in sorted((root / "ops/mimir").glob("*.rules.yaml")):
        data = yaml_helpers.load(path)
        assert len(data["groups"]) <= 70
        assert all(len(group["rules"]) <= 20 for group in data["groups"])
        members = sorted(n for n, d in services.items() if d["metadata"]["team"] == data["namespace"])
        for name in members:
            mine = [g for g in data["groups"] if re.fullmatch(f"{name}-(rules|long-windows)(-[0-9]+)?", g["name"])]
            plain = rules_by_interval(plain_groups(root, name))
            assert rules_by_interval(mine) == plain  # the same rules, in order, at the same intervals
            assert len(mine) == sum(-(-len(rules) // 20) for rules in plain.values())  # as few groups as fit
        journey = [g for g in data["groups"] if g["name"].startswith("journey:")]  # storefront's checkout journey, last
        assert data["groups"] == [g for name in members for g in data["groups"]
                                  if re.fullmatch(f"{name}-(rules|long-windows)(-[0-9]+)?", g["name"])] + journey
        promtool_check(promtool, [{k: v for k, v in g.items() if k != "source_tenants"} for g in data["groups"]],
                       tmp_path, data["namespace"])


def test_plain_prometheus_has_no_limits_unless_settings_give_them(tmp_path):
    root = shop(tmp_path)
    assert run_opgen("sync", "--check", ".", cwd=root).returncode == 1  # not refused: only missing files
    (root / "opgen-settings.yaml").write_text("ruler: {max_rule_groups_per_tenant: 100}\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 2
    assert "tenant 'fleet' (prometheus, 22 services, 1 journey): 203 rule groups, over the limit of 100" in result.stderr
    assert written(root) == []


def test_a_rules_per_group_limit_below_the_layout_names_the_group(tmp_path):
    root = shop(tmp_path, "rules_format: mimir\nruler: {tenant: team, max_rules_per_rule_group: 15}\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 2
    assert "rules, over the limit of 15 (max_rules_per_rule_group)" in result.stderr
    assert "raise the rules-per-group limit to 20" in result.stderr


def test_a_bad_ruler_setting_is_a_problem_at_its_line(tmp_path):
    root = shop(tmp_path, "rules_format: mimir\nruler:\n  max_rule_groups_per_tenant: 0\n  tenant: cluster\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 2
    assert "opgen-settings.yaml:3:" in result.stderr and "at least 1" in result.stderr
    assert "opgen-settings.yaml:4:" in result.stderr and "expected one of fleet, team" in result.stderr
    assert written(root) == []


def test_slo_constants_are_one_rule_per_service_and_still_one_series_per_slo(tmp_path, promtool):
    """The objective and error budget of every SLO come from one rule each per service (two rules
    per SLO fewer); promtool shows they record the series the dashboard and runbooks read,
    `slo:objective:ratio{service,slo}`, one per SLO."""
    import subprocess

    from test_rules_promtool import generate

    from conftest import EXAMPLES

    rules = generate(tmp_path, EXAMPLES / "checkout" / "service.yaml")
    path = next(rules.rglob("checkout.rules.yml"))
    records = [r["record"] for g in yaml_helpers.load(path)["groups"] for r in g["rules"] if "record" in r]
    assert records.count("slo:objective:ratio") == records.count("slo:error_budget:ratio") == 1
    case = path.parent / "constants.test.yml"
    objectives = {"availability": 0.999, "latency": 0.99, "charge-success": 0.995}
    case.write_text(json.dumps({"rule_files": [path.name], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [],
        "promql_expr_test": [
            {"expr": "slo:objective:ratio", "eval_time": "1m",
             "exp_samples": [{"labels": f'slo:objective:ratio{{service="checkout",slo="{slo}"}}', "value": value}
                             for slo, value in objectives.items()]},
            {"expr": 'slo:error_budget:ratio{slo="latency"}', "eval_time": "1m",
             "exp_samples": [{"labels": 'slo:error_budget:ratio{service="checkout",slo="latency"}', "value": 0.01}]},
        ]}]}))
    done = subprocess.run([promtool, "test", "rules", str(case)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_stats_counts_what_sync_writes_per_service_and_tenant(tmp_path):
    """rules-stats --json agrees with the ruler namespaces sync writes, tenant by tenant, and with
    each service's plain rule file."""
    root = shop(tmp_path, "rules_format: mimir\nruler: {tenant: team}\n")
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    result = run_opgen("rules-stats", "--json", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["fits"] is True and stats["options"] == []
    tenants = {t["tenant"]: t for t in stats["tenants"]}
    for path in sorted((root / "ops/mimir").glob("*.rules.yaml")):
        data = yaml_helpers.load(path)
        tenant = tenants.pop(data["namespace"])
        assert tenant["limits"] == {"max_rules_per_rule_group": 20, "max_rule_groups_per_tenant": 70}
        assert tenant["groups"] == len(data["groups"])
        rules = [r for g in data["groups"] for r in g["rules"]]
        assert tenant["rules"] == len(rules)
        assert sum(s["recording_rules"] for s in tenant["services"]) == sum("record" in r for r in rules)
        for service in tenant["services"]:
            if service["name"].startswith("journey "):  # tests/test_journeys.py counts it against its file
                continue
            plain = [r for g in plain_groups(root, service["name"]) for r in g["rules"]]
            assert service["rules"] == len(plain) and service["slos"] == len(declared_slos(root, service["name"]))
            # a recorded series per rule and SLO it covers: what a Prometheus would hold
            assert service["recorded_series"] == sum(1 if "slo" in r["labels"] else service["slos"] for r in plain if "record" in r)
    assert tenants == {}


def declared_slos(root: Path, name: str) -> list[str]:
    from opgen.descriptor.load import load_service

    return [slo.name for slo in load_service(root / name / "service.yaml").slos]


def test_rules_stats_shows_a_fleet_over_its_limits_as_text_with_the_options(tmp_path):
    root = shop(tmp_path)
    result = run_opgen("rules-stats", "--format", "mimir", ".", cwd=root)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "tenant 'fleet' (mimir; 20 rules per group, 70 groups per tenant)"
    assert lines[1].split() == ["service", "team", "SLOs", "groups", "rules", "recording", "alerting", "series", "largest",
                                "group"]
    checkout = next(line.split() for line in lines if line.split()[:1] == ["checkout"])
    assert checkout[:4] == ["checkout", "payments", "2", "5"]
    total = next(line.split() for line in lines if line.split()[:1] == ["total"])
    assert total[1:3] == ["48", "102"]  # the journey: one objective, three groups
    assert "  over: tenant 'fleet' (mimir, 22 services, 1 journey): 102 rule groups, over the limit of 70" in result.stdout
    assert any(line.startswith("option: a tenant per team") for line in lines)
    assert written(root) == []  # it only reads
    plain = run_opgen("rules-stats", ".", cwd=root)
    assert plain.returncode == 0 and "tenant 'fleet' (prometheus; no limits)" in plain.stdout and "  fits" in plain.stdout


def test_long_windows_are_a_group_of_their_own_evaluated_every_2m30s(tmp_path):
    """Every rule that sums a day or more of recordings is in its SLO's long-windows group, with
    an interval under Prometheus's 5m lookback; the raw windows and the alerts stay at the global
    interval, so the page pairs are not delayed."""
    from test_rules_promtool import generate

    from conftest import EXAMPLES

    rules = generate(tmp_path, EXAMPLES / "checkout" / "service.yaml")
    groups = yaml_helpers.load(next(rules.rglob("checkout.rules.yml")))["groups"]
    long = [g for g in groups if "interval" in g]
    assert [g["name"] for g in long] == [f"checkout-slo-{slo}-long-windows" for slo in ("availability", "latency", "charge-success")]
    assert {g["interval"] for g in long} == {"2m30s"}
    for group in groups:
        for rule in group["rules"]:
            reads_days = re.search(r"_over_time\(slo:[a-z_:0-9]+\{[^}]*\}\[(1d|3d|30d)\]\)", rule["expr"])
            if "record" in rule and reads_days:
                assert group in long, rule["record"]
            if group in long:
                assert "record" in rule and "rate(" not in rule["expr"], rule  # nothing from the raw series, no alert


def test_a_no_op_check_under_ruler_limits_reads_the_budget_from_the_records_without_parsing(tmp_path, monkeypatch):
    """Each service's rule budget is kept in its manifest record, so `sync --check` of an unchanged
    fleet under limits parses no descriptor (as without limits), and a lower limit is checked
    against the recorded budgets."""
    from click.testing import CliRunner

    import opgen.sync.load
    from opgen.cli import main

    root = shop(tmp_path, "rules_format: mimir\nruler: {max_rule_groups_per_tenant: 102}\n")
    monkeypatch.chdir(root)
    assert CliRunner().invoke(main, ["sync", "."]).exit_code == 0
    records = json.loads((root / "checkout/ops/.opgen/manifest.json").read_text())["services"]["checkout"]
    assert records["rule_budget"]["groups"] > 0 and records["rule_budget"]["rules_format"] == "mimir"

    def no_parsing(*args, **kwargs):
        raise AssertionError("a descriptor was parsed")

    def parse_none(jobs, *args, **kwargs):
        assert not jobs, "a descriptor was parsed"
        return []

    monkeypatch.setattr(opgen.sync.load, "load_validated", no_parsing)
    monkeypatch.setattr(opgen.sync.parallel, "parse_all", parse_none)
    result = CliRunner().invoke(main, ["sync", "--check", "."])
    assert result.exit_code == 0, result.output
    monkeypatch.undo()
    monkeypatch.chdir(root)
    (root / "opgen-settings.yaml").write_text("rules_format: mimir\nruler: {max_rule_groups_per_tenant: 101}\n")
    result = CliRunner().invoke(main, ["sync", "--check", "."])
    assert result.exit_code == 2 and "102 rule groups, over the limit of 101" in result.output
