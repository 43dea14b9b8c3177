"""`opgen verify` runs the real tools over a generated kit: it passes a fresh kit, fails each
artifact that is broken, skips a tool that is missing, and refuses a folder without a kit."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

import stub_drivers as drivers
from conftest import TEST_DESCRIPTORS, run_opgen, service_folder
from opgen.descriptor.load import load_service

CHECKS = ("rules", "rule tests", "dashboard queries", "OpenSLO schema", "HCL parse", "runbook links", "stub import")


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """A synced copy of a service with every artifact, made once; tests break copies of it."""
    root = tmp_path_factory.mktemp("verify")
    folder = service_folder(root, TEST_DESCRIPTORS / "http-28d.yaml")
    result = run_opgen("sync", str(folder), cwd=root)
    assert result.returncode == 0, result.stderr
    return folder


def copy_of(kit: Path, tmp_path: Path) -> Path:
    target = tmp_path / kit.name
    shutil.copytree(kit, target, symlinks=True)
    return target


def lines_by_check(stdout: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        match = re.match(r"(ok|FAIL|skip)\s+(.+?)\s{2,}", line)
        if match:
            found.setdefault(match.group(2).strip(), []).append(match.group(1))
    return found


def test_a_fresh_kit_passes_every_check(kit, promtool):
    result = run_opgen("verify", str(kit), cwd=kit.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines_by_check(result.stdout)
    assert set(CHECKS) <= set(found), result.stdout
    assert all(status == "ok" for statuses in found.values() for status in statuses), result.stdout


def _break_rules(ops: Path) -> None:
    path = next((ops / "prometheus").glob("*.rules.yml"))
    path.write_text(path.read_text().replace("sum(rate(", "sum(rat(", 1))


def _break_rule_tests(ops: Path) -> None:
    path = next((ops / "prometheus").glob("*.rules.test.yml"))
    path.write_text(path.read_text().replace("severity: page", "severity: ticket", 1))


def _break_dashboard(ops: Path) -> None:
    path = next((ops / "grafana").glob("*.json"))
    path.write_text(path.read_text().replace('"expr": "', '"expr": "sum((', 1))


def _break_openslo(ops: Path) -> None:
    path = next((ops / "slo").glob("*.yaml"))
    path.write_text(path.read_text().replace("budgetingMethod: Occurrences", "budgetingMethod: Sometimes", 1))


def _break_hcl(ops: Path) -> None:
    path = next((ops / "terraform").glob("*.tf"))
    path.write_text(path.read_text() + "\nresource \"x\" \"y\" {\n")


def _break_runbook(ops: Path) -> None:
    path = next((ops / "runbooks").glob("*/README.md"))
    path.write_text(path.read_text() + "\nSee [the old page](Gone.md).\n")


def _break_stub(ops: Path) -> None:
    path = next((ops / "otel").glob("*.py"))
    path.write_text(path.read_text() + "\nthis is not python\n")


BREAKAGES = {
    "rules": _break_rules, "rule tests": _break_rule_tests, "dashboard queries": _break_dashboard,
    "OpenSLO schema": _break_openslo, "HCL parse": _break_hcl, "runbook links": _break_runbook,
    "stub import": _break_stub,
}


@pytest.mark.parametrize("check", sorted(BREAKAGES))
def test_each_broken_artifact_fails_its_check(kit, tmp_path, promtool, check):
    folder = copy_of(kit, tmp_path)
    BREAKAGES[check](folder / "ops")
    result = run_opgen("verify", str(folder), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    found = lines_by_check(result.stdout)
    assert "FAIL" in found[check], result.stdout
    failing = {name for name, statuses in found.items() if "FAIL" in statuses}
    # a broken rules file also breaks its unit tests, which load it; nothing else may fail
    assert failing <= {check, "rule tests"} if check == "rules" else failing == {check}, result.stdout


def test_a_missing_tool_is_skipped_with_how_to_install_it(kit, tmp_path):
    """With promtool off the PATH, its two checks say skip (not ok), and the others still run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {**os.environ, "PATH": str(bin_dir)}
    import subprocess

    result = subprocess.run([sys.executable, "-m", "opgen", "verify", str(kit)], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines_by_check(result.stdout + "\n")
    assert re.search(r"^skip\s+rules\s+prometheus/\s+promtool is not installed: apt-get install prometheus", result.stdout, re.M)
    assert re.search(r"^skip\s+rule tests\s", result.stdout, re.M)
    assert found["dashboard queries"] == ["ok"] and found["stub import"] == ["ok"]


def test_a_folder_without_a_kit_is_refused(tmp_path):
    result = run_opgen("verify", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "no generated kit" in result.stderr and "Traceback" not in result.stderr


BLUEPRINTS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "blueprints").glob("*.yaml"))


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_every_blueprint_gives_a_kit_that_passes_every_check(tmp_path, promtool, blueprint):
    created = run_opgen("new-service", "svc", "--blueprint", blueprint, "--no-input", "--team", "t", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    result = run_opgen("verify", "svc", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines_by_check(result.stdout)
    expected = set(CHECKS) - ({"HCL parse"} if blueprint == "cron-job" else set())  # a cron job has no autoscaler
    assert expected <= set(found), result.stdout
    assert all(status == "ok" for statuses in found.values() for status in statuses), result.stdout


def test_at_a_fleet_root_every_kit_is_verified_the_fleet_folder_and_each_services(tmp_path, promtool, amtool):
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for source in (TEST_DESCRIPTORS / "no-slos.yaml", TEST_DESCRIPTORS / "events.yaml"):
        service_folder(fleet, source)
    assert run_opgen("sync", ".", cwd=fleet).returncode == 0
    result = run_opgen("verify", "fleet", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    verified = [line.removeprefix("verifying ") for line in result.stdout.splitlines() if line.startswith("verifying ")]
    assert verified == ["fleet/ops", "fleet/events/ops", "fleet/no-slos/ops"]
    found = lines_by_check(result.stdout)
    assert found["alertmanager config"] == ["ok"] and len(found["rules"]) == 2 and len(found["stub import"]) == 2


# --- the Go and Node.js stubs ---------------------------------------------------------------------

STUB_DESCRIPTOR = """\
apiVersion: opgen/v1
kind: Service
metadata: {{name: svc, team: t}}
spec:
  blueprint: {blueprint}
  runtime: {{language: {language}}}
"""
STUB_CHECKS = {"python": "stub import", "go": "go stub", "node": "node stub"}


def stub_kit(root: Path, language: str, blueprint: str = "http-api") -> Path:
    folder = root / "svc"
    folder.mkdir()
    (folder / "service.yaml").write_text(STUB_DESCRIPTOR.format(blueprint=blueprint, language=language))
    result = run_opgen("sync", "svc", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def verify_env(go_cache: Path, **extra: str) -> dict[str, str]:
    """Where the tests keep what the stubs need: npm packages in tests/node, one Go build cache."""
    return {**drivers.node_environment(), "GOCACHE": str(go_cache), **extra}


@pytest.mark.parametrize("language", ("go", "node"))
@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_every_blueprint_in_go_and_node_gives_a_kit_that_passes_every_check(tmp_path, promtool, go_cache, blueprint, language):
    drivers.require_toolchain(language)
    folder = stub_kit(tmp_path, language, blueprint)
    result = run_opgen("verify", str(folder), cwd=tmp_path, env=verify_env(go_cache))
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines_by_check(result.stdout)
    expected = set(CHECKS) - {"stub import"} | {STUB_CHECKS[language]}
    expected -= {"HCL parse"} if blueprint == "cron-job" else set()
    assert expected <= set(found) and "stub import" not in found, result.stdout
    assert all(status == "ok" for statuses in found.values() for status in statuses), result.stdout


def _break_go(stub: Path) -> None:
    stub.write_text(stub.read_text().replace("func Setup() error {", "func Setup() error {\n\tundefinedName()", 1))


def _break_node(stub: Path) -> None:
    stub.write_text(stub.read_text().replace("function setup() {", "function setup() {{", 1))


@pytest.mark.parametrize("language", ("go", "node"))
def test_a_go_or_node_stub_that_does_not_build_fails_its_check(tmp_path, go_cache, language):
    drivers.require_toolchain(language)
    folder = stub_kit(tmp_path, language)
    service = load_service(folder / "service.yaml")
    (_break_go if language == "go" else _break_node)(drivers.stub_path(folder, service, language))
    result = run_opgen("verify", str(folder), cwd=tmp_path, env=verify_env(go_cache))
    assert result.returncode == 1, result.stdout + result.stderr
    assert lines_by_check(result.stdout)[STUB_CHECKS[language]] == ["FAIL"], result.stdout


def test_a_node_stub_without_its_packages_is_skipped_with_how_to_install_them(tmp_path, go_cache):
    drivers.require_toolchain("node")
    folder = stub_kit(tmp_path, "node")
    env = {k: v for k, v in verify_env(go_cache).items() if k != "NODE_PATH"}  # tmp_path is below no node_modules
    result = run_opgen("verify", str(folder), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^skip\s+node stub\s+otel/svc_telemetry\.js\s+syntax ok \(node --check\); not loaded: "
                     r"@opentelemetry/\S+ is not installed where the module is: npm install ", result.stdout, re.M), result.stdout


def test_a_go_stub_in_a_module_without_client_golang_is_skipped_with_how_to_add_it(tmp_path, go_cache):
    """Never a download: GOPROXY=off, and go.mod is only read."""
    drivers.require_toolchain("go")
    folder = stub_kit(tmp_path, "go")
    (folder / "go.mod").write_text("module example.com/svc\n\ngo 1.19\n")
    result = run_opgen("verify", str(folder), cwd=tmp_path, env=verify_env(go_cache))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^skip\s+go stub\s+otel/svctelemetry\s+github.com/prometheus/client_golang is not in the module "
                     r".*go get github.com/prometheus/client_golang", result.stdout, re.M), result.stdout
    assert (folder / "go.mod").read_text() == "module example.com/svc\n\ngo 1.19\n" and not (folder / "go.sum").exists()
