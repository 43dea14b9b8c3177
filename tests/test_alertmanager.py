"""ops/alertmanager/routes.yml of a fleet: tests/fleets/shop (22 services) synced as one, with
on-call data added to some teams, checked by the real amtool (`check-config`, `config routes test`)
and its inhibition read as data against a graph computed here from the descriptors' YAML."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml_helpers

from conftest import run_opgen

FLEETS = Path(__file__).parent / "fleets"
ROUTES = "ops/alertmanager/routes.yml"
SECRETS = "/etc/alertmanager/secrets/"

# On-call data per service: payments has two PagerDuty services and one channel; discovery only a
# channel (its pages go to chat); the other teams nothing (the default receiver).
ONCALL = {
    "checkout": {"slack": "#payments-oncall", "pagerduty_service_id": "PPAY001"},
    "payments": {"slack": "#payments-oncall", "pagerduty_service_id": "PPAY001"},
    "payment-gateway": {"pagerduty_service_id": "PPAY001"},
    "fraud-model": {"slack": "#payments-oncall", "pagerduty_service_id": "PFRAUD9"},
    "search": {"slack": "#discovery"},
    "catalog": {"slack": "#discovery-catalog"},
    "pricing": {"slack": "#discovery"},
}


def with_oncall(root: Path) -> None:
    for name, fields in ONCALL.items():
        path = root / name / "service.yaml"
        text = path.read_text()
        block = "  oncall:\n" + "".join(f'    {key}: "{value}"\n' for key, value in fields.items())
        head, tail = text.split("  tier: ", 1)
        path.write_text(head + block + "  tier: " + tail)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("alertmanager") / "shop"
    shutil.copytree(FLEETS / "shop", root)
    with_oncall(root)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def routes(root: Path) -> dict:
    return yaml_helpers.load(root / ROUTES)


def route_test(amtool: str, config: Path, *labels: str) -> str:
    done = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config}", *labels],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def declared(root: Path) -> dict[str, dict]:
    return {(d := yaml_helpers.load(p))["metadata"]["name"]: d for p in sorted(root.glob("*/service.yaml"))}


def fails_with(services: dict[str, dict]) -> dict[str, set[str]]:
    """service -> the services with a path of critical edges to it (closure by repeated joining)."""
    reach = {(name, dep["service"]) for name, data in services.items() for dep in data["spec"].get("dependencies", [])
             if dep.get("critical") and dep.get("service") in services}
    while more := {(a, d) for a, b in reach for c, d in reach if b == c} - reach:
        reach |= more
    return {name: {a for a, b in reach if b == name and a != name} for name in services}


# --- amtool ------------------------------------------------------------------------------------------


def test_amtool_accepts_the_fleet_config(shop, amtool):
    done = subprocess.run([amtool, "check-config", str(shop / ROUTES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize("labels, receiver", [
    (("team=payments", "severity=page", "service=checkout"), "payments-pager"),
    (("team=payments", "severity=page", "service=payment-gateway"), "payments-pager"),
    (("team=payments", "severity=page", "service=fraud-model"), "payments-pager-pfraud9"),
    (("team=payments", "severity=ticket", "service=checkout"), "payments-chat"),
    (("team=payments", "severity=ticket", "service=nightly-settlement"), "payments-chat"),
    (("team=discovery", "severity=page", "service=search"), "discovery-chat"),
    (("team=discovery", "severity=ticket", "service=catalog"), "discovery-chat-discovery-catalog"),
    (("team=discovery", "severity=ticket", "service=reviews"), "discovery-chat"),
    (("team=identity", "severity=page", "service=accounts"), "opgen-default"),
    (("team=unknown-team", "severity=page"), "opgen-default"),
])
def test_each_team_and_severity_reaches_its_receiver(shop, amtool, labels, receiver):
    assert route_test(amtool, shop / ROUTES, *labels) == receiver


def test_route_tree_is_root_then_team_then_severity_for_every_team(shop):
    config = routes(shop)
    teams = sorted({d["metadata"]["team"] for d in declared(shop).values()})
    assert [r["matchers"] for r in config["route"]["routes"]] == [[f'team="{t}"'] for t in teams]
    for route in config["route"]["routes"]:
        assert [r["matchers"] for r in route["routes"]] == [['severity="page"'], ['severity="ticket"']]


def test_receivers_hold_no_secret_only_files_under_the_secrets_folder(shop):
    config = routes(shop)
    names = [r["name"] for r in config["receivers"]]
    assert len(names) == len(set(names))
    pagers = {r["name"]: r["pagerduty_configs"] for r in config["receivers"] if "pagerduty_configs" in r}
    assert set(pagers) == {"payments-pager", "payments-pager-pfraud9"}
    for configs in pagers.values():
        assert all(set(cfg) == {"routing_key_file", "send_resolved"} and cfg["routing_key_file"].startswith(SECRETS)
                   for cfg in configs)
    assert pagers["payments-pager"][0]["routing_key_file"].endswith("/PPAY001.key")
    for receiver in config["receivers"]:
        for cfg in receiver.get("slack_configs", []):
            assert "api_url" not in cfg and cfg["api_url_file"].startswith(SECRETS)
    channels = {r["name"]: r["slack_configs"][0]["channel"] for r in config["receivers"] if "slack_configs" in r}
    assert channels == {"opgen-default": "#alerts", "payments-chat": "#payments-oncall", "discovery-chat": "#discovery",
                        "discovery-chat-discovery-catalog": "#discovery-catalog"}


# --- inhibition ----------------------------------------------------------------------------------------


def test_an_slo_ticket_is_inhibited_while_a_page_of_the_same_service_and_slo_fires(shop):
    first = routes(shop)["inhibit_rules"][0]
    assert first == {"source_matchers": ['severity="page"', 'slo=~".+"'],
                     "target_matchers": ['severity="ticket"', 'slo=~".+"'], "equal": ["service", "slo"]}


def test_dependents_that_fail_with_a_service_are_inhibited_while_it_pages(shop):
    """One rule per depended-on service, its source that service's pages, its target a regex of
    every service with a path of critical edges to it (computed here from the YAML)."""
    expected = {name: deps for name, deps in fails_with(declared(shop)).items() if deps}
    rules = routes(shop)["inhibit_rules"][1:]
    found = {}
    for rule in rules:
        (service,) = [m.split('"')[1] for m in rule["source_matchers"] if m.startswith("service=")]
        assert 'severity="page"' in rule["source_matchers"] and "equal" not in rule
        (target,) = rule["target_matchers"]
        assert target.startswith('service=~"')
        found[service] = set(target.split('"')[1].split("|"))
    assert found == expected
    assert len(rules) < len(declared(shop))  # one rule per depended-on service, not per edge
    assert found["payments"] >= {"checkout", "web-frontend"}  # web-frontend -> checkout -> payments, all critical


def test_services_in_a_critical_cycle_never_inhibit_each_other(tmp_path):
    root = tmp_path / "cycle"
    shutil.copytree(FLEETS / "cycle", root)
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    targets = {}
    for rule in routes(root)["inhibit_rules"][1:]:
        (source,) = [m.split('"')[1] for m in rule["source_matchers"] if m.startswith("service=")]
        targets[source] = set(rule["target_matchers"][0].split('"')[1].split("|"))
    for source, inhibited in targets.items():
        assert not any(source in targets.get(other, set()) for other in inhibited), targets
    assert targets  # delta depends critically on the cycle without being in it: alpha's page inhibits it
    assert all(inhibited == {"delta"} for inhibited in targets.values())


# --- the fleet folder under sync -------------------------------------------------------------------------


def test_the_fleet_folder_has_its_own_manifest_with_the_reserved_owner_and_check_is_clean(shop):
    manifest = json.loads((shop / "ops/.opgen/manifest.json").read_text())
    assert {path: entry["service"] for path, entry in manifest["files"].items()} == {"alertmanager/routes.yml": "(fleet)"}
    check = run_opgen("sync", "--check", ".", cwd=shop)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_hand_edited_routes_file_is_a_conflict_and_left_alone(shop, tmp_path):
    tree = tmp_path / "shop"
    shutil.copytree(shop, tree)
    edited = (tree / ROUTES).read_text().replace("repeat_interval: 4h", "repeat_interval: 3h")
    (tree / ROUTES).write_text(edited)
    (tree / "checkout/service.yaml").write_text((tree / "checkout/service.yaml").read_text().replace("PPAY001", "PPAY002"))
    result = run_opgen("sync", ".", cwd=tree)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "ops/alertmanager/routes.yml" in result.stdout + result.stderr
    assert (tree / ROUTES).read_text() == edited


def test_a_dependency_change_rewrites_the_routes_file(shop, tmp_path):
    tree = tmp_path / "shop"
    shutil.copytree(shop, tree)
    path = tree / "checkout/service.yaml"
    path.write_text(path.read_text().replace("{name: cart, kind: grpc, service: cart, critical: true}",
                                             "{name: cart, kind: grpc, service: cart, critical: false}"))
    assert run_opgen("sync", "--check", ".", cwd=tree).returncode == 1
    assert run_opgen("sync", ".", cwd=tree).returncode == 0
    found = {rule["source_matchers"][0]: rule["target_matchers"][0] for rule in routes(tree)["inhibit_rules"][1:]}
    assert 'service="cart"' not in found or "checkout" not in found['service="cart"']


def test_one_descriptor_alone_gets_a_config_of_its_own_team_in_its_own_ops(tmp_path, amtool):
    root = tmp_path / "shop"
    shutil.copytree(FLEETS / "shop", root)
    with_oncall(root)
    result = run_opgen("sync", "checkout", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    config = routes(root / "checkout")
    assert [r["matchers"] for r in config["route"]["routes"]] == [['team="payments"']]
    assert config["inhibit_rules"][1:] == []  # nobody synced with it depends on it
    assert route_test(amtool, root / "checkout" / ROUTES, "team=payments", "severity=page") == "payments-pager"
    assert not (root / "ops").exists()
    manifest = json.loads((root / "checkout/ops/.opgen/manifest.json").read_text())
    assert manifest["files"]["alertmanager/routes.yml"]["service"] == "(fleet)"
    assert run_opgen("sync", "--check", "checkout", cwd=root).returncode == 0
