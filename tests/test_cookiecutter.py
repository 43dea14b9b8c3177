"""The cookiecutter template a developer portal runs: given the same answers, it creates exactly
the folder `opgen new-service NAME --no-input` creates, a bad answer leaves nothing behind, and
the real cruft updates a service made from it without reject files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

import yaml_helpers
from conftest import is_stat_cache, require, run_opgen
from opgen import conventions as c
from opgen.descriptor.blueprints import available_blueprints
from opgen.resources import data_path

TEMPLATE = data_path("templates") / "cookiecutter-service"

# cookiecutter answer -> `opgen new-service` flag; an empty answer is an omitted flag, and a
# comma-separated answer to a repeatable flag is given as that flag repeated
FLAGS = {"blueprint": "--blueprint", "team": "--team", "tier": "--tier", "platform": "--platform",
         "namespace": "--namespace", "baseline_rps": "--baseline-rps", "peak_rps": "--peak-rps",
         "per_instance_rps": "--per-instance-rps", "gpus": "--gpus", "gpu_model": "--gpu-model",
         "gpu_hourly_cost_usd": "--gpu-hourly-cost-usd", "monthly_budget_usd": "--monthly-budget-usd",
         "slack": "--slack", "pagerduty_service_id": "--pagerduty-service-id", "runbook_base_url": "--runbook-base-url"}
REPEATABLE = {"dependencies": "--dependency", "objectives": "--objective"}

ANSWER_SETS = {
    "http-api on kubernetes, every question answered": {
        "name": "checkout-api", "blueprint": "http-api", "team": "payments", "tier": "1", "platform": "kubernetes",
        "namespace": "shop", "baseline_rps": "40", "peak_rps": "250.5", "per_instance_rps": "30",
        "monthly_budget_usd": "4000", "slack": "#payments-oncall", "pagerduty_service_id": "PABC123",
        "dependencies": "orders-db:postgres:critical, cache:redis", "objectives": "availability=99.95, latency=99",
        "runbook_base_url": "https://github.com/acme/checkout-api/blob/main",
    },
    "queue-worker on ecs with defaults": {
        "name": "billing-worker", "blueprint": "queue-worker", "platform": "ecs", "tier": "3",
    },
    "queue-worker on kubernetes with defaults": {"name": "billing-worker", "blueprint": "queue-worker"},
    "queue-worker on lambda without dependencies": {
        "name": "mailer", "blueprint": "queue-worker", "platform": "lambda", "team": "growth", "tier": "4",
        "baseline_rps": "2.5", "dependencies": "none", "objectives": "processing-time=99.5",
    },
    "cron-job with on-call": {
        "name": "nightly-report", "blueprint": "cron-job", "team": "finance", "slack": "#finance-oncall",
        "objectives": "on-time=99.5", "monthly_budget_usd": "150",
    },
    "gpu-inference with its own GPUs and a budget": {
        "name": "embedder", "blueprint": "gpu-inference", "team": "ml-platform", "baseline_rps": "8", "peak_rps": "60",
        "per_instance_rps": "12", "gpus": "2", "gpu_model": "nvidia-a10g", "gpu_hourly_cost_usd": "1.2",
        "monthly_budget_usd": "12000", "pagerduty_service_id": "PML42", "dependencies": "models:s3:critical",
    },
    "grpc-api that asks for a GPU": {
        "name": "ranker", "blueprint": "grpc-api", "team": "search", "gpus": "1", "baseline_rps": "100",
    },
}

BAD_ANSWERS = {
    "name not a DNS label": {"name": "Bad_Name"},
    "objective of 120": {"name": "ok", "blueprint": "http-api", "objectives": "availability=120"},
    "objective of an SLO the blueprint lacks": {"name": "ok", "blueprint": "queue-worker", "objectives": "availability=99.9"},
    "objective not SLO=PERCENT": {"name": "ok", "objectives": "availability"},
    "peak below typical": {"name": "ok", "baseline_rps": "100", "peak_rps": "20"},
    "traffic for a cron job": {"name": "ok", "blueprint": "cron-job", "baseline_rps": "5"},
    "GPU blueprint off kubernetes": {"name": "ok", "blueprint": "gpu-inference", "platform": "ecs"},
    "GPU model without GPUs": {"name": "ok", "gpu_model": "nvidia-l4"},
    "unknown dependency kind": {"name": "ok", "dependencies": "orders-db:postgress"},
    "dependency without a kind": {"name": "ok", "dependencies": "orders-db"},
    "Slack channel without #": {"name": "ok", "slack": "payments"},
    "budget not a number": {"name": "ok", "monthly_budget_usd": "lots"},
}  # cookiecutter itself refuses an answer outside a choice (blueprint, tier, platform) before any hook


def run_template(tmp_path: Path, answers: dict[str, str], out: Path) -> Path:
    """The real cookiecutter API, as a portal calls it, with its config and replay kept in tmp_path."""
    config = tmp_path / "cookiecutterrc.yaml"
    config.write_text(json.dumps({"cookiecutters_dir": str(tmp_path / "cc-dirs"), "replay_dir": str(tmp_path / "cc-replay")}))
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(out), config_file=str(config)))


def new_service_args(answers: dict[str, str]) -> list[str]:
    args = ["new-service", answers["name"], "--no-input"]
    for key, flag in FLAGS.items():
        if answers.get(key):
            args += [flag, answers[key]]
    for key, flag in REPEATABLE.items():
        for item in filter(None, (part.strip() for part in answers.get(key, "").split(","))):
            args += [flag, item]
    return args


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` by relative path, except sync's lock file and stat cache (artifacts of running)."""
    lock = Path(c.OPS_DIR) / c.LOCK_PATH
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder) != lock and not is_stat_cache(p)}


def test_the_template_is_found_where_opgen_keeps_its_templates():
    assert (TEMPLATE / "cookiecutter.json").is_file()
    assert (TEMPLATE / "hooks" / "pre_gen_project.py").is_file() and (TEMPLATE / "hooks" / "post_gen_project.py").is_file()


def test_the_questions_are_new_services_and_offer_what_opgen_accepts():
    from opgen.scaffold import QUESTIONS

    questions = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    asked = [k for k in questions if not k.startswith("_")]
    assert asked == ["name", *(q.key for q in QUESTIONS)]  # the same questions, in new-service's order
    assert set(FLAGS) | set(REPEATABLE) == {q.key for q in QUESTIONS}
    assert {q.key: q.flag for q in QUESTIONS} == FLAGS | REPEATABLE
    assert questions["blueprint"][0] == "http-api" and sorted(questions["blueprint"]) == sorted(available_blueprints())
    assert sorted(questions["tier"]) == ["1", "2", "3", "4"] and questions["tier"][0] == "2"
    assert questions["platform"] == ["kubernetes", "ecs", "lambda"]
    assert questions["namespace"] == "{{ cookiecutter.name }}"
    assert set(questions["__prompts__"]) == set(asked)


def test_both_hooks_read_the_answers_the_same_way():
    def answers_section(hook: str) -> str:
        text = (TEMPLATE / "hooks" / hook).read_text()
        return text[text.index("# --- answers"):text.index("# --- end of answers ---")]

    assert answers_section("pre_gen_project.py") == answers_section("post_gen_project.py")


@pytest.mark.parametrize("answers", ANSWER_SETS.values(), ids=ANSWER_SETS.keys())
def test_the_template_creates_exactly_what_new_service_creates(tmp_path, answers):
    project = run_template(tmp_path, answers, tmp_path / "portal")
    assert project == tmp_path / "portal" / answers["name"]
    assert sorted(p.name for p in (tmp_path / "portal").iterdir()) == [answers["name"]]
    settings = ["opgen-settings.yaml"] if answers.get("runbook_base_url") else []
    assert sorted(p.name for p in project.iterdir()) == [*settings, "ops", "service.yaml"]

    (tmp_path / "cli").mkdir()
    result = run_opgen(*new_service_args(answers), cwd=tmp_path / "cli")
    assert result.returncode == 0, result.stderr

    from_template, from_cli = tree(project), tree(tmp_path / "cli" / answers["name"])
    assert sorted(from_template) == sorted(from_cli)
    assert "ops/.opgen/manifest.json" in from_template
    for path, content in from_cli.items():
        assert from_template[path] == content, path
    assert run_opgen("sync", "--check", answers["name"], cwd=tmp_path / "portal").returncode == 0


def test_the_answers_reach_the_descriptor(tmp_path):
    answers = ANSWER_SETS["http-api on kubernetes, every question answered"]
    descriptor = yaml_helpers.load(run_template(tmp_path, answers, tmp_path / "portal") / "service.yaml")
    assert descriptor["metadata"]["oncall"] == {"slack": "#payments-oncall", "pagerduty_service_id": "PABC123"}
    assert descriptor["spec"]["traffic"] == {"baseline_rps": 40, "peak_rps": 250.5, "per_instance_rps": 30}
    assert descriptor["spec"]["cost"] == {"monthly_budget_usd": 4000}
    assert descriptor["spec"]["dependencies"] == [{"name": "orders-db", "kind": "postgres", "critical": True},
                                                  {"name": "cache", "kind": "redis"}]
    assert [s["objective"] for s in descriptor["spec"]["slos"]] == [99.95, 99]


@pytest.mark.parametrize("answers", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_a_bad_answer_prints_opgens_message_and_leaves_nothing(tmp_path, capfd, caplog, answers):
    out = tmp_path / "portal"
    out.mkdir()
    with pytest.raises(FailedHookException):
        run_template(tmp_path, answers, out)
    assert "pre_gen_project hook script didn't exit successfully" in caplog.text
    stderr = capfd.readouterr().err
    assert list(out.iterdir()) == []

    (tmp_path / "cli").mkdir()
    result = run_opgen(*new_service_args(answers), cwd=tmp_path / "cli")
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if not line.startswith("opgen: ")]
    assert problems and all(problem in stderr.splitlines() for problem in problems), (problems, stderr)
    assert "Traceback" not in stderr
    assert list((tmp_path / "cli").iterdir()) == []


# --- cruft: updates of a service made from the template -------------------------------------------------

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "opgen tests", "GIT_AUTHOR_EMAIL": "tests@opgen.invalid",
                "GIT_COMMITTER_NAME": "opgen tests", "GIT_COMMITTER_EMAIL": "tests@opgen.invalid"}


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **GIT_IDENTITY})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_cruft_update_of_a_service_from_the_template_leaves_no_reject_files(tmp_path):
    """The real cruft: create a service from the template (a git repository, as cruft wants it),
    commit it, change the template, `cruft update`: nothing machine-specific makes a .rej."""
    cruft = shutil.which("cruft", path=str(Path(sys.executable).parent)) or shutil.which("cruft")
    require(cruft is not None, "cruft", "pip install 'opgen[test]' (cruft is in the test extra)")
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template)
    git(template, "init", "-q")
    git(template, "add", "-A")
    git(template, "commit", "-qm", "template")
    env = {**os.environ, **GIT_IDENTITY}
    created = subprocess.run([cruft, "create", str(template), "--no-input", "--output-dir", str(tmp_path / "out"),
                              "--extra-context", json.dumps({"name": "demo", "team": "payments"})],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "out" / "demo"
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the new service")
    (template / "README.md").write_text((template / "README.md").read_text() + "\nA change of the template.\n")
    git(template, "commit", "-qam", "a newer template")
    run_opgen("sync", ".", cwd=project)  # a sync on this machine, as after any change: the stat cache is back
    updated = subprocess.run([cruft, "update", "--skip-apply-ask", "--project-dir", str(project)],
                             cwd=project, capture_output=True, text=True, timeout=300, env=env)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*.rej")) == []
    assert git(project, "status", "--porcelain").split() == ["M", ".cruft.json"]
