"""Journey SLOs (docs/fleet.md, "Journey SLOs"): tests/fleets/shop/journeys/checkout.opgen.yaml
synced with the shop fleet. The journey's rules pass promtool and their generated tests; a
hand-written promtool test feeds the steps' recordings and proves the journey pages when one step
burns and stays quiet when none does; bad journeys stop the sync with file:line:col; --check
follows a journey edit; Alertmanager routes the journey's team; OpenSLO and the dashboard hold."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml_helpers
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from conftest import run_opgen
from opgen.render.yaml_output import dump_yaml

SHOP = Path(__file__).parent / "fleets" / "shop"
JOURNEY = Path("journeys") / "checkout.opgen.yaml"
OPENSLO_SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "openslo-v1.schema.json").read_text())
STEPS = ("web-frontend", "cart", "checkout", "payments")


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("journeys") / "shop"
    shutil.copytree(SHOP, root)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def copy_of_shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    return root


def edit_journey(root: Path, old: str, new: str) -> None:
    path = root / JOURNEY
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def line_of(root: Path, fragment: str) -> int:
    return next(i for i, line in enumerate((root / JOURNEY).read_text().splitlines(), 1) if fragment in line)


# --- the files, and promtool -------------------------------------------------------------------------


def test_the_journey_files_are_in_the_fleet_folder(shop):
    folder = shop / "ops" / "journeys"
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkout.openslo.yaml", "checkout.rules.test.yml", "checkout.rules.yml", "dashboard.json"]
    assert (shop / "ops" / "runbooks" / "journeys" / "checkout.md").is_file()


def test_the_journey_rules_pass_promtool_and_their_generated_tests(shop, promtool):
    folder = shop / "ops" / "journeys"
    checked = subprocess.run([promtool, "check", "rules", "checkout.rules.yml"], cwd=folder, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "checkout.rules.test.yml"], cwd=folder, capture_output=True, text=True, timeout=120)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    names = [t["name"] for t in yaml_helpers.load(folder / "checkout.rules.test.yml")["tests"]]
    assert [n for n in names if "only" in n] == [f"journey checkout: only {s}/availability burns" for s in STEPS]


def step_series(service: str, window: str, value: str, minutes: int = 30) -> dict:
    return {"series": f'slo:sli_error:ratio_rate{window}{{service="{service}",slo="availability"}}', "values": f"{value}x{minutes}"}


def hand_written_test(burning: str | None, ratio: str = "0.1") -> dict:
    """Every step's recordings as its service's rules write them (0.05 % errors: half its
    budget), history begun long ago, one step (if any) at `ratio` errors, 1 bad event per second."""
    series = []
    for service in STEPS:
        value = ratio if service == burning else "0.0005"
        for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"):
            series.append(step_series(service, window, value))
        for window in ("1h", "6h"):
            series.append({"series": f'slo:sli_errors:rate{window}{{service="{service}",slo="availability"}}', "values": "1x30"})
        series.append({"series": f'slo:sli_history_start:timestamp{{service="{service}",slo="availability"}}', "values": "-9999999x30"})
    return {"interval": "1m", "input_series": series, "promql_expr_test": [{
        "expr": 'count by (severity) (ALERTS{alertname="JourneyBudgetBurn",alertstate="firing",journey="checkout"})',
        "eval_time": "20m",
        "exp_samples": [] if burning is None else [{"labels": '{severity="page"}', "value": 2}, {"labels": '{severity="ticket"}', "value": 2}],
    }]}


def run_promtool_test(promtool: str, folder: Path, tests: list[dict], tmp_path: Path) -> subprocess.CompletedProcess:
    document = {"rule_files": [str(folder / "checkout.rules.yml")], "evaluation_interval": "1m", "tests": tests}
    path = tmp_path / "hand.test.yml"
    path.write_text(json.dumps(document))  # JSON is YAML
    return subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("burning", STEPS)
def test_the_journey_pages_when_one_step_burns(shop, promtool, tmp_path, burning):
    result = run_promtool_test(promtool, shop / "ops" / "journeys", [hand_written_test(burning)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_journey_stays_quiet_when_every_step_meets_its_objective(shop, promtool, tmp_path):
    result = run_promtool_test(promtool, shop / "ops" / "journeys", [hand_written_test(None)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_hand_written_expectation_can_fail(shop, promtool, tmp_path):
    """The check above is not vacuous: no step burning, yet a page expected, fails."""
    test = hand_written_test(None)
    test["promql_expr_test"][0]["exp_samples"] = [{"labels": '{severity="page"}', "value": 2}]
    assert run_promtool_test(promtool, shop / "ops" / "journeys", [test], tmp_path).returncode != 0


def test_a_quiet_step_does_not_blind_the_journey(shop, promtool, tmp_path):
    """A step without events has a NaN ratio (0/0): it counts as no errors, and the burning step still pages."""
    test = hand_written_test("payments")
    for series in test["input_series"]:
        if 'service="cart"' in series["series"] and "ratio_rate" in series["series"]:
            series["values"] = " ".join(["NaN"] * 31)
    result = run_promtool_test(promtool, shop / "ops" / "journeys", [test], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def chain_test(shop: Path, burning: str | None) -> dict:
    """The whole chain: raw request counters of each step (as opgen's instrumentation exports
    them), the steps' own generated rules, then the journey's. One step (if any) fails 20 % of its
    requests; the others 1 in 2001 (half their budget)."""
    from opgen.descriptor.load import load_service
    from opgen.render.prometheus_rule_tests import Traffic, raw_input_series

    series = []
    for name in STEPS:
        service = load_service(shop / name / "service.yaml")
        slo = next(s for s in service.slos if s.name == "availability")
        good, bad = (800, 200) if name == burning else (2000, 1)
        series += raw_input_series(service, slo, Traffic.constant(good, bad, 30))
    return {"interval": "1m", "input_series": series, "promql_expr_test": [{
        "expr": 'count by (severity) (ALERTS{alertname="JourneyBudgetBurn",alertstate="firing",journey="checkout"})',
        "eval_time": "25m",
        # Only the pages: the ticket pairs' long windows (1d, 3d) count the time before the
        # recordings began, 25 minutes ago, as good.
        "exp_samples": [] if burning is None else [{"labels": '{severity="page"}', "value": 2}],
    }, {"expr": 'ALERTS{alertname="JourneyStepRulesMissing"}', "eval_time": "25m", "exp_samples": []}]}


@pytest.mark.parametrize("burning", [None, "cart", "payments"])
def test_from_raw_counters_through_the_steps_rules_the_journey_pages_only_when_a_step_burns(shop, promtool, tmp_path, burning):
    """...and, every step's rules loaded, JourneyStepRulesMissing stays quiet."""
    rule_files = [str(shop / name / "ops" / "prometheus" / f"{name}.rules.yml") for name in STEPS]
    rule_files.append(str(shop / "ops" / "journeys" / "checkout.rules.yml"))
    document = {"rule_files": rule_files, "evaluation_interval": "1m", "tests": [chain_test(shop, burning)]}
    path = tmp_path / "chain.test.yml"
    path.write_text(json.dumps(document))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_step_whose_rules_are_not_loaded_opens_a_ticket_naming_it(shop, promtool, tmp_path):
    """Without cart's rules the journey would read cart as error-free: JourneyStepRulesMissing says so."""
    rule_files = [str(shop / name / "ops" / "prometheus" / f"{name}.rules.yml") for name in STEPS if name != "cart"]
    rule_files.append(str(shop / "ops" / "journeys" / "checkout.rules.yml"))
    test = chain_test(shop, None)
    test["promql_expr_test"] = [{
        "expr": 'count by (service, slo, severity) (ALERTS{alertname="JourneyStepRulesMissing",alertstate="firing"})',
        "eval_time": "25m", "exp_samples": [{"labels": '{service="cart",slo="availability",severity="ticket"}', "value": 1}]}]
    path = tmp_path / "missing.test.yml"
    path.write_text(json.dumps({"rule_files": rule_files, "evaluation_interval": "1m", "tests": [test]}))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# --- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("old, new, message", [
    ("{service: cart, slo: availability}", "{service: carts, slo: availability}",
     "step names the service 'carts', which no descriptor synced with this journey describes (did you mean 'cart'?)"),
    ("{service: cart, slo: availability}", "{service: cart, slo: uptime}",
     "step names the SLO 'uptime' of 'cart', which has no such SLO (there are: availability, latency)"),
])
def test_an_unknown_step_stops_the_sync_with_its_position_and_writes_nothing(tmp_path, old, new, message):
    root = copy_of_shop(tmp_path)
    edit_journey(root, old, new)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 2, result.stderr
    line = line_of(root, new)
    assert f"journeys/checkout.opgen.yaml:{line}:7: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "ops").exists() and not (root / "cart" / "ops").exists()


def test_a_window_other_than_the_steps_is_an_error(tmp_path):
    root = copy_of_shop(tmp_path)
    edit_journey(root, "window: 30d", "window: 28d")
    result = run_opgen("validate", ".", cwd=root)
    assert result.returncode == 2
    assert "step web-frontend/availability has a 30d window, the journey 28d" in result.stderr


@pytest.mark.parametrize("extra, message", [
    ("{service: nightly-settlement, slo: runs-succeed}",
     "steps mix request-based and time-based SLIs (nightly-settlement/runs-succeed is job-success, counted in minutes)"),
    ("{service: cart, slo: availability}", "step cart/availability is already a step of this journey (line 14)"),
])
def test_mixed_sli_kinds_and_a_repeated_step_are_errors(tmp_path, extra, message):
    root = copy_of_shop(tmp_path)
    edit_journey(root, "    - {service: payments, slo: availability}\n", f"    - {{service: payments, slo: availability}}\n    - {extra}\n")
    result = run_opgen("validate", ".", cwd=root)
    assert result.returncode == 2
    assert message in result.stderr


def test_two_journeys_with_one_name_are_refused(tmp_path):
    root = copy_of_shop(tmp_path)
    shutil.copy(root / JOURNEY, root / "journeys" / "again.opgen.yaml")
    result = run_opgen("validate", ".", cwd=root)
    assert result.returncode == 2
    assert "journeys/checkout.opgen.yaml:6:9: journey 'checkout' is also described at journeys/again.opgen.yaml:6:9" in result.stderr


def test_validate_names_the_journey(tmp_path):
    result = run_opgen("validate", ".", cwd=copy_of_shop(tmp_path))
    assert "ok: journeys/checkout.opgen.yaml (journey checkout, 4 steps)" in result.stdout.splitlines()


def test_a_bad_field_is_an_error_with_its_position(tmp_path):
    root = copy_of_shop(tmp_path)
    edit_journey(root, "objective: 99.5", "objectve: 99.5")
    result = run_opgen("validate", ".", cwd=root)
    assert result.returncode == 2
    assert f"journeys/checkout.opgen.yaml:{line_of(root, 'objectve')}:3: unknown field spec.objectve (did you mean 'objective'?)" in result.stderr


def test_an_objective_above_the_steps_product_is_a_warning_with_the_arithmetic(tmp_path):
    root = copy_of_shop(tmp_path)
    edit_journey(root, "objective: 99.5", "objective: 99.8")
    result = run_opgen("validate", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    line = line_of(root, "objective: 99.8")
    assert (f"journeys/checkout.opgen.yaml:{line}:14: warning: journey 'checkout' promises 99.8%, above the ~99.6005% its "
            "steps allow (web-frontend/availability 99.9% x cart/availability 99.9% x checkout/availability 99.9% x "
            "payments/availability 99.9% ~ 99.6005%)") in result.stderr
    assert run_opgen("validate", "--strict", ".", cwd=root).returncode == 2
    shipped = run_opgen("validate", ".", cwd=copy_of_shop(tmp_path / "shipped"))
    assert "journey 'checkout' promises" not in shipped.stderr


# --- sync --check ------------------------------------------------------------------------------------------


def test_check_is_clean_after_sync_and_reports_drift_after_a_journey_edit(tmp_path):
    root = copy_of_shop(tmp_path)
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    clean = run_opgen("sync", "--check", ".", cwd=root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    edit_journey(root, "objective: 99.5", "objective: 99")
    drift = run_opgen("sync", "--check", ".", cwd=root)
    assert drift.returncode == 1
    assert "ops/journeys/checkout.rules.yml" in drift.stdout + drift.stderr
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    assert run_opgen("sync", "--check", ".", cwd=root).returncode == 0
    assert "> 14.4" in (root / "ops" / "journeys" / "checkout.rules.yml").read_text()
    assert "/ 0.01" in (root / "ops" / "journeys" / "checkout.rules.yml").read_text()


def test_a_steps_objective_change_rewrites_the_journey_files(tmp_path):
    root = copy_of_shop(tmp_path)
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    descriptor = root / "cart" / "service.yaml"
    descriptor.write_text(descriptor.read_text() + "  slos:\n    - {name: availability, objective: 99.95, sli: {kind: availability}}\n")
    drift = run_opgen("sync", "--check", ".", cwd=root)
    assert drift.returncode == 1 and "ops/runbooks/journeys/checkout.md" in drift.stdout + drift.stderr
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    assert "| `cart` | `availability` | 99.95% |" in (root / "ops" / "runbooks" / "journeys" / "checkout.md").read_text()


def test_a_removed_journey_takes_its_files_with_it(tmp_path):
    root = copy_of_shop(tmp_path)
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    (root / JOURNEY).unlink()
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    assert not (root / "ops" / "journeys").exists() or not any((root / "ops" / "journeys").iterdir())


# --- routing, OpenSLO, dashboard ------------------------------------------------------------------------


def test_the_journey_team_gets_a_route_even_without_a_service(tmp_path, amtool):
    root = copy_of_shop(tmp_path)
    edit_journey(root, "team: storefront", "team: growth\n  oncall: {pagerduty_service_id: PGROWTH1, slack: '#growth'}")
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    routes = root / "ops" / "alertmanager" / "routes.yml"
    for severity, receiver in (("page", "growth-pager"), ("ticket", "growth-chat")):
        done = subprocess.run([amtool, "config", "routes", "test", f"--config.file={routes}", "team=growth", f"severity={severity}",
                               "journey=checkout", "alertname=JourneyBudgetBurn"], capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == receiver, done.stdout + done.stderr
    config = yaml_helpers.load(routes)
    route = next(r for r in config["route"]["routes"] if r["matchers"] == ['team="growth"'])
    page = next(r for r in route["routes"] if r["matchers"] == ['severity="page"'])
    assert page["receiver"] == "growth-pager"
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["growth-pager"]["pagerduty_configs"][0]["routing_key_file"].endswith("/PGROWTH1.key")
    rules = yaml_helpers.load(root / "ops" / "journeys" / "checkout.rules.yml")
    assert {r["labels"]["team"] for g in rules["groups"] for r in g["rules"] if "alert" in r} == {"growth"}


def test_a_journey_whose_team_has_no_pager_is_warned_about(tmp_path):
    root = copy_of_shop(tmp_path)
    result = run_opgen("validate", ".", cwd=root)
    line = line_of(root, "name: checkout")
    assert (f"journeys/checkout.opgen.yaml:{line}:9: warning: the pages of journey 'checkout' go to opgen-unrouted-pages "
            "(#alerts), where nobody is paged") in result.stderr
    edit_journey(root, "team: storefront", "team: growth\n  oncall: {pagerduty_service_id: PGROWTH1}")
    assert "the pages of journey" not in run_opgen("validate", ".", cwd=root).stderr


def test_the_openslo_documents_are_valid_and_reference_each_other(shop):
    docs = list(YAML(typ="safe", pure=True).load_all((shop / "ops" / "journeys" / "checkout.openslo.yaml").read_text()))
    for doc in docs:
        errors = [e.message for e in Draft202012Validator(OPENSLO_SCHEMA).iter_errors(doc)]
        assert not errors, (doc["kind"], errors)
    slo = next(d for d in docs if d["kind"] == "SLO")
    assert slo["spec"]["objectives"][0]["target"] == 0.995
    names = {d["metadata"]["name"] for d in docs}
    assert {p["alertPolicyRef"] for p in slo["spec"]["alertPolicies"]} <= names
    promql_parser.parse(slo["spec"]["indicator"]["spec"]["ratioMetric"]["raw"]["metricSource"]["spec"]["query"])


def test_the_dashboard_has_a_row_per_journey_with_each_steps_burn(shop):
    dashboard = json.loads((shop / "ops" / "journeys" / "dashboard.json").read_text())
    rows = [p for p in dashboard["panels"] if p["type"] == "row"]
    assert [r["title"] for r in rows] == ["Journey checkout (99.5% over 30d, team storefront)"]
    steps = next(p for p in dashboard["panels"] if p["title"].startswith("Each step"))
    assert [t["legendFormat"] for t in steps["targets"]] == [f"{s}/availability" for s in STEPS]
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            promql_parser.parse(target["expr"])


def test_the_runbook_lists_the_steps_and_the_alerts_link_to_it(shop):
    page = (shop / "ops" / "runbooks" / "journeys" / "checkout.md").read_text()
    for step in STEPS:
        assert f"| `{step}` | `availability` | 99.9% |" in page
    rules = yaml_helpers.load(shop / "ops" / "journeys" / "checkout.rules.yml")
    urls = {r["annotations"]["runbook_url"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert urls == {"ops/runbooks/journeys/checkout.md"}
    assert (shop / urls.pop()).is_file()


def test_the_runbook_url_follows_the_settings_runbook_base_url(tmp_path):
    root = copy_of_shop(tmp_path)
    (root / "opgen-settings.yaml").write_text("runbook_base_url: https://git.example.com/shop/tree/main\n")
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    rules = yaml_helpers.load(root / "ops" / "journeys" / "checkout.rules.yml")
    urls = {r["annotations"]["runbook_url"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert urls == {"https://git.example.com/shop/tree/main/ops/runbooks/journeys/checkout.md"}


def mimir_shop(tmp_path: Path, tenant: str) -> Path:
    root = copy_of_shop(tmp_path)
    (root / "opgen-settings.yaml").write_text(f"rules_format: mimir\nruler: {{tenant: {tenant}, max_rule_groups_per_tenant: 200}}\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def test_in_mimir_the_journey_joins_its_teams_namespace_reading_its_steps_tenants(tmp_path, promtool):
    """Every step in mimir: the journey's groups are in the storefront namespace, after its services',
    as in the plain file; with a tenant per team they read the tenants of the steps' teams
    (`source_tenants`); without, they need not. promtool accepts the groups; rules-stats counts
    them in the storefront tenant, as many rules as the file has."""
    root = mimir_shop(tmp_path / "team", "team")
    plain = yaml_helpers.load(root / "ops" / "journeys" / "checkout.rules.yml")["groups"]
    namespace = yaml_helpers.load(root / "ops" / "mimir" / "storefront.rules.yaml")
    journey_groups = [g for g in namespace["groups"] if g["name"].startswith("journey:")]
    assert [g["source_tenants"] for g in journey_groups] == [["payments", "storefront"]] * 3
    assert [{k: v for k, v in g.items() if k != "source_tenants"} for g in journey_groups] == plain
    assert namespace["groups"][-3:] == journey_groups
    checked = root / "storefront.groups.yml"
    checked.write_text(dump_yaml({"groups": [{k: v for k, v in g.items() if k != "source_tenants"}
                                                      for g in namespace["groups"]]}))
    done = subprocess.run([promtool, "check", "rules", str(checked)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    stats = json.loads(run_opgen("rules-stats", "--json", ".", cwd=root).stdout)
    storefront = next(t for t in stats["tenants"] if t["tenant"] == "storefront")
    counted = next(s for s in storefront["services"] if s["name"] == "journey checkout")
    assert (counted["groups"], counted["rules"]) == (3, sum(len(g["rules"]) for g in plain))
    assert storefront["groups"] == len(namespace["groups"])

    fleet = mimir_shop(tmp_path / "fleet", "fleet")
    namespace = yaml_helpers.load(fleet / "ops" / "mimir" / "storefront.rules.yaml")
    assert not any("source_tenants" in g for g in namespace["groups"])
    # Switching the tenants is a change the check sees, though no descriptor changed.
    (fleet / "opgen-settings.yaml").write_text("rules_format: mimir\nruler: {tenant: team, max_rule_groups_per_tenant: 200}\n")
    checked = run_opgen("sync", "--check", ".", cwd=fleet)
    assert checked.returncode == 1 and "ops/mimir/storefront.rules.yaml" in checked.stdout + checked.stderr


def test_a_journey_whose_steps_are_not_all_in_mimir_has_its_plain_file_only(tmp_path):
    root = copy_of_shop(tmp_path)
    (root / "payments" / "opgen-settings.yaml").write_text("rules_format: mimir\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    assert (root / "ops" / "journeys" / "checkout.rules.yml").exists()
    assert not any("journey:checkout:" in p.read_text() for p in (root / "ops" / "mimir").glob("*.yaml"))
    assert ("journeys/checkout.opgen.yaml:6:9: warning: the steps of journey 'checkout' are in different rules formats "
            "(mimir, prometheus), so its rules join no Mimir namespace: load journeys/checkout.rules.yml where every "
            "step's rules are evaluated, or give its steps' services one rules_format") in result.stderr


def test_a_journeys_pager_serves_its_team_when_none_of_its_services_names_one(tmp_path):
    """storefront's services name no on-call contact: the journey's `metadata.oncall` pages for the
    team (as the field says), and the journey is no longer warned about as unpaged."""
    root = copy_of_shop(tmp_path)
    edit_journey(root, "  team: storefront\n", "  team: storefront\n  oncall: {pagerduty_service_id: PJRN123}\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "the pages of journey 'checkout' go to" not in result.stderr
    config = yaml_helpers.load(root / "ops" / "alertmanager" / "routes.yml")
    receivers = [r for r in config["receivers"] if r.get("pagerduty_configs")]
    assert any("PJRN123" in json.dumps(r) for r in receivers), receivers
    storefront = next(r for r in config["route"]["routes"] if 'team="storefront"' in r.get("matchers", []))
    page = next(r for r in storefront["routes"] if r["matchers"] == ['severity="page"'])
    receiver = next(r for r in config["receivers"] if r["name"] == page["receiver"])
    assert "PJRN123" in receiver["pagerduty_configs"][0]["routing_key_file"]


def test_a_service_named_like_a_journey_shares_no_group_name_with_it(tmp_path, promtool):
    """A service `journey-checkout` of the journey's team: its groups and the journey's are in one
    Mimir namespace, and a ruler refuses a namespace that names a group twice."""
    root = copy_of_shop(tmp_path)
    shutil.copytree(root / "cart", root / "journey-checkout")
    descriptor = root / "journey-checkout" / "service.yaml"
    descriptor.write_text(descriptor.read_text().replace("name: cart", "name: journey-checkout", 1))
    (root / "opgen-settings.yaml").write_text("rules_format: mimir\nruler: {tenant: team}\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    namespace = yaml_helpers.load(root / "ops" / "mimir" / "storefront.rules.yaml")
    names = [g["name"] for g in namespace["groups"]]
    assert len(names) == len(set(names)) and "journey:checkout:long-windows" in names and "journey-checkout-long-windows" in names
    checked = root / "storefront.groups.yml"
    checked.write_text(dump_yaml({"groups": [{k: v for k, v in g.items() if k != "source_tenants"} for g in namespace["groups"]]}))
    done = subprocess.run([promtool, "check", "rules", str(checked)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
