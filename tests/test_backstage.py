"""ops/backstage/<name>.catalog-info.yaml: a valid Backstage Component entity whose annotations point
at what the kit really generated (alert names and recordings in the rules, the dashboard's uid),
and templates/backstage/template.yaml: a Software Template asking the cookiecutter's questions."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from conftest import EXAMPLES, ROOT, TEST_DESCRIPTORS, is_stat_cache, require, run_opgen, service_folder
from opgen import conventions as c
from opgen.descriptor.load import load_service
from opgen.sync.discover import find_descriptors

CHECKOUT = EXAMPLES / "checkout" / "service.yaml"
DESCRIPTORS = sorted(TEST_DESCRIPTORS.glob("*.yaml")) + [CHECKOUT]
TEMPLATE = ROOT / "templates" / "backstage" / "template.yaml"

ENTITY_NAME = r"^[a-z0-9A-Z](?:[-_.a-z0-9A-Z]{0,61}[a-z0-9A-Z])?$"
ANNOTATION_KEY = r"^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?[a-zA-Z0-9](?:[-_.a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$"
TAG = r"^[a-z0-9:+#]+(?:-[a-z0-9:+#]+)*$"

# The Component entity as Backstage's catalog-model validates it (Entity envelope, metadata,
# Component spec), reduced to the fields opgen writes.
COMPONENT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "backstage.io/v1alpha1"},
        "kind": {"const": "Component"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": ENTITY_NAME},
                "description": {"type": "string", "minLength": 1},
                "tags": {"type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": TAG, "maxLength": 63}},
                "annotations": {"type": "object", "propertyNames": {"pattern": ANNOTATION_KEY},
                                "additionalProperties": {"type": "string", "minLength": 1}},
                "links": {"type": "array", "items": {
                    "type": "object", "required": ["url"], "additionalProperties": False,
                    "properties": {"url": {"type": "string", "pattern": "^https?://"}, "title": {"type": "string"},
                                   "icon": {"type": "string"}}}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["type", "lifecycle", "owner"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "service"},
                "lifecycle": {"enum": ["production", "experimental"]},
                "owner": {"type": "string", "pattern": r"^group:[a-z][a-z0-9-]*$"},
                "system": {"type": "string", "pattern": ENTITY_NAME},
                "dependsOn": {"type": "array", "uniqueItems": True, "minItems": 1,
                              "items": {"type": "string", "pattern": r"^(component|resource):[a-z0-9-]+$"}},
            },
        },
    },
}

COOKIECUTTER_QUESTIONS = {"name", "blueprint", "team", "tier", "platform", "namespace", "baseline_rps", "peak_rps",
                          "per_instance_rps", "gpus", "gpu_model", "gpu_hourly_cost_usd", "monthly_budget_usd", "slack",
                          "pagerduty_service_id", "dependencies", "objectives", "runbook_base_url"}
SCAFFOLDER_ACTIONS = {"fetch:cookiecutter", "fetch:template", "publish:github", "publish:gitlab", "catalog:register"}

# Backstage's Template kind as its catalog validates it: plugins/scaffolder-common/src/
# Template.v1beta3.schema.json, reduced to the fields a template writes (the Entity envelope's
# metadata rules are COMPONENT_SCHEMA's). Unknown fields are refused here, so a typo shows.
TEMPLATE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"enum": ["scaffolder.backstage.io/v1beta3"]},
        "kind": {"enum": ["Template"]},
        "metadata": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "pattern": ENTITY_NAME}, "title": {"type": "string", "minLength": 1},
                           "description": {"type": "string", "minLength": 1},
                           "tags": {"type": "array", "items": {"type": "string", "pattern": TAG}}},
        },
        "spec": {
            "type": "object",
            "required": ["type", "steps"],
            "additionalProperties": False,
            "properties": {
                "type": {"type": "string", "minLength": 1},
                "owner": {"type": "string", "minLength": 1},
                "parameters": {"type": "array", "items": {"type": "object"}},
                "steps": {"type": "array", "items": {
                    "type": "object", "required": ["action"], "additionalProperties": False,
                    "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "action": {"type": "string"},
                                   "input": {"type": "object"}, "if": {"type": ["string", "boolean"]}}}},
                "output": {"type": "object", "properties": {"links": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"if": {"type": ["string", "boolean"]}, "url": {"type": "string", "minLength": 1},
                                   "entityRef": {"type": "string", "minLength": 1}, "title": {"type": "string", "minLength": 1},
                                   "icon": {"type": "string", "minLength": 1}}}}}},
            },
        },
    },
}
# fetch:cookiecutter's input, as the action declares it (plugins/scaffolder-backend-module-cookiecutter/
# src/actions/fetch/cookiecutter.ts).
FETCH_COOKIECUTTER_INPUT = {
    "type": "object", "required": ["url"], "additionalProperties": False,
    "properties": {"url": {"type": "string"}, "targetPath": {"type": "string"}, "values": {"type": "object"},
                   "copyWithoutRender": {"type": "array", "items": {"type": "string"}},
                   "extensions": {"type": "array", "items": {"type": "string"}}, "imageName": {"type": "string"}},
}


def ids(path: Path) -> str:
    return path.parent.name if path.name == "service.yaml" else path.stem


def load(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text())


def generate(tmp_path: Path, descriptor: Path) -> Path:
    """The ops/ folder of a fresh sync."""
    folder = service_folder(tmp_path, descriptor)
    result = run_opgen("sync", folder.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return folder / "ops"


@pytest.fixture(params=DESCRIPTORS, ids=ids)
def kit(request, tmp_path):
    """(the service model, its ops/ folder, the parsed catalog entity)."""
    service = load_service(request.param)
    ops = generate(tmp_path, request.param)
    path = ops / c.catalog_info_path(service.name)
    assert path == ops / "backstage" / f"{service.name}.catalog-info.yaml"
    return service, ops, load(path)


def test_the_schema_is_valid():
    Draft202012Validator.check_schema(COMPONENT_SCHEMA)


def test_the_entity_is_a_valid_component(kit):
    _, _, entity = kit
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in Draft202012Validator(COMPONENT_SCHEMA).iter_errors(entity)]
    assert errors == []


def test_the_file_says_where_it_comes_from(kit):
    service, ops, _ = kit
    text = (ops / c.catalog_info_path(service.name)).read_text()
    assert text.startswith("# Generated by opgen from service.yaml. Do not edit by hand:\n")


def test_metadata_and_spec_come_from_the_descriptor(kit):
    service, _, entity = kit
    assert entity["metadata"]["name"] == service.name
    assert entity["metadata"].get("description", "") == service.description
    assert {service.team, f"tier-{service.tier}", service.platform, "opgen"} <= set(entity["metadata"]["tags"])
    spec = entity["spec"]
    assert spec["owner"] == f"group:{service.team}"
    assert spec.get("system") == service.system  # only a System the descriptor declares, never the namespace
    assert spec["lifecycle"] == ("production" if service.slos else "experimental")


def test_depends_on_names_each_dependency_once(kit):
    service, _, entity = kit
    expected = list(dict.fromkeys(f"component:{d.service}" if d.service else f"resource:{d.name}" for d in service.dependencies))
    assert entity["spec"].get("dependsOn", []) == expected


def test_checkout_depends_on_its_database_and_the_payments_gateway(tmp_path):
    entity = load(generate(tmp_path, CHECKOUT) / c.catalog_info_path("checkout"))
    assert entity["spec"]["dependsOn"] == ["resource:orders-db", "component:payments-gateway"]
    assert entity["spec"]["system"] == "shop" and entity["spec"]["lifecycle"] == "production"


def test_prometheus_annotations_name_the_alerts_and_recordings_of_the_rules(kit):
    service, ops, entity = kit
    annotations = entity["metadata"]["annotations"]
    groups = load(ops / c.rules_path(service.name))["groups"]
    rules = [r for g in groups for r in g["rules"]]
    alerts = {r["alert"] for r in rules if "alert" in r}
    recordings = {r["record"] for r in rules if "record" in r}

    assert set(annotations["prometheus.io/alert"].split(",")) == alerts
    # The plugin filters by these labels; every alert of the service carries them.
    assert annotations["prometheus.io/labels"] == f"service={service.name}"
    assert all(r["labels"]["service"] == service.name for r in rules if "alert" in r)

    if not service.slos:
        assert "prometheus.io/rule" not in annotations
        return
    for item in annotations["prometheus.io/rule"].split(","):
        query, dimension = item.split("|")
        metric, selector = re.fullmatch(r"([a-z_:0-9]+)\{(.*)\}", query).groups()
        assert metric in recordings and selector == f'service="{service.name}"' and dimension == "slo"


def test_grafana_annotations_only_with_a_grafana_url_and_at_the_dashboards_tag(kit):
    service, ops, entity = kit
    annotations = entity["metadata"]["annotations"]
    grafana = {k for k in annotations if k.startswith("grafana/")}
    if not service.grafana_url:
        assert grafana == set()
        return
    uid = json.loads((ops / c.dashboard_path(service.name)).read_text())["uid"]
    overview = annotations["grafana/overview-dashboard"]
    assert overview.startswith(service.grafana_url.rstrip("/") + f"/d/{uid}/")
    tags = json.loads((ops / c.dashboard_path(service.name)).read_text())["tags"]
    assert annotations["grafana/dashboard-selector"] == f"tags @> '{c.dashboard_tag(service.name)}'"
    assert c.dashboard_tag(service.name) in tags
    assert {"url": overview.removesuffix("?kiosk"), "title": "Grafana dashboard", "icon": "dashboard"} in entity["metadata"]["links"]


GRAFANA_PLUGIN = Path(__file__).parent / ".npm"  # .ci/run puts the plugin's query evaluator and jsep here
QUERY_EVALUATOR = GRAFANA_PLUGIN / "plugin-grafana" / "dist" / "query" / "QueryEvaluator.esm.js"
EVALUATE = """const [path, query, context] = process.argv.slice(2);
const { QueryEvaluator } = await import(path);
const evaluator = new QueryEvaluator();
try { console.log(JSON.stringify({result: evaluator.evaluate(evaluator.parse(query), JSON.parse(context))})); }
catch (error) { console.log(JSON.stringify({error: String(error.message)})); }
"""


@pytest.fixture(scope="session")
def grafana_selector(tmp_path_factory):
    """The Backstage Grafana plugin's own query evaluator (@backstage-community/plugin-grafana 0.21.0,
    dist/query/QueryEvaluator.esm.js, with jsep), run by node: (query, dashboard) -> its result or error."""
    node = shutil.which("node")
    require(node is not None and QUERY_EVALUATOR.is_file() and (GRAFANA_PLUGIN / "node_modules" / "jsep").is_dir(),
            "the Backstage Grafana plugin's query evaluator (node, @backstage-community/plugin-grafana, jsep)",
            "npm pack @backstage-community/plugin-grafana@0.21.0 and npm install jsep@1 into tests/.npm")
    script = tmp_path_factory.mktemp("grafana") / "evaluate.mjs"
    script.write_text(EVALUATE)

    def evaluate(query: str, dashboard: dict) -> dict:
        done = subprocess.run([node, str(script), str(QUERY_EVALUATOR), query, json.dumps(dashboard)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return evaluate


def search_hit(dashboard_file: Path) -> dict:
    """The dashboard as Grafana's /api/search lists it, what the plugin evaluates the selector against."""
    board = json.loads(dashboard_file.read_text())
    return {"uid": board["uid"], "title": board["title"], "url": f"/d/{board['uid']}/{board['uid']}", "type": "dash-db",
            "tags": board["tags"]}


def test_the_dashboard_selector_picks_the_services_dashboard_in_the_plugins_own_evaluator(tmp_path, grafana_selector):
    ops = generate(tmp_path, CHECKOUT)
    selector = load(ops / c.catalog_info_path("checkout"))["metadata"]["annotations"]["grafana/dashboard-selector"]
    own = search_hit(ops / c.dashboard_path("checkout"))
    other = own | {"uid": "opgen-cart", "url": "/d/opgen-cart/cart", "tags": ["payments", "tier-1", "opgen", c.dashboard_tag("cart")]}
    assert grafana_selector(selector, own) == {"result": True}
    assert grafana_selector(selector, other) == {"result": False}


def test_pagerduty_annotation_only_with_a_service_id(kit):
    service, _, entity = kit
    assert entity["metadata"]["annotations"].get("pagerduty.com/service-id") == service.pagerduty_service_id


def test_the_descriptor_annotation_resolves_from_the_entity_file(kit):
    service, ops, entity = kit
    relative = entity["metadata"]["annotations"]["opgen.dev/descriptor"]
    entity_file = ops / c.catalog_info_path(service.name)
    assert (entity_file.parent / relative).resolve() == (ops.parent / "service.yaml").resolve()


def test_sync_is_deterministic(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first = (generate(tmp_path / "a", CHECKOUT) / c.catalog_info_path("checkout")).read_text()
    second = (generate(tmp_path / "b", CHECKOUT) / c.catalog_info_path("checkout")).read_text()
    assert first == second


# --- the Software Template -------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict:
    return load(TEMPLATE)


def questions(template: dict) -> dict:
    """Every question of the form: the properties of all pages but the last (the repository)."""
    return {k: v for page in template["spec"]["parameters"][:-1] for k, v in page["properties"].items()}


def form_schema(template: dict) -> dict:
    """The form's pages as one JSON Schema, as the scaffolder checks the answers."""
    pages = template["spec"]["parameters"][:-1]
    return {"type": "object", "properties": questions(template), "required": [r for page in pages for r in page.get("required", [])]}


def test_the_template_is_a_scaffolder_v1beta3_template(template):
    Draft202012Validator.check_schema(TEMPLATE_SCHEMA)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in Draft202012Validator(TEMPLATE_SCHEMA).iter_errors(template)]
    assert errors == []
    fetch = template["spec"]["steps"][0]
    assert list(Draft202012Validator(FETCH_COOKIECUTTER_INPUT).iter_errors(fetch["input"])) == []


def test_the_form_asks_the_cookiecutter_questions(template):
    pages = template["spec"]["parameters"]
    assert set(questions(template)) == COOKIECUTTER_QUESTIONS
    for page in pages:
        Draft202012Validator.check_schema({k: v for k, v in page.items() if k != "title"})
        assert set(page.get("required", [])) <= set(page["properties"])
    assert set(pages[-1]["properties"]) == {"repoUrl"} and pages[-1]["properties"]["repoUrl"]["ui:field"] == "RepoUrlPicker"


@pytest.mark.parametrize(("name", "valid"), [
    ("checkout", True), ("a", True), ("payments-gateway2", True), ("a" * 63, True),
    ("Checkout", False), ("1checkout", False), ("checkout-", False), ("a" * 64, False), ("", False),
])
def test_the_name_is_validated_as_the_descriptor_does(template, name, valid):
    answers = {"name": name, "team": "payments", "tier": "2", "platform": "kubernetes", "blueprint": "http-api"}
    assert Draft202012Validator(form_schema(template)).is_valid(answers) is valid


# (question, answer): the form and opgen agree on each, accepting or refusing it.
FORM_ANSWERS = [
    ("team", "core-platform"), ("team", "Payments"), ("team", "pay_ments"),
    ("namespace", "shop"), ("namespace", "-shop"),
    ("baseline_rps", 0), ("baseline_rps", 2.5), ("baseline_rps", -1),
    ("peak_rps", 900), ("peak_rps", -5),
    ("per_instance_rps", 40), ("per_instance_rps", 0),
    ("gpus", 1), ("gpus", 16), ("gpus", 0), ("gpus", 17), ("gpus", 1.5),
    ("gpu_model", "nvidia-l4"), ("gpu_model", "NVIDIA A100 80GB"), ("gpu_model", "-l4"), ("gpu_model", "l4/80"),
    ("gpu_hourly_cost_usd", 0.8), ("gpu_hourly_cost_usd", -1),
    ("monthly_budget_usd", 3000), ("monthly_budget_usd", -1),
    ("slack", "#payments-oncall"), ("slack", "payments"), ("slack", "#Payments"),
    ("pagerduty_service_id", "PABC123"), ("pagerduty_service_id", "pabc123"), ("pagerduty_service_id", "P1"),
    ("dependencies", "orders-db:postgres:critical,cache:redis"), ("dependencies", "orders-db:postgres:critical, cache:redis"),
    ("dependencies", "none"), ("dependencies", "orders-db:postgress"), ("dependencies", "orders-db"),
    ("dependencies", "db:postgres:optional"), ("dependencies", "Orders:postgres"),
    ("objectives", "availability=99.95,latency=99"), ("objectives", "availability=99.95, latency=99"),
    ("objectives", "availability"), ("objectives", "availability=99,"), ("objectives", "availability=99,,latency=99"),
    ("dependencies", "cache:redis,"),
    ("runbook_base_url", "https://github.com/acme/checkout/blob/main"), ("runbook_base_url", "http://git.example.com/a/b"),
    ("runbook_base_url", "ftp://git.example.com/a"), ("runbook_base_url", "github.com/acme/checkout"),
    ("runbook_base_url", "https://git.example.com/a b"), ("runbook_base_url", "https://git.example.com/{x}"),
]


@pytest.mark.parametrize(("question", "answer"), FORM_ANSWERS)
def test_the_form_accepts_what_opgen_accepts(template, question, answer, tmp_path):
    from opgen.errors import DescriptorError
    from opgen.scaffold import Answers, check_answers

    given = {question: str(answer)} | ({"gpus": "1"} if question.startswith("gpu_") else {})
    try:
        check_answers(Answers("checkout", **({"team": "payments"} | given)), tmp_path)
        opgen_accepts = True
    except DescriptorError:
        opgen_accepts = False
    form = {"name": "checkout", "team": "payments", "tier": "2", "platform": "kubernetes", "blueprint": "http-api", question: answer}
    assert Draft202012Validator(form_schema(template)).is_valid(form) is opgen_accepts


def test_the_choices_are_those_of_the_descriptor(template):
    properties = questions(template)
    assert sorted(properties["tier"]["enum"]) == ["1", "2", "3", "4"]  # text, as the cookiecutter's choices
    assert properties["platform"]["enum"] == ["kubernetes", "ecs", "lambda"]
    blueprints = sorted(p.stem for p in (ROOT / "blueprints").glob("*.yaml"))
    assert sorted(properties["blueprint"]["enum"]) == blueprints
    assert (properties["gpus"]["minimum"], properties["gpus"]["maximum"]) == (1, 16)


def test_the_steps_create_publish_and_register_the_generated_entity(template):
    steps = template["spec"]["steps"]
    assert all(step["action"] in SCAFFOLDER_ACTIONS for step in steps)
    assert [s["action"].split(":")[0] for s in steps] == ["fetch", "publish", "catalog"]
    fetch = steps[0]["input"]
    assert set(fetch["values"]) == COOKIECUTTER_QUESTIONS
    assert (TEMPLATE.parent / fetch["url"]).resolve() == SKELETON  # relative: Backstage resolves it against this file
    assert find_descriptors([ROOT / "templates"]) == []  # the skeleton's file becomes service.yaml only when rendered
    for extension in fetch["extensions"]:
        module, _, name = extension.rpartition(".")
        assert hasattr(importlib.import_module(module), name), extension
    assert steps[2]["input"]["catalogInfoPath"] == "/ops/" + c.catalog_info_path("${{ parameters.name }}")
    assert template["spec"]["output"]["links"]


def test_the_questions_and_choices_are_those_of_the_cookiecutter_template(template):
    cookiecutter = json.loads((ROOT / "templates" / "cookiecutter-service" / "cookiecutter.json").read_text())
    assert {k for k in cookiecutter if not k.startswith("_")} == COOKIECUTTER_QUESTIONS
    properties = questions(template)
    assert list(properties) == [k for k in cookiecutter if not k.startswith("_")]  # in the same order
    for question in ("platform", "blueprint"):
        assert properties[question]["enum"] == cookiecutter[question]
        assert properties[question]["default"] == cookiecutter[question][0]
    # A cookiecutter's first choice is its default; the form lists tiers in order, with the same default.
    assert properties["tier"]["enum"] == ["1", "2", "3", "4"] == sorted(cookiecutter["tier"])
    assert properties["tier"]["default"] == cookiecutter["tier"][0] == "2"


# --- the template run as Backstage runs it -----------------------------------------------------

SKELETON = ROOT / "templates" / "backstage" / "skeleton"
EXPRESSION = re.compile(r"\$\{\{ parameters\.([a-z_]+)(?: or parameters\.([a-z_]+))? \}\}")
# `parameters.x or (a string joined with + from literals and fields of parseRepoUrl(parameters.repoUrl))`
JOINED_DEFAULT = re.compile(r"\$\{\{ parameters\.([a-z_]+) or \((.+)\) \}\}")
REPO_URL_FIELD = re.compile(r"\(parameters\.repoUrl \| parseRepoUrl\)\.([a-z]+)")


def parse_repo_url(value: str) -> dict[str, str]:
    """Backstage's parseRepoUrl filter for a RepoUrlPicker value: host?owner=...&repo=..."""
    from urllib.parse import parse_qs

    host, _, query = value.partition("?")
    return {"host": host} | {key: values[0] for key, values in parse_qs(query).items()}


def step_value(expression: str, form: dict):
    """One of the fetch step's values, as the scaffolder's templating renders it for `form`."""
    if match := EXPRESSION.fullmatch(expression):
        first, second = match.groups()
        value = form.get(first)
        return form.get(second) if second and not value else value  # `or` as in JavaScript
    match = JOINED_DEFAULT.fullmatch(expression)
    assert match, f"the test renders ${{{{ parameters.x }}}}, ${{{{ parameters.x or parameters.y }}}} and joined defaults, not {expression}"
    if form.get(match.group(1)):
        return form[match.group(1)]
    repo = parse_repo_url(form["repoUrl"])
    parts = [p.strip() for p in match.group(2).split(" + ")]
    return "".join(repo[field.group(1)] if (field := REPO_URL_FIELD.fullmatch(p)) else p.strip("'") for p in parts)


def step_values(template: dict, form: dict) -> dict:
    return {key: step_value(expression, form) for key, expression in template["spec"]["steps"][0]["input"]["values"].items()}

FORMS = {
    "http-api, every question answered": {
        "name": "checkout-api", "blueprint": "http-api", "team": "payments", "tier": "1", "platform": "kubernetes",
        "namespace": "shop", "baseline_rps": 40, "peak_rps": 250.5, "per_instance_rps": 30, "monthly_budget_usd": 4000,
        "slack": "#payments-oncall", "pagerduty_service_id": "PABC123",
        "dependencies": "orders-db:postgres:critical,cache:redis", "objectives": "availability=99.95,latency=99",
        "runbook_base_url": "https://git.example.com/payments/checkout-api/-/blob/main",
        "repoUrl": "github.com?owner=acme&repo=checkout-api",
    },
    "queue-worker on ecs, the rest left empty": {
        "name": "billing-worker", "blueprint": "queue-worker", "team": "billing", "tier": "3", "platform": "ecs",
        "repoUrl": "github.com?owner=acme&repo=billing-worker",
    },
    "gpu-inference with its own GPUs": {
        "name": "embedder", "blueprint": "gpu-inference", "team": "ml", "tier": "2", "platform": "kubernetes",
        "baseline_rps": 8, "peak_rps": 60, "gpus": 2, "gpu_model": "nvidia-a10g", "gpu_hourly_cost_usd": 1.2,
        "repoUrl": "github.com?owner=ml&repo=embedder",
    },
    "cron-job": {"name": "nightly-report", "blueprint": "cron-job", "team": "finance", "tier": "3", "platform": "kubernetes",
                 "repoUrl": "github.com?owner=finance&repo=nightly-report"},
}


def fetch_cookiecutter(tmp_path: Path, template: dict, form: dict) -> subprocess.CompletedProcess:
    """What Backstage's fetch:cookiecutter does with a local cookiecutter (cookiecutter.ts): fetch
    the url, relative to the template, into template/{{cookiecutter and 'contents'}}/; write the
    fetched cookiecutter.json (if any) updated with the step's values to template/cookiecutter.json;
    run `cookiecutter --no-input -o intermediate template`; the one folder made is the result."""
    step = template["spec"]["steps"][0]["input"]
    work = tmp_path / "work"
    contents = work / "template" / "{{cookiecutter and 'contents'}}"
    shutil.copytree((TEMPLATE.parent / step["url"]).resolve(), contents)
    values = {key: "" if value is None else value for key, value in step_values(template, form).items()}  # undefined: ""
    defaults = json.loads((contents / "cookiecutter.json").read_text()) if (contents / "cookiecutter.json").exists() else {}
    values |= {"_copy_without_render": step.get("copyWithoutRender"), "_extensions": step.get("extensions")}
    info = defaults | {k: v for k, v in values.items() if v is not None}  # JSON drops undefined values
    (work / "template" / "cookiecutter.json").write_text(json.dumps(info))
    (work / "intermediate").mkdir()
    config = tmp_path / "cookiecutterrc.yaml"
    config.write_text(json.dumps({"cookiecutters_dir": str(tmp_path / "cc"), "replay_dir": str(tmp_path / "cc-replay")}))
    return subprocess.run([sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(work / "intermediate"),
                           str(work / "template"), "--verbose"], capture_output=True, text=True,
                          env={**os.environ, "COOKIECUTTER_CONFIG": str(config)})


def new_service_args(answers: dict) -> list[str]:
    from opgen.scaffold import QUESTIONS

    args = ["new-service", answers["name"], "--no-input"]
    for question in QUESTIONS:
        if answers.get(question.key) not in (None, ""):
            args += [question.flag, str(answers[question.key])]
    return args


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not is_stat_cache(p)}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_backstage_creates_exactly_what_new_service_creates(tmp_path, template, form):
    result = fetch_cookiecutter(tmp_path, template, form)
    assert result.returncode == 0, result.stderr[-3000:]
    [generated] = (tmp_path / "work" / "intermediate").iterdir()  # what Backstage publishes
    assert sorted(p.name for p in generated.iterdir()) == ["opgen-settings.yaml", "ops", "service.yaml"]

    (tmp_path / "cli").mkdir()
    cli = run_opgen(*new_service_args(step_values(template, form)), cwd=tmp_path / "cli")
    assert cli.returncode == 0, cli.stderr
    from_backstage, from_cli = tree(generated), tree(tmp_path / "cli" / form["name"])
    assert sorted(from_backstage) == sorted(from_cli)
    for path, content in from_cli.items():
        assert from_backstage[path] == content, path
    assert (generated / "ops" / c.catalog_info_path(form["name"])).is_file()  # what the register step reads
    assert run_opgen("sync", "--check", generated.name, cwd=generated.parent).returncode == 0


def test_runbook_links_default_to_the_published_repository(tmp_path, template):
    assert step_values(template, FORMS["cron-job"])["runbook_base_url"] == "https://github.com/finance/nightly-report/blob/main"
    result = fetch_cookiecutter(tmp_path, template, FORMS["cron-job"])
    assert result.returncode == 0, result.stderr[-3000:]
    [generated] = (tmp_path / "work" / "intermediate").iterdir()
    rules = (generated / "ops" / c.rules_path("nightly-report")).read_text()
    assert "runbook_url: https://github.com/finance/nightly-report/blob/main/ops/runbooks/nightly-report/" in rules
    assert "runbook_base_url: https://github.com/finance/nightly-report/blob/main" in (generated / "opgen-settings.yaml").read_text()


def test_a_bad_answer_fails_the_step_with_opgens_message(tmp_path, template):
    form = FORMS["http-api, every question answered"] | {"peak_rps": 20}
    result = fetch_cookiecutter(tmp_path, template, form)
    assert result.returncode != 0
    assert "--peak-rps: is 20, below the typical 40" in result.stderr
    assert "opgen: 1 problem; nothing was created." in result.stderr and "Traceback" not in result.stderr
    assert not any((tmp_path / "work" / "intermediate").rglob("service.yaml"))
