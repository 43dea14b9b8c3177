"""Users' own blueprint folders: given with --blueprints or listed in opgen-settings.yaml in the
descriptor's folder or above (up to the repository root). They shadow opgen's blueprints of the
same name, are checked like any blueprint (FILE:LINE:COL, exit 2, nothing written), and
`opgen blueprints` says where each blueprint comes from."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import yaml_helpers
from conftest import run_opgen
from opgen import conventions as c
from opgen.descriptor.blueprints import SETTINGS_FILE, builtin_blueprint_dir
from opgen.descriptor.load import load_service

# A house variant of http-api: tighter latency, a fixed database dependency.
HOUSE_API = """\
summary: The house HTTP API, with our database and a 300 ms latency SLO.
spec:
  runtime: {platform: kubernetes, language: python}
  interfaces:
    - {kind: http, port: 8080}
  slos:
    - name: availability
      objective: 99.9
      sli: {kind: availability}
    - name: latency
      objective: 99
      sli: {kind: latency, threshold: 300ms}
  dependencies:
    - {name: main-db, kind: postgres, critical: true}
"""

DESCRIPTOR = """\
apiVersion: opgen/v1
kind: Service
metadata: {{name: {name}, team: payments}}
spec:
  blueprint: {blueprint}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repository whose blueprints/ folder holds house-api and a house http-api, listed in the
    settings file at its root; services/ holds descriptors."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    write(root / "platform" / "blueprints" / "house-api.yaml", HOUSE_API)
    write(root / "platform" / "blueprints" / "http-api.yaml", HOUSE_API.replace("The house HTTP API", "Our http-api"))
    write(root / SETTINGS_FILE, "blueprints: [platform/blueprints]\n")
    return root


def test_a_descriptor_below_a_settings_file_uses_its_blueprints(repo):
    descriptor = write(repo / "services" / "cart" / "service.yaml", DESCRIPTOR.format(name="cart", blueprint="house-api"))
    service = load_service(descriptor)
    assert [d.name for d in service.dependencies] == ["main-db"]
    assert service.slos[1].sli.threshold_seconds * 1000 == 300

    result = run_opgen("sync", "services", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert (repo / "services" / "cart" / "ops" / c.rules_path("cart")).is_file()
    assert run_opgen("validate", cwd=repo / "services" / "cart").returncode == 0  # found from the descriptor's folder too


def test_a_user_blueprint_shadows_the_builtin_of_the_same_name(repo):
    descriptor = write(repo / "services" / "cart" / "service.yaml", DESCRIPTOR.format(name="cart", blueprint="http-api"))
    assert [d.name for d in load_service(descriptor).dependencies] == ["main-db"]  # the house http-api, not opgen's

    listing = run_opgen("blueprints", cwd=repo / "services")
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    # outside the current folder, so shown in full
    assert lines["http-api"].endswith(f"[from {repo / 'platform' / 'blueprints' / 'http-api.yaml'}; shadows the built-in]")
    assert "Our http-api" in lines["http-api"]
    assert lines["house-api"].split("[")[1].startswith("from ") and lines["grpc-api"].endswith("[built-in]")


def test_given_folders_come_before_the_settings_files_and_nearer_settings_before_farther(repo, tmp_path):
    write(repo / "services" / SETTINGS_FILE, "blueprints: [team-blueprints]\n")
    write(repo / "services" / "team-blueprints" / "house-api.yaml", HOUSE_API.replace("main-db", "team-db"))
    descriptor = write(repo / "services" / "cart" / "service.yaml", DESCRIPTOR.format(name="cart", blueprint="house-api"))
    assert [d.name for d in load_service(descriptor).dependencies] == ["team-db"]

    given = write(tmp_path / "mine" / "house-api.yaml", HOUSE_API.replace("main-db", "my-db")).parent
    assert [d.name for d in load_service(descriptor, blueprint_dirs=(given,)).dependencies] == ["my-db"]
    result = run_opgen("sync", "--blueprints", str(given), "services", cwd=repo)
    assert result.returncode == 0, result.stderr
    catalog = yaml_helpers.load(repo / "services" / "cart" / "ops" / c.catalog_info_path("cart"))
    assert catalog["spec"]["dependsOn"] == ["resource:my-db"]


def test_settings_above_the_repository_root_do_not_apply(tmp_path):
    write(tmp_path / SETTINGS_FILE, "blueprints: [outside]\n")
    write(tmp_path / "outside" / "house-api.yaml", HOUSE_API)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    write(tmp_path / "repo" / "cart" / "service.yaml", DESCRIPTOR.format(name="cart", blueprint="house-api"))
    result = run_opgen("validate", "cart", cwd=tmp_path / "repo")
    assert result.returncode == 2 and "unknown blueprint 'house-api'" in result.stderr


def test_the_settings_file_is_not_taken_for_a_descriptor(repo):
    assert not SETTINGS_FILE.endswith(c.DESCRIPTOR_SUFFIX) and SETTINGS_FILE not in c.DESCRIPTOR_FILENAMES
    result = run_opgen("validate", cwd=repo)
    assert result.returncode == 2 and "no descriptor found" in result.stderr


def test_an_invalid_user_blueprint_is_reported_at_its_line_and_nothing_is_written(repo):
    write(repo / "platform" / "blueprints" / "broken.yaml", """\
        summary: Broken on purpose.
        spec:
          slos:
            - name: availability
              objective: 120
              sli: {kind: availability}
          scaling: {min_replica: 2}
        """)
    write(repo / "services" / "cart" / "service.yaml", DESCRIPTOR.format(name="cart", blueprint="broken"))
    for command in ("validate", "sync"):
        result = run_opgen(command, "services", cwd=repo)
        assert result.returncode == 2, result.stdout
        assert "platform/blueprints/broken.yaml:5:18: spec.slos[0].objective is 120" in result.stderr
        assert "platform/blueprints/broken.yaml:7:13: unknown field spec.scaling.min_replica (did you mean 'min_replicas'?)" in result.stderr
        assert "nothing was written" in result.stderr and "Traceback" not in result.stderr
    assert not (repo / "services" / "cart" / "ops").exists()

    listing = run_opgen("blueprints", cwd=repo)
    assert listing.returncode == 2
    assert "broken           (invalid: see below)" in listing.stdout
    assert "platform/blueprints/broken.yaml:5:18:" in listing.stderr


@pytest.mark.parametrize("settings, message", [
    ("blueprints: [missing]\n", f"{SETTINGS_FILE}:1:14: blueprint folder 'missing' does not exist"),
    ("blueprint: [platform/blueprints]\n", f"{SETTINGS_FILE}:1:1: unknown field blueprint (did you mean 'blueprints'?)"),
    ("blueprints: platform/blueprints\n", f"{SETTINGS_FILE}:1:13: blueprints must be a list, not a string"),
    ("blueprints: [platform/blueprints\n", f"{SETTINGS_FILE}:1:13: invalid YAML"),
])
def test_a_bad_settings_file_is_one_clear_problem_at_its_line(repo, settings, message):
    write(repo / SETTINGS_FILE, settings)
    for name in ("cart", "shop"):
        write(repo / "services" / name / "service.yaml", DESCRIPTOR.format(name=name, blueprint="http-api"))
    result = run_opgen("sync", "services", cwd=repo)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    problems = [line for line in result.stderr.splitlines() if not line.startswith("opgen: ")]
    assert len(problems) == 1 and problems[0].startswith(message), result.stderr  # once, not once per descriptor
    assert not (repo / "services" / "cart" / "ops").exists()
    assert run_opgen("blueprints", cwd=repo).returncode == 2


def test_a_blueprint_file_whose_name_no_descriptor_can_use_is_reported(repo):
    write(repo / "platform" / "blueprints" / "House_API.yaml", HOUSE_API)
    result = run_opgen("blueprints", cwd=repo)
    assert result.returncode == 2
    assert "House_API.yaml: 'House_API' cannot be a blueprint name" in result.stderr


def test_new_service_starts_from_a_user_blueprint(repo):
    result = run_opgen("new-service", "cart", "--no-input", "--blueprint", "house-api", "--team", "payments", cwd=repo)
    assert result.returncode == 0, result.stderr
    spec = yaml_helpers.load(repo / "cart" / "service.yaml")["spec"]
    assert spec["blueprint"] == "house-api"
    assert spec["dependencies"] == [{"name": "main-db", "kind": "postgres", "critical": True}]
    assert [s["sli"] for s in spec["slos"]][1] == {"kind": "latency", "threshold": "300ms"}
    assert run_opgen("sync", "--check", "cart", cwd=repo).returncode == 0


def test_new_service_with_given_folders_says_how_to_sync_again(tmp_path):
    folder = write(tmp_path / "mine" / "house-api.yaml", HOUSE_API).parent
    result = run_opgen("new-service", "cart", "--no-input", "--blueprint", "house-api", "--blueprints", str(folder),
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"run `opgen sync --blueprints {folder} cart`" in result.stdout
    assert run_opgen("sync", "--check", "--blueprints", str(folder), "cart", cwd=tmp_path).returncode == 0
    assert run_opgen("sync", "--check", "cart", cwd=tmp_path).returncode == 2  # without the folder the blueprint is unknown


def test_builtin_blueprints_are_where_opgen_keeps_them():
    assert sorted(p.stem for p in builtin_blueprint_dir().glob("*.yaml")) == [
        "cron-job", "gpu-inference", "grpc-api", "http-api", "queue-worker"]
