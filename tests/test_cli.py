"""The command line as users and scripts meet it: help, version, schema, blueprints, new-service,
and an installed `opgen` that finds its blueprints from any folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml_helpers

from conftest import EXAMPLES, ROOT, TEST_DESCRIPTORS, run_opgen

COMMANDS = ["validate", "sync", "diff", "new-service", "schema", "blueprints"]
BUILTIN_BLUEPRINTS = ["cron-job", "gpu-inference", "grpc-api", "http-api", "queue-worker"]


def test_version(tmp_path):
    from opgen import __version__

    result = run_opgen("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"opgen, version {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(tmp_path, command):
    result = run_opgen(command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "Usage: opgen " + command in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_the_json_schema_accepts_every_valid_descriptor_and_rejects_a_bad_one(tmp_path):
    schema = json.loads(run_opgen("schema", cwd=tmp_path).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in [EXAMPLES / "checkout" / "service.yaml", *TEST_DESCRIPTORS.glob("*.yaml")]:
        assert list(validator.iter_errors(yaml_helpers.load(path))) == [], path
    bad = yaml_helpers.load(EXAMPLES / "checkout" / "service.yaml")
    bad["spec"]["slos"][0]["objective"] = 120
    bad["metadata"]["teem"] = "x"
    assert len(list(validator.iter_errors(bad))) == 2


def test_blueprints_are_listed_with_a_summary_and_where_they_come_from(tmp_path):
    result = run_opgen("blueprints", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == BUILTIN_BLUEPRINTS
    for line in lines:
        name, summary = line.split(maxsplit=1)
        assert summary.endswith(". [built-in]") and len(summary) > 30, line


@pytest.mark.parametrize("command", ["validate", "sync", "diff", "new-service", "blueprints"])
def test_every_command_that_reads_blueprints_takes_blueprint_folders(tmp_path, command):
    assert "--blueprints DIR" in run_opgen(command, "--help", cwd=tmp_path).stdout
    args = {"new-service": ["new-service", "demo", "--no-input"]}.get(command, [command])
    if command in ("validate", "sync", "diff"):
        shutil.copytree(EXAMPLES / "checkout", tmp_path / "checkout", ignore=shutil.ignore_patterns("ops"))
    result = run_opgen(*args, "--blueprints", "missing", cwd=tmp_path)
    assert result.returncode == 2 and "--blueprints: 'missing' is not a folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo").exists() and not (tmp_path / "checkout" / "ops").exists()


def test_new_service_without_input_writes_a_valid_descriptor_and_its_ops(tmp_path):
    result = run_opgen("new-service", "demo", "--blueprint", "queue-worker", "--no-input", "--team", "growth",
                       "--objective", "processing-success=99.9", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    descriptor = yaml_helpers.load(tmp_path / "demo" / "service.yaml")
    assert descriptor["metadata"]["team"] == "growth"
    assert [(s["name"], s["objective"]) for s in descriptor["spec"]["slos"]] == [
        ("processing-success", 99.9), ("freshness", 99), ("processing-time", 99)]
    assert descriptor["spec"]["dependencies"] == [{"name": "broker", "kind": "kafka", "critical": True}]  # the blueprint's
    assert (tmp_path / "demo/ops/prometheus/demo.rules.yml").exists()
    assert run_opgen("sync", "--check", "demo", cwd=tmp_path).returncode == 0
    assert run_opgen("validate", "demo", cwd=tmp_path).returncode == 0
    again = run_opgen("new-service", "demo", "--no-input", cwd=tmp_path)
    assert again.returncode == 2 and "never overwrites" in again.stderr


def test_new_service_asks_and_asks_again_on_a_bad_answer(tmp_path):
    answers = [
        "queue-worker",  # blueprint
        "Payments", "payments",  # team: refused, then fine
        "7", "1",  # tier: not a choice, then fine
        "kubernetes",  # platform
        "shop",  # namespace
        "100", "50", "900",  # typical; a peak below it is refused
        "40",  # per-instance capacity
        "n",  # GPUs?
        "abc", "5000",  # budget: not a number, then fine
        "payments-oncall", "#payments-oncall",  # Slack: the channel needs its #
        "",  # PagerDuty: none
        "orders-db:postgress", "broker:sqs:critical,orders-db:postgres",  # dependencies: unknown kind, then fine
        "99.95", "", "120", "99.5",  # objectives: the third refused, then fine
        "git.example.com/cart", "https://git.example.com/shop/cart/-/blob/main",  # runbook base URL: not a URL, then fine
    ]
    result = run_opgen("new-service", "cart", cwd=tmp_path, input="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    for problem in ["'Payments' is not valid", "'7' is not one of", "is 50, below the typical 100", "'abc' is not a number",
                    "'payments-oncall' is not valid", "kind is 'postgress'", "processing-time is 120",
                    "'git.example.com/cart' must be an http(s) URL"]:
        assert problem in result.stdout + result.stderr, problem
    descriptor = yaml_helpers.load(tmp_path / "cart" / "service.yaml")
    meta, spec = descriptor["metadata"], descriptor["spec"]
    assert (meta["team"], meta["tier"], meta["oncall"]) == ("payments", 1, {"slack": "#payments-oncall"})
    assert spec["runtime"] == {"platform": "kubernetes", "namespace": "shop"}
    assert spec["traffic"] == {"baseline_rps": 100, "peak_rps": 900, "per_instance_rps": 40}
    assert spec["cost"] == {"monthly_budget_usd": 5000} and "resources" not in spec
    assert spec["dependencies"] == [{"name": "broker", "kind": "sqs", "critical": True}, {"name": "orders-db", "kind": "postgres"}]
    assert [s["objective"] for s in spec["slos"]] == [99.95, 99, 99.5]
    settings = yaml_helpers.load(tmp_path / "cart" / "opgen-settings.yaml")
    assert settings == {"runbook_base_url": "https://git.example.com/shop/cart/-/blob/main"}


def test_new_service_asks_for_gpus_with_the_blueprints_figures_as_defaults(tmp_path):
    # gpu-inference, team, tier, platform, namespace, typical, peak, per-instance: Enter for the rest
    answers = ["gpu-inference", "ml", "", "", "", "8", "", "", "2", "", "", ""]
    result = run_opgen("new-service", "embedder", cwd=tmp_path, input="\n".join(answers) + "\n" * 10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Does it need GPUs?" not in result.stdout  # the blueprint has them: only their figures are asked
    spec = yaml_helpers.load(tmp_path / "embedder" / "service.yaml")["spec"]
    assert spec["resources"] == {"gpu": {"count": 2, "model": "nvidia-l4", "hourly_cost_usd": 0.8}}
    assert spec["traffic"] == {"baseline_rps": 8, "peak_rps": 40}


@pytest.mark.parametrize("args, message", [
    (["Bad_Name", "--no-input"], "NAME: 'Bad_Name' is not valid"),
    (["ok", "--no-input", "--objective", "availability=120"], "--objective: availability is 120; it must be between 0 and 100"),
    (["ok", "--no-input", "--blueprint", "nope"], "--blueprint: unknown blueprint 'nope'"),
    (["ok", "--no-input", "--tier", "7"], "--tier: is 7; it must be between 1 and 4"),
    (["ok", "--no-input", "--platform", "k8s"], "--platform: is 'k8s'; expected one of kubernetes, ecs, lambda"),
    (["ok", "--no-input", "--peak-rps", "1"], "--peak-rps: is 1, below the typical 10"),
    (["ok", "--no-input", "--gpus", "1", "--platform", "lambda"], "--gpus: GPUs are supported on kubernetes only, not on lambda"),
    (["ok", "--no-input", "--gpus", "0"], "--gpus: is 0; it must be between 1 and 16"),
    (["ok", "--no-input", "--pagerduty-service-id", "pabc"], "--pagerduty-service-id: 'pabc' is not valid"),
    (["ok", "--no-input", "--dependency", "db:postgres,db:redis"], "--dependency: dependency 'db' is named twice"),
    (["ok", "--no-input", "--dependency", "db:postgres:optional"], "--dependency: 'db:postgres:optional' is not NAME:KIND"),
    (["ok", "--no-input", "--blueprint", "cron-job", "--peak-rps", "3"], "--peak-rps: the cron-job blueprint is a cron job"),
])
def test_new_service_refuses_bad_answers_and_writes_nothing(tmp_path, args, message):
    result = run_opgen("new-service", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_installed_command_finds_its_blueprints_from_any_folder(tmp_path):
    opgen = Path(sys.executable).parent / "opgen"  # the console script pip installed beside python
    assert opgen.exists(), "the opgen console script is not installed"
    result = subprocess.run([opgen, "blueprints"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "http-api" in result.stdout
    assert ROOT not in tmp_path.parents


def test_validate_strict_turns_warnings_into_errors(tmp_path):
    folder = tmp_path / "low"
    folder.mkdir()
    (folder / "service.yaml").write_text(
        "apiVersion: opgen/v1\nkind: Service\nmetadata: {name: low, team: payments}\n"
        "spec:\n  interfaces: [{kind: http, port: 8080}]\n"
        "  slos: [{name: availability, objective: 90, sli: {kind: availability}}]\n")
    plain = run_opgen("validate", "low", cwd=tmp_path)
    assert plain.returncode == 0 and "warning: with an objective of 90%" in plain.stderr
    strict = run_opgen("validate", "--strict", "low", cwd=tmp_path)
    assert strict.returncode == 2, strict.stderr
    assert "error: with an objective of 90%" in strict.stderr and "treated as errors (--strict)" in strict.stderr
    assert "Traceback" not in strict.stderr
