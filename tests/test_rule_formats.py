"""Rule output formats on the shop fleet (22 services): plain Prometheus rule files (default), a
PrometheusRule per service (prometheus-operator) and a Mimir / Cortex ruler namespace per team
(mimir, its rules packed into fewer groups). Every format is unwrapped and passed through the real `promtool check rules`; the
choice comes from opgen-settings.yaml or --format, and sync and sync --check agree on it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml_helpers

from conftest import run_opgen

SHOP = Path(__file__).parent / "fleets" / "shop"
# The shop fleet's rules exceed one default Mimir tenant (test_rule_budget.py): one tenant per team.
TENANT_PER_TEAM = "ruler: {tenant: team}\n"

# The PrometheusRule CRD (prometheus-operator, monitoring.coreos.com_prometheusrules.yaml): spec is
# required; each group needs a name; each rule an expr and exactly one of record or alert.
CRD_RULE_KEYS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
CRD_GROUP_KEYS = {"name", "interval", "rules", "limit", "partial_response_strategy", "query_offset", "labels"}


def declared(root: Path) -> dict[str, dict]:
    return {(d := yaml_helpers.load(p))["metadata"]["name"]: d for p in sorted(root.glob("*/service.yaml"))}


def synced(tmp_path: Path, *options: str, settings: str | None = None) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    if settings is not None:
        (root / "opgen-settings.yaml").write_text(settings)
    result = run_opgen("sync", *options, ".", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def promtool_check(promtool: str, groups: list, folder: Path, name: str) -> None:
    """The groups as a plain rule file, through `promtool check rules`."""
    from opgen.render.yaml_output import dump_yaml

    path = folder / f"{name}.unwrapped.yml"
    path.write_text(dump_yaml({"groups": groups}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def rules_by_interval(groups: list) -> dict:
    """interval (None: the global one) -> the rules of the groups evaluated at it, in order."""
    found: dict = {}
    for group in groups:
        found.setdefault(group.get("interval"), []).extend(group["rules"])
    return found


def plain_groups(root: Path, name: str) -> list:
    return yaml_helpers.load(root / name / "ops" / "prometheus" / f"{name}.rules.yml")["groups"]


def test_the_default_is_plain_rule_files_only(tmp_path):
    root = synced(tmp_path)
    for name in declared(root):
        assert (root / name / "ops/prometheus" / f"{name}.rules.yml").is_file()
        assert not (root / name / "ops/kubernetes").exists()
    assert not (root / "ops/mimir").exists()


def test_prometheus_operator_adds_a_valid_prometheusrule_per_service(tmp_path, promtool):
    root = synced(tmp_path, "--format", "prometheus-operator")
    services = declared(root)
    for name, data in services.items():
        obj = yaml_helpers.load(root / name / "ops/kubernetes" / f"{name}.prometheusrule.yaml")
        assert obj["apiVersion"] == "monitoring.coreos.com/v1" and obj["kind"] == "PrometheusRule"
        assert obj["metadata"]["namespace"] == data["spec"].get("runtime", {}).get("namespace", name)
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "opgen"
        assert obj["metadata"]["labels"]["role"] == "alert-rules"
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == name
        groups = obj["spec"]["groups"]
        for group in groups:
            assert group["name"] and set(group) <= CRD_GROUP_KEYS
            for rule in group["rules"]:
                assert rule["expr"] and set(rule) <= CRD_RULE_KEYS and ("record" in rule) != ("alert" in rule)
        assert groups == plain_groups(root, name)  # the same rules as the plain file its promtool tests load
        promtool_check(promtool, groups, tmp_path, name)
    names = [(o := yaml_helpers.load(p))["metadata"]["namespace"] + "/" + o["metadata"]["name"]
             for p in root.glob("*/ops/kubernetes/*.yaml")]
    assert len(names) == len(set(names)) == len(services)


def test_mimir_from_settings_writes_one_ruler_namespace_per_team_and_check_agrees(tmp_path, promtool):
    root = synced(tmp_path, settings="rules_format: mimir\n" + TENANT_PER_TEAM)
    services = declared(root)
    teams = {d["metadata"]["team"] for d in services.values()}
    files = sorted((root / "ops/mimir").glob("*.rules.yaml"))
    assert [p.name for p in files] == sorted(f"{team}.rules.yaml" for team in teams)
    for path in files:
        data = yaml_helpers.load(path)
        assert set(data) == {"namespace", "groups"} and f"{data['namespace']}.rules.yaml" == path.name
        members = sorted(n for n, d in services.items() if d["metadata"]["team"] == data["namespace"])
        # storefront's namespace ends with its checkout journey's groups (as in journeys/checkout.rules.yml).
        journeys = yaml_helpers.load(root / "ops/journeys/checkout.rules.yml")["groups"] if data["namespace"] == "storefront" else []
        groups = [{k: v for k, v in g.items() if k != "source_tenants"} for g in data["groups"]]
        assert rules_by_interval(groups) == rules_by_interval([g for name in members for g in plain_groups(root, name)] + journeys)
        promtool_check(promtool, groups, tmp_path, data["namespace"])
    check = run_opgen("sync", "--check", ".", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr
    other = run_opgen("sync", "--check", "--format", "prometheus", ".", cwd=root)
    assert other.returncode == 1 and "ops/mimir/payments.rules.yaml" in other.stdout + other.stderr


def test_switching_back_to_plain_deletes_the_wrapped_files(tmp_path):
    root = synced(tmp_path, "--format", "prometheus-operator", settings=TENANT_PER_TEAM)
    assert run_opgen("sync", "--format", "mimir", ".", cwd=root).returncode == 0
    assert not list(root.glob("*/ops/kubernetes/*.yaml")) and list(root.glob("ops/mimir/*.yaml"))
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    assert not list(root.glob("ops/mimir/*.yaml"))
    assert (root / "ops/alertmanager/routes.yml").is_file()


def test_a_bad_rules_format_in_settings_is_a_problem_at_its_line(tmp_path):
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    (root / "opgen-settings.yaml").write_text("rules_format: thanos\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 2
    assert "opgen-settings.yaml:1:" in result.stderr and "expected one of prometheus, prometheus-operator, mimir" in result.stderr
    assert not list(root.glob("*/ops"))


@pytest.mark.parametrize("fmt", ["prometheus", "prometheus-operator", "mimir"])
def test_verify_checks_every_format_with_promtool(tmp_path, fmt):
    root = synced(tmp_path, "--format", fmt, settings=TENANT_PER_TEAM)
    result = run_opgen("verify", "ops", "checkout/ops", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alertmanager config  alertmanager/routes.yml" in result.stdout
    if fmt == "prometheus-operator":
        assert "rules (PrometheusRule) kubernetes/checkout.prometheusrule.yaml" in result.stdout
    if fmt == "mimir":
        assert "rules (ruler namespace) mimir/payments.rules.yaml" in result.stdout
