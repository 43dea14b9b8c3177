"""The command line as users and scripts meet it: help, version, schema, blueprints, new-service,
and an installed `opgen` that finds its blueprints from any folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml_helpers

from conftest import EXAMPLES, ROOT, TEST_DESCRIPTORS, run_opgen

COMMANDS = ["validate", "sync", "new-service", "schema", "blueprints"]


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


def test_blueprints_are_listed_with_a_summary(tmp_path):
    result = run_opgen("blueprints", cwd=tmp_path)
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["http-api", "queue-worker"]
    assert all(len(line.split(maxsplit=1)) == 2 for line in result.stdout.splitlines())


def test_new_service_without_input_writes_a_valid_descriptor_and_its_ops(tmp_path):
    result = run_opgen("new-service", "demo", "--blueprint", "queue-worker", "--no-input", "--team", "growth",
                       "--objective", "processing-success=99.9", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    descriptor = yaml_helpers.load(tmp_path / "demo" / "service.yaml")
    assert descriptor["metadata"]["team"] == "growth"
    assert [s["objective"] for s in descriptor["spec"]["slos"]] == [99.9, 99]
    assert (tmp_path / "demo/ops/prometheus/demo.rules.yml").exists()
    assert run_opgen("sync", "--check", "demo", cwd=tmp_path).returncode == 0
    again = run_opgen("new-service", "demo", "--no-input", cwd=tmp_path)
    assert again.returncode == 2 and "never overwrites" in again.stderr


def test_new_service_asks_and_asks_again_on_a_bad_answer(tmp_path):
    answers = "payments\n7\n1\nkubernetes\nshop\n100\n900\n99.95\n99\n"
    result = run_opgen("new-service", "cart", cwd=tmp_path, input=answers)
    assert result.returncode == 0, result.stderr
    assert "is 7; it must be between 1 and 4" in result.stderr
    descriptor = yaml_helpers.load(tmp_path / "cart" / "service.yaml")
    assert descriptor["metadata"]["tier"] == 1 and descriptor["spec"]["runtime"]["namespace"] == "shop"
    assert descriptor["spec"]["slos"][0]["objective"] == 99.95


@pytest.mark.parametrize("args, message", [
    (["Bad_Name", "--no-input"], "NAME: 'Bad_Name' is not valid"),
    (["ok", "--no-input", "--objective", "availability=120"], "--objective: is 120"),
    (["ok", "--no-input", "--blueprint", "nope"], "unknown blueprint 'nope'"),
])
def test_new_service_refuses_bad_answers_and_writes_nothing(tmp_path, args, message):
    result = run_opgen("new-service", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_installed_command_finds_its_blueprints_from_any_folder(tmp_path):
    opgen = Path(sys.executable).parent / "opgen"  # the console script pip installed beside python
    assert opgen.exists(), "the opgen console script is not installed"
    result = subprocess.run([opgen, "blueprints"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "http-api" in result.stdout
    assert ROOT not in tmp_path.parents
