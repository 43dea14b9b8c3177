"""The cookiecutter template a developer portal runs: given the same answers, it creates exactly
the folder `opgen new-service NAME --no-input` creates, and a bad answer leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import run_opgen
from opgen import conventions as c
from opgen.descriptor.blueprints import available_blueprints
from opgen.resources import data_path

TEMPLATE = data_path("templates") / "cookiecutter-service"

# cookiecutter answer -> `opgen new-service` flag; an empty answer is an omitted flag
FLAGS = {"blueprint": "--blueprint", "team": "--team", "tier": "--tier", "platform": "--platform",
         "namespace": "--namespace", "baseline_rps": "--baseline-rps", "peak_rps": "--peak-rps"}

ANSWER_SETS = {
    "http-api on kubernetes with objectives": {
        "name": "checkout-api", "blueprint": "http-api", "team": "payments", "tier": "1", "platform": "kubernetes",
        "namespace": "shop", "baseline_rps": "40", "peak_rps": "250.5", "objectives": "availability=99.95, latency=99",
    },
    "queue-worker on ecs with defaults": {
        "name": "billing-worker", "blueprint": "queue-worker", "platform": "ecs", "tier": "3",
    },
    "queue-worker on kubernetes with defaults": {"name": "billing-worker", "blueprint": "queue-worker"},
    "queue-worker on lambda": {
        "name": "mailer", "blueprint": "queue-worker", "platform": "lambda", "team": "growth", "tier": "4",
        "baseline_rps": "2.5", "objectives": "processing-time=99.5",
    },
}


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
    for item in filter(None, (part.strip() for part in answers.get("objectives", "").split(","))):
        args += ["--objective", item]
    return args


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` by relative path, except sync's lock file (an artifact of running)."""
    lock = Path(c.OPS_DIR) / c.LOCK_PATH
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder) != lock}


def test_the_template_is_found_where_opgen_keeps_its_templates():
    assert (TEMPLATE / "cookiecutter.json").is_file()
    assert (TEMPLATE / "hooks" / "pre_gen_project.py").is_file() and (TEMPLATE / "hooks" / "post_gen_project.py").is_file()


def test_the_questions_offer_what_opgen_accepts():
    questions = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    assert questions["blueprint"] == list(available_blueprints())
    assert sorted(questions["tier"]) == ["1", "2", "3", "4"] and questions["tier"][0] == "2"
    assert questions["platform"] == ["kubernetes", "ecs", "lambda"]
    assert questions["namespace"] == "{{ cookiecutter.name }}"
    assert set(questions["__prompts__"]) == {k for k in questions if not k.startswith("_")}


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
    assert sorted(p.name for p in project.iterdir()) == ["ops", "service.yaml"]

    (tmp_path / "cli").mkdir()
    result = run_opgen(*new_service_args(answers), cwd=tmp_path / "cli")
    assert result.returncode == 0, result.stderr

    from_template, from_cli = tree(project), tree(tmp_path / "cli" / answers["name"])
    assert sorted(from_template) == sorted(from_cli)
    assert "ops/.opgen/manifest.json" in from_template
    for path, content in from_cli.items():
        assert from_template[path] == content, path
    assert run_opgen("sync", "--check", answers["name"], cwd=tmp_path / "portal").returncode == 0


@pytest.mark.parametrize("answers", [
    {"name": "Bad_Name"},
    {"name": "ok", "blueprint": "http-api", "objectives": "availability=120"},
    {"name": "ok", "blueprint": "queue-worker", "objectives": "availability=99.9"},
    {"name": "ok", "objectives": "availability"},
], ids=["name not a DNS label", "objective of 120", "objective of an SLO the blueprint lacks", "objective not SLO=PERCENT"])
def test_a_bad_answer_prints_opgens_message_and_leaves_nothing(tmp_path, capfd, answers):
    out = tmp_path / "portal"
    out.mkdir()
    with pytest.raises(FailedHookException):
        run_template(tmp_path, answers, out)
    stderr = capfd.readouterr().err
    assert list(out.iterdir()) == []

    (tmp_path / "cli").mkdir()
    result = run_opgen(*new_service_args(answers), cwd=tmp_path / "cli")
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if not line.startswith("opgen: ")]
    assert problems and all(problem in stderr.splitlines() for problem in problems), (problems, stderr)
    assert "Traceback" not in stderr
