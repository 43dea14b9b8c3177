"""opgen.scaffold, the code behind `opgen new-service` and the portal templates: which questions
are asked for which blueprint, their defaults (from the blueprint), that every answer is checked
as the descriptor checks that field, and the commented service.yaml it writes."""

from __future__ import annotations

from dataclasses import fields

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from opgen.descriptor.load import load_service_text
from opgen.errors import DescriptorError
from opgen.scaffold import (
    QUESTIONS, Answers, BadAnswer, answers_from_flags, answers_from_text, build_descriptor, check_answers, scaffold,
)


class ScriptedPrompter:
    """Answers questions from a script as a person at the terminal would: an empty line takes the
    default, and a refused answer is followed by the next line. Records what was asked."""

    def __init__(self, *lines: str, gpus: bool = False) -> None:
        self.lines, self.gpus = list(lines), gpus
        self.asked: list[tuple[str, str]] = []  # (question, default)
        self.refused: list[str] = []
        self.confirmations: list[str] = []

    def ask(self, question, default, read, choices=None):
        while True:
            self.asked.append((question, default))
            text = (self.lines.pop(0) if self.lines else "") or default
            if choices is not None:
                assert text in choices, (question, text, choices)
            try:
                return read(text)
            except BadAnswer as problem:
                self.refused.append(str(problem))

    def confirm(self, question, default):
        self.confirmations.append(question)
        return self.gpus


def asked_about(prompter: ScriptedPrompter, word: str) -> list[tuple[str, str]]:
    return [(q, d) for q, d in prompter.asked if word.lower() in q.lower()]


def descriptor(text: str) -> CommentedMap:
    return YAML(typ="rt", pure=True).load(text)


def test_every_question_has_an_answer_field_a_flag_and_help():
    assert [f.name for f in fields(Answers)] == ["name", *(q.key for q in QUESTIONS)]
    assert len({q.flag for q in QUESTIONS}) == len(QUESTIONS)
    assert all(q.flag.startswith("--") and q.help.endswith(".") for q in QUESTIONS)


def test_portal_answers_and_flags_read_alike():
    portal = answers_from_text({"name": "cart", "team": " payments ", "gpus": "", "objectives": "a=1,b=2", "_template": "x"})
    flags = answers_from_flags("cart", {"team": "payments", "gpus": None, "objectives": ("a=1", "b=2")})
    assert portal == flags == Answers("cart", team="payments", objectives="a=1,b=2")


def test_interactive_defaults_come_from_the_blueprint():
    prompter = ScriptedPrompter("queue-worker")  # then Enter for everything
    text = build_descriptor(Answers("billing"), prompter)
    assert ("Platform", "kubernetes") in prompter.asked
    assert asked_about(prompter, "Kubernetes namespace") == [("Kubernetes namespace", "billing")]
    assert asked_about(prompter, "what it calls")[0][1] == "broker:kafka:critical"
    objectives = [(q.split(" SLO")[0].removeprefix("Objective of the "), d) for q, d in asked_about(prompter, "Objective of")]
    assert objectives == [("processing-success", "99.5"), ("freshness", "99"), ("processing-time", "99")]
    assert asked_about(prompter, "Typical messages per second") and asked_about(prompter, "Peak messages per second")
    assert asked_about(prompter, "Peak")[0][1] == "50"  # five times the typical 10
    spec = descriptor(text)["spec"]
    assert spec["dependencies"] == [{"name": "broker", "kind": "kafka", "critical": True}]


def test_a_gpu_blueprint_asks_for_its_gpus_figures_and_a_cost_hint_follows():
    prompter = ScriptedPrompter("gpu-inference")
    text = build_descriptor(Answers("embedder"), prompter)
    assert prompter.confirmations == []  # it has GPUs; no need to ask whether
    assert asked_about(prompter, "GPUs per replica") == [("GPUs per replica", "1")]
    assert asked_about(prompter, "GPU model")[0][1] == "nvidia-l4"
    assert asked_about(prompter, "costs per hour")[0][1] == "0.8"
    assert "the GPUs of one replica cost 584 USD a month" in asked_about(prompter, "Monthly cost budget")[0][0]  # 0.8 x 730
    assert descriptor(text)["spec"]["resources"] == {"gpu": {"count": 1, "model": "nvidia-l4", "hourly_cost_usd": 0.8}}


def test_gpus_are_asked_about_on_kubernetes_only():
    on_kubernetes = ScriptedPrompter("http-api", gpus=True)
    text = build_descriptor(Answers("ranker"), on_kubernetes)
    assert on_kubernetes.confirmations == ["Does it need GPUs?"]
    assert descriptor(text)["spec"]["resources"] == {"gpu": {"count": 1}}

    on_ecs = ScriptedPrompter("http-api", "", "", "ecs", gpus=True)
    text = build_descriptor(Answers("ranker"), on_ecs)
    assert on_ecs.confirmations == [] and "resources" not in descriptor(text)["spec"]


def test_a_gpu_blueprint_refuses_a_platform_without_gpus_and_asks_again():
    prompter = ScriptedPrompter("gpu-inference", "", "", "lambda", "kubernetes")
    build_descriptor(Answers("embedder"), prompter)
    assert prompter.refused == ["is 'lambda', but the gpu-inference blueprint needs GPUs, which opgen supports on kubernetes only"]


def test_a_cron_job_is_not_asked_about_traffic():
    prompter = ScriptedPrompter("cron-job")
    text = build_descriptor(Answers("nightly"), prompter)
    assert not asked_about(prompter, "per second")
    assert "traffic" not in descriptor(text)["spec"]


def test_without_input_only_the_given_answers_and_the_blueprint_count():
    text = build_descriptor(Answers("cart"))
    doc = descriptor(text)
    assert (doc["metadata"]["team"], doc["metadata"]["tier"]) == ("unassigned", 2)
    assert "oncall" not in doc["metadata"] and "cost" not in doc["spec"] and "dependencies" not in doc["spec"]
    assert doc["spec"]["traffic"] == {"baseline_rps": 10, "peak_rps": 50}
    assert text == build_descriptor(Answers("cart"))  # deterministic


# One refused answer per question, with (the start of) opgen's message: every answer is checked.
REFUSED = {
    "blueprint": ("nope", "unknown blueprint 'nope'; known: cron-job, gpu-inference, grpc-api, http-api, queue-worker"),
    "team": ("Payments", "'Payments' is not valid: lower-case words joined by '-'"),
    "tier": ("0", "is 0; it must be between 1 and 4"),
    "platform": ("k8s", "is 'k8s'; expected one of kubernetes, ecs, lambda"),
    "namespace": ("-shop", "'-shop' is not valid: a DNS label"),
    "baseline_rps": ("-1", "is -1; it must be between 0 and 10000000"),
    "peak_rps": ("five", "'five' is not a number"),
    "per_instance_rps": ("0", "is 0; it must be between 0 and 10000000 (both excluded)"),
    "gpus": ("1.5", "must be a whole number, not 1.5"),
    "gpu_model": ("nvidia l4 $", "'nvidia l4 $' is not valid: a GPU model like nvidia-l4"),
    "gpu_hourly_cost_usd": ("nan", "must be a finite number"),
    "monthly_budget_usd": ("-5", "is -5; it must be between 0 and 1000000000"),
    "slack": ("payments", "'payments' is not valid: a Slack channel like #payments-oncall"),
    "pagerduty_service_id": ("p-1", "'p-1' is not valid: a PagerDuty service id like PABC123"),
    "dependencies": ("Orders:postgres", "'Orders:postgres': name 'Orders' is not valid: a DNS label"),
    "objectives": ("availability=100", "availability is 100; it must be between 0 and 100 (both excluded)"),
    "runbook_base_url": ("git.example.com/shop", "'git.example.com/shop' must be an http(s) URL"),
}


@pytest.mark.parametrize("key", [q.key for q in QUESTIONS])
def test_every_answer_is_checked_as_the_descriptor_checks_its_field(key, tmp_path):
    assert set(REFUSED) == {q.key for q in QUESTIONS}
    text, message = REFUSED[key]
    given = {key: text} | ({"gpus": "1"} if key.startswith("gpu_") else {})
    with pytest.raises(DescriptorError) as refused:
        check_answers(Answers("cart", **given), tmp_path)
    flag = next(q.flag for q in QUESTIONS if q.key == key)
    problems = [str(p) for p in refused.value.problems]
    assert len(problems) == 1 and problems[0].startswith(f"{flag}: {message}"), problems


def test_the_descriptor_explains_each_field_it_writes():
    answers = Answers("cart", team="payments", baseline_rps="40", peak_rps="200", per_instance_rps="25", gpus="1",
                      gpu_model="nvidia-l4", gpu_hourly_cost_usd="0.8", monthly_budget_usd="2000", slack="#pay",
                      pagerduty_service_id="PABC1", dependencies="db:postgres:critical")
    text = build_descriptor(answers)
    load_service_text(text, "cart/service.yaml")
    unexplained = []

    def walk(mapping: CommentedMap, path: str) -> None:
        for key, value in mapping.items():
            if isinstance(value, CommentedMap) and not value.fa.flow_style():
                walk(value, f"{path}.{key}")
            elif key not in ("apiVersion", "kind") and not mapping.ca.items.get(key):
                unexplained.append(f"{path}.{key}")

    walk(descriptor(text), "")
    assert unexplained == []
    assert text.startswith("# Service descriptor for cart. Reference: docs/descriptor.md")


# --- where runbook links start: opgen-settings.yaml ---------------------------------------------------


def test_a_given_runbook_base_url_goes_to_the_new_folders_settings_file(tmp_path):
    folder = scaffold(Answers("cart", team="payments", runbook_base_url="https://github.com/acme/cart/blob/main"), tmp_path)
    settings = YAML(typ="rt", pure=True).load((folder / "opgen-settings.yaml").read_text())
    assert settings["runbook_base_url"] == "https://github.com/acme/cart/blob/main"
    assert settings.ca.items["runbook_base_url"]  # says what it is for
    assert not (scaffold(Answers("cart2", team="payments"), tmp_path) / "opgen-settings.yaml").exists()


def test_the_runbook_base_url_is_asked_unless_settings_above_give_it(tmp_path):
    prompter = ScriptedPrompter()
    scaffold(Answers("cart"), tmp_path, prompter)
    assert [d for _, d in asked_about(prompter, "browsable")] == [""]
    (tmp_path / "fleet").mkdir()
    (tmp_path / "fleet" / "opgen-settings.yaml").write_text("runbook_base_url: https://github.com/acme/shop/blob/main\n")
    prompter = ScriptedPrompter()
    folder = scaffold(Answers("cart"), tmp_path / "fleet", prompter)
    assert asked_about(prompter, "browsable") == [] and not (folder / "opgen-settings.yaml").exists()
