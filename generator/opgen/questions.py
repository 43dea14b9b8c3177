"""The questions `opgen new-service`, the cookiecutter template and the Backstage form ask.

Plain data, light to import: the CLI builds its options from it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from opgen.conventions import UNASSIGNED_TEAM

DEFAULT_BLUEPRINT = "http-api"
DEFAULT_TEAM = UNASSIGNED_TEAM
DEFAULT_TIER = "2"
DEFAULT_BASELINE_RPS = 10
DEFAULT_SPIKINESS = 5  # peak / typical when only the typical load is known


@dataclass(frozen=True)
class Question:
    """One question: the Answers field, cookiecutter variable and Backstage parameter `key`, the
    `opgen new-service` option `flag`, and the help both show."""

    key: str
    flag: str
    help: str
    metavar: str
    repeatable: bool = False


QUESTIONS = (
    Question("blueprint", "--blueprint", f"Preset to start from (`opgen blueprints` lists them; default {DEFAULT_BLUEPRINT}).", "NAME"),
    Question("team", "--team", "Owning team, e.g. payments: the team label, alert routing, the catalog owner.", "TEAM"),
    Question("tier", "--tier", "Criticality, 1 (most critical) to 4 (default 2).", "1-4"),
    Question("platform", "--platform", "Where it runs: kubernetes, ecs or lambda (default: the blueprint's).", "PLATFORM"),
    Question("namespace", "--namespace", "Kubernetes namespace or ECS cluster (default: the service name).", "NAME"),
    Question("baseline_rps", "--baseline-rps", "Typical requests (or messages) per second.", "RPS"),
    Question("peak_rps", "--peak-rps", "Highest expected requests per second; peak / typical is the spikiness "
             f"(default {DEFAULT_SPIKINESS} x typical).", "RPS"),
    Question("per_instance_rps", "--per-instance-rps", "Requests per second one instance sustains at full load, "
             "from a load test; sizes the replicas.", "RPS"),
    Question("gpus", "--gpus", "GPUs per replica, kubernetes only (default: the blueprint's, else none).", "COUNT"),
    Question("gpu_model", "--gpu-model", "GPU model, e.g. nvidia-l4.", "MODEL"),
    Question("gpu_hourly_cost_usd", "--gpu-hourly-cost-usd", "What one GPU costs per hour, in US dollars.", "USD"),
    Question("monthly_budget_usd", "--monthly-budget-usd", "What the service may cost per month, in US dollars.", "USD"),
    Question("slack", "--slack", "Slack channel for tickets and questions, e.g. '#payments-oncall'.", "CHANNEL"),
    Question("pagerduty_service_id", "--pagerduty-service-id", "PagerDuty service that pages go to, e.g. PABC123.", "ID"),
    Question("dependencies", "--dependency", "What it calls, as NAME:KIND or NAME:KIND:critical, e.g. "
             "orders-db:postgres:critical (repeatable or comma-separated; 'none' for none; default: the blueprint's).",
             "NAME:KIND[:critical]", repeatable=True),
    Question("objectives", "--objective", "Objective of a blueprint SLO, e.g. availability=99.95 "
             "(repeatable or comma-separated; default: the blueprint's).", "SLO=PERCENT", repeatable=True),
    Question("runbook_base_url", "--runbook-base-url", "Where the new service's folder will be browsable, e.g. "
             "https://github.com/acme/checkout/blob/main: runbook links in alerts, dashboard and catalog start there "
             "(written to NAME/opgen-settings.yaml; asked only when no opgen-settings.yaml above sets it).", "URL"),
)
FLAGS = {q.key: q.flag for q in QUESTIONS} | {"name": "NAME"}
