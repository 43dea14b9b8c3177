"""The generated telemetry module emits what the generated rules and dashboard read.

Not by comparing strings: a real service is played against the module (tests/telemetry_driver.py,
in a fresh interpreter with the real OpenTelemetry SDK and Prometheus exporter), the real
/metrics endpoint is scraped, and every selector of the rules (and dashboard) must select a
series of that scrape.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import promql_parser
import pytest
import yaml_helpers
from prometheus_client.parser import text_string_to_metric_families

from conftest import EXAMPLES, TEST_DESCRIPTORS, run_opgen, service_folder
from opgen import conventions as c
from opgen.descriptor.checks import WINDOW_PLACEHOLDER
from opgen.descriptor.load import load_service
from opgen.descriptor.model import Service
from opgen.render import RenderContext
from opgen.render import otel_python
from opgen.slo.sli import le_values

DRIVER = Path(__file__).parent / "telemetry_driver.py"
CASES = [  # (descriptor, latency threshold to put in it instead of its own)
    pytest.param((EXAMPLES / "checkout" / "service.yaml", None), id="checkout"),
    pytest.param((TEST_DESCRIPTORS / "ecs-all-deps.yaml", None), id="ecs-all-deps"),  # every dependency kind, a queue consumer
    pytest.param((TEST_DESCRIPTORS / "gpu-inference.yaml", None), id="gpu-inference"),
    pytest.param((TEST_DESCRIPTORS / "grpc-7d.yaml", None), id="grpc-7d"),
    pytest.param((TEST_DESCRIPTORS / "queue-90d.yaml", None), id="queue-90d"),
    pytest.param((TEST_DESCRIPTORS / "http-28d.yaml", None), id="http-28d"),  # 1s: le "1.0" against le=~"1|1[.]0"
    pytest.param((EXAMPLES / "checkout" / "service.yaml", "300ms"), id="checkout-300ms"),  # not a default boundary
]
PROMETHEUS_OWN = {c.TARGET_UP_METRIC, "ALERTS", "ALERTS_FOR_STATE"}  # written by Prometheus, not scraped
TARGET_LABELS = {"job", "instance"}  # added by Prometheus at scrape time
PLATFORM_METRICS = {
    value for name, value in vars(c).items()
    if name.startswith(("K8S_", "GPU_", "ECS_", "LAMBDA_")) and isinstance(value, str)
}
GRAFANA_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]  # an empty value is no label, as in Prometheus
    value: float


@dataclass(frozen=True)
class Played:
    folder: Path
    service: Service
    samples: list[Sample]

    def named(self, name: str, **labels: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name and all(s.labels.get(k, "") == v for k, v in labels.items())]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sync(tmp_path: Path, descriptor: Path, threshold: str | None = None) -> Path:
    """`opgen sync` on a copy of descriptor, with every latency threshold set to `threshold` if given."""
    folder = service_folder(tmp_path, descriptor)
    if threshold:
        copy = folder / "service.yaml"
        copy.write_text(re.sub(r"threshold: \w+", f"threshold: {threshold}", copy.read_text()))
    result = run_opgen("sync", folder.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def without_otel_settings(**extra: str) -> dict[str, str]:
    """The environment minus OTEL_* variables (an OTLP endpoint set in CI must not leak in)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **extra}


def play(folder: Path) -> Played:
    """Run the driver against the generated module and parse its scrape."""
    service = load_service(folder / "service.yaml")
    module = folder / "ops" / c.telemetry_path(service.name)
    kinds = otel_python.declared_request_kinds(service)
    thresholds = [s.sli.threshold_seconds for s in service.slos if s.sli.kind == "latency"]
    plan = {
        "slow_seconds": float(max(thresholds, default=0)) + 0.05,
        "http": "http" in kinds, "grpc": "grpc" in kinds, "queue": "queue-consumer" in kinds,
        "dependencies": [[h.function, h.call_class] for h in otel_python.dependency_helpers(service)],
    }
    port = free_port()
    result = subprocess.run(
        [sys.executable, str(DRIVER), module.stem, json.dumps(plan)],
        env=without_otel_settings(PYTHONPATH=str(module.parent), OPGEN_METRICS_PORT=str(port)),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    samples = [
        Sample(s.name, {k: v for k, v in s.labels.items() if v != ""}, s.value)
        for family in text_string_to_metric_families(result.stdout) for s in family.samples
    ]
    return Played(folder, service, samples)


@pytest.fixture(scope="module", params=CASES)
def played(request, tmp_path_factory) -> Played:
    descriptor, threshold = request.param
    return play(sync(tmp_path_factory.mktemp("played"), descriptor, threshold))


# --- reading selectors out of PromQL ---------------------------------------------------------


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit, None)
    return found


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr) if s.name}


def not_emitted_by_the_service(played: Played, recorded: set[str]) -> set[str]:
    events = {
        name for slo in played.service.slos if slo.sli.kind == "events"
        for query in (slo.sli.errors_promql, slo.sli.total_promql)
        for name in metric_names(query.replace(WINDOW_PLACEHOLDER, "5m"))
    }
    return recorded | PROMETHEUS_OWN | PLATFORM_METRICS | events


def target_labels(played: Played) -> set[str]:
    return TARGET_LABELS | {m.name for m in selectors("x{" + played.service.selector + "}")[0].matchers.matchers}


def matches(matcher, labels: dict[str, str]) -> bool:
    value = labels.get(matcher.name, "")
    op = str(matcher.op).rsplit(".", 1)[-1]
    if GRAFANA_VARIABLE.search(matcher.value):  # a dashboard variable: only the label must exist
        return value != ""
    return {
        "Equal": lambda: value == matcher.value,
        "NotEqual": lambda: value != matcher.value,
        "Re": lambda: re.fullmatch(matcher.value, value) is not None,
        "NotRe": lambda: re.fullmatch(matcher.value, value) is None,
    }[op]()


def unmatched_selectors(played: Played, exprs: list[str], recorded: set[str]) -> list[str]:
    """Selectors of series the service must emit that select nothing in its scrape."""
    skip, targets = not_emitted_by_the_service(played, recorded), target_labels(played)
    missing = []
    for expr in exprs:
        for selector in selectors(expr):
            if selector.name in skip:
                continue
            wanted = [m for m in selector.matchers.matchers if m.name not in targets]
            if not any(s.name == selector.name and all(matches(m, s.labels) for m in wanted) for s in played.samples):
                missing.append(str(selector))
    return missing


def rule_file(played: Played) -> dict:
    return yaml_helpers.load(played.folder / "ops" / c.rules_path(played.service.name))


def dashboard_exprs(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "expr" and isinstance(v, str)] + [
            e for k, v in node.items() for e in dashboard_exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in dashboard_exprs(v)]
    return []


def with_grafana_variables_filled(expr: str) -> str:
    expr = re.sub(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}", "5m", expr)
    return GRAFANA_VARIABLE.sub(lambda m: "$" + m.group(1).strip("{}"), expr)


# --- the consistency proof -------------------------------------------------------------------


def test_every_selector_of_the_rules_selects_a_scraped_series(played):
    rules = [r for group in rule_file(played)["groups"] for r in group["rules"]]
    recorded = {r["record"] for r in rules if "record" in r}
    exprs = [r["expr"] for r in rules]
    assert any(selectors(e) and not metric_names(e) & recorded for e in exprs), "no raw selector to check"
    assert unmatched_selectors(played, exprs, recorded) == []


def test_every_selector_of_the_dashboard_selects_a_scraped_series(played):
    dashboard = played.folder / "ops" / c.dashboard_path(played.service.name)
    if not dashboard.exists():
        pytest.skip("no dashboard generated yet")
    recorded = {r["record"] for g in rule_file(played)["groups"] for r in g["rules"] if "record" in r}
    exprs = [with_grafana_variables_filled(e) for e in dashboard_exprs(json.loads(dashboard.read_text()))]
    assert unmatched_selectors(played, exprs, recorded) == []


def test_every_latency_threshold_is_a_bucket_boundary_and_slow_requests_land_above_it(played):
    latency = [s for s in played.service.slos if s.sli.kind == "latency"]
    for slo in latency:
        metric = c.REQUEST_METRICS[slo.sli.interface]
        boundaries = {s.labels["le"] for s in played.named(metric.bucket)}
        (le,) = boundaries & set(le_values(slo.sli.threshold_seconds))
        if slo.sli.interface == "http":  # the driver's slow requests took longer than the threshold
            fast = sum(s.value for s in played.named(metric.bucket, le=le))
            assert 0 < fast < sum(s.value for s in played.named(metric.count))


def test_failures_carry_error_type(played):
    kinds = otel_python.declared_request_kinds(played.service)
    if "http" in kinds:
        http = c.REQUEST_METRICS["http"]
        assert played.named(http.count, http_response_status_code="503", error_type="503")
        assert played.named(http.count, http_response_status_code="", error_type="RuntimeError")
        assert played.named(http.count, http_route="/orders/{id}"), "the app's route template is the route"
    if "queue-consumer" in kinds:
        queue = c.REQUEST_METRICS["queue-consumer"]
        assert played.named(queue.count, messaging_system="kafka", error_type="TimeoutError")
    if "grpc" in kinds:
        grpc = c.REQUEST_METRICS["grpc"]
        assert played.named(grpc.count, rpc_response_status_code="UNAVAILABLE", error_type="Unavailable")


def test_each_dependency_is_its_own_peer_service_with_its_system_and_errors(played):
    for dependency in played.service.dependencies:
        metric = c.DEPENDENCY_METRICS[dependency.kind]
        system = dict([metric.system]) if metric.system else {}
        calls = played.named(metric.count, **{c.PEER_LABEL: dependency.name}, **system)
        assert {s.labels.get("error_type", "") for s in calls} >= {"", "Unavailable" if dependency.kind == "grpc" else "ConnectionError"}
        if metric.histogram == "http_client_request_duration_seconds":
            assert [s for s in calls if s.labels.get("error_type") == "503" and s.labels["http_response_status_code"] == "503"]


def test_the_resource_names_the_service_its_team_and_tier(played):
    service = played.service
    (info,) = played.named("target_info")
    assert {k: info.labels.get(k) for k in ("service_name", "service_namespace", c.LABEL_TEAM, c.LABEL_TIER)} == {
        "service_name": service.name, "service_namespace": service.namespace,
        c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier)}


# --- the file itself -------------------------------------------------------------------------


def test_the_module_compiles_keeps_its_regions_and_is_the_same_every_time(tmp_path):
    descriptor = TEST_DESCRIPTORS / "ecs-all-deps.yaml"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = sync(tmp_path / "a", descriptor), sync(tmp_path / "b", descriptor)
    path = Path("ops") / c.telemetry_path("orders")
    text = (first / path).read_text()
    assert text == (second / path).read_text()
    compile(text, str(path), "exec")
    assert text.startswith("# Generated by opgen from service.yaml.")
    lines = text.splitlines()
    assert lines.index("# opgen:keep imports") + 1 == lines.index("# opgen:end")
    assert lines[-2:] == ["# opgen:keep custom", "# opgen:end"]


def test_the_renderer_knows_every_name_the_module_defines():
    """Dependency helpers are renamed when they would shadow one of these."""
    for descriptor in (TEST_DESCRIPTORS / "ecs-all-deps.yaml", TEST_DESCRIPTORS / "grpc-7d.yaml"):
        service = load_service(descriptor)
        (artifact,) = otel_python.render(RenderContext(service, "service.yaml"))
        defined = set()
        for node in ast.parse(artifact.text).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        helpers = {h.function for h in otel_python.dependency_helpers(service)}
        public = {name for name in defined - helpers if not name.startswith("_") and not name.isupper()}
        assert public <= otel_python.TEMPLATE_NAMES


def semantic_convention_names(*packages: str) -> set[str]:
    """Every name the OpenTelemetry semantic-conventions package defines (stable and incubating)."""
    names = set()
    for package in packages:
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
            members = vars(importlib.import_module(f"{package}.{module.name}"))
            names |= {v for k, v in members.items() if k.isupper() and isinstance(v, str)}
    return names


def test_attributes_and_instruments_are_named_as_the_semantic_conventions_say():
    """The scrape cannot tell http.response.status_code from http.response.status.code: OTLP can."""
    attributes = semantic_convention_names("opentelemetry.semconv.attributes", "opentelemetry.semconv._incubating.attributes")
    instruments = semantic_convention_names("opentelemetry.semconv.metrics", "opentelemetry.semconv._incubating.metrics")
    for label, attribute in c.OTEL_ATTRIBUTES.items():
        assert attribute in attributes and attribute.replace(".", "_") == label
    for metric in [*c.REQUEST_METRICS.values(), *c.DEPENDENCY_METRICS.values()]:
        assert metric.otel_name in instruments


# (NUL and other control characters are refused by validation: tests/test_validation.py)
HOSTILE_DESCRIPTION = 'It\'s "quoted"\n""" \'\'\' \\ \\n {{ x }} {% if %} # opgen:end\r\u2028 [31m done'
HOSTILE_DEPENDENCIES = {  # names Python or the module already uses, and a name the first renaming takes
    "setup": "setup_dependency", "import": "import_dependency", "type": "type_dependency",
    "setup-dependency": "setup_dependency_dependency", "os": "os_dependency",
}


def test_hostile_descriptor_text_still_makes_a_module_that_imports(tmp_path):
    folder = tmp_path / "hostile"
    folder.mkdir()
    dependencies = ", ".join(f"{{name: {name}, kind: redis}}" for name in HOSTILE_DEPENDENCIES)
    (folder / "service.yaml").write_text(
        "apiVersion: opgen/v1\nkind: Service\n"
        f"metadata: {{name: hostile, team: red-team, tier: 2, description: {json.dumps(HOSTILE_DESCRIPTION)}}}\n"
        "spec:\n  interfaces: [{kind: http}, {kind: queue-consumer}]\n"
        f"  dependencies: [{dependencies}]\n"
    )
    result = run_opgen("sync", "hostile", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    module = folder / "ops" / c.telemetry_path("hostile")
    show = "import json, hostile_telemetry as t; print(json.dumps([t.SERVICE_DESCRIPTION, t.setup.__doc__, [{}]]))".format(
        ", ".join(f"t.{function}.__name__" for function in HOSTILE_DEPENDENCIES.values()))
    shown = subprocess.run([sys.executable, "-c", show], env=without_otel_settings(PYTHONPATH=str(module.parent)),
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    description, setup_doc, helpers = json.loads(shown.stdout)
    assert description == HOSTILE_DESCRIPTION
    assert setup_doc.startswith("Install the SDK")
    assert helpers == list(HOSTILE_DEPENDENCIES.values())
