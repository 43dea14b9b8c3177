"""The Grafana dashboard, ops/grafana/<name>.json, imports into Grafana 10.3+ as generated: stable
uid, a datasource variable instead of a fixed datasource, complete panels in the rows SREs expect
(SLOs, traffic and errors, saturation, one per dependency), and every query is PromQL that the
real promtool accepts."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml_helpers

from conftest import EXAMPLES, TEST_DESCRIPTORS, run_opgen, service_folder
from opgen import conventions as c

CHECKOUT = EXAMPLES / "checkout" / "service.yaml"
DESCRIPTORS = sorted(TEST_DESCRIPTORS.glob("*.yaml")) + [CHECKOUT]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SECTIONS = ("SLOs", "Traffic and errors", "Job runs", "Saturation")
CRON_JOB = TEST_DESCRIPTORS / "cron-report.yaml"
QUEUE_FRESH = TEST_DESCRIPTORS / "queue-fresh.yaml"


def descriptor_id(path: Path) -> str:
    return path.parent.name if path.name == "service.yaml" else path.stem


each_descriptor = pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=descriptor_id)


def generate(tmp_path: Path, descriptor: Path) -> Path:
    """`opgen sync` a copy of the descriptor; the path of the dashboard it wrote."""
    folder = service_folder(tmp_path, descriptor)
    result = run_opgen("sync", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (dashboard,) = (folder / "ops" / "grafana").glob("*.json")
    return dashboard


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The parsed dashboard of a descriptor, generated once per module."""
    cache: dict[Path, dict] = {}

    def load(descriptor: Path) -> dict:
        if descriptor not in cache:
            cache[descriptor] = json.loads(generate(tmp_path_factory.mktemp("sync"), descriptor).read_text())
        return cache[descriptor]

    return load


def spec_of(descriptor: Path) -> dict:
    return yaml_helpers.load(descriptor)


def rows(dashboard: dict) -> list[str]:
    return [p["title"] for p in dashboard["panels"] if p["type"] == "row"]


def panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p["targets"]]


def panels_of_row(dashboard: dict, title: str) -> list[dict]:
    """The panels between the row titled `title` and the next row."""
    titles = [p["title"] if p["type"] == "row" else None for p in dashboard["panels"]]
    following = dashboard["panels"][titles.index(title) + 1:]
    end = next((i for i, p in enumerate(following) if p["type"] == "row"), len(following))
    return following[:end]


def datasources(node) -> list:
    """Every `datasource` value anywhere in the document."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "datasource"] + [d for v in node.values() for d in datasources(v)]
    if isinstance(node, list):
        return [d for v in node for d in datasources(v)]
    return []


# --- import ---------------------------------------------------------------------------------------


@each_descriptor
def test_imports_with_a_stable_uid_and_a_datasource_variable(dashboard, descriptor):
    board, meta = dashboard(descriptor), spec_of(descriptor)["metadata"]
    assert board["uid"] == c.dashboard_uid(meta["name"]) and len(board["uid"]) <= 40
    assert board["id"] is None
    assert board["schemaVersion"] >= 39
    assert "__inputs" not in board
    (variable,) = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    assert datasources(board) and all(d == DATASOURCE for d in datasources(board))
    assert board["tags"] == [meta["team"], f"tier-{meta.get('tier', 2)}", "opgen", c.dashboard_tag(meta["name"])]
    assert (board["time"], board["refresh"]) == ({"from": "now-24h", "to": "now"}, "1m")


def test_long_service_names_keep_a_short_uid(tmp_path):
    long_name = "search-" + "x" * 50
    descriptor = tmp_path / "long.yaml"
    descriptor.write_text((TEST_DESCRIPTORS / "http-28d.yaml").read_text().replace("name: search", f"name: {long_name}"))
    board = json.loads(generate(tmp_path, descriptor).read_text())
    assert board["uid"] == c.dashboard_uid(long_name) and len(board["uid"]) <= 40
    tag = c.dashboard_tag(long_name)  # Grafana stores tags in 50 characters
    assert tag in board["tags"] and len(tag) <= 50 and tag != c.dashboard_tag(long_name + "y")


def test_links_only_to_the_runbook_overview_where_it_is_browsable(dashboard, tmp_path):
    (link,) = dashboard(CHECKOUT)["links"]
    assert link["url"] == "https://git.example.com/shop/tree/main/examples/checkout/ops/runbooks/checkout/README.md"
    assert dashboard(TEST_DESCRIPTORS / "http-28d.yaml")["links"] == []  # a repository path would open nothing
    (tmp_path / "opgen-settings.yaml").write_text("runbook_base_url: https://git.example.com/shop/blob/main\n")
    (link,) = json.loads(generate(tmp_path, TEST_DESCRIPTORS / "http-28d.yaml").read_text())["links"]
    assert link["url"] == "https://git.example.com/shop/blob/main/http-28d/ops/runbooks/search/README.md"


@each_descriptor
def test_every_panel_is_complete(dashboard, descriptor):
    board = dashboard(descriptor)
    ids = [p["id"] for p in board["panels"]]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)
    for row in (p for p in board["panels"] if p["type"] == "row"):
        assert (row["collapsed"], row["panels"], row["gridPos"]["w"]) == (False, [], 24)
    for panel in panels(board):
        assert panel["type"] in ("timeseries", "stat", "gauge")
        assert panel["title"] and panel["description"]
        assert panel["datasource"] == DATASOURCE
        assert panel["fieldConfig"]["defaults"]["unit"]
        assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["value"] is None
        assert [t["refId"] for t in panel["targets"]] == list("ABCDEFGH"[:len(panel["targets"])])
        assert all(t["expr"] and t["datasource"] == DATASOURCE for t in panel["targets"])


@each_descriptor
def test_panels_fit_the_grid_without_overlapping(dashboard, descriptor):
    cells = [(p["gridPos"]["x"] + dx, p["gridPos"]["y"] + dy)
             for p in dashboard(descriptor)["panels"] for dx in range(p["gridPos"]["w"]) for dy in range(p["gridPos"]["h"])]
    assert len(cells) == len(set(cells))
    assert all(x < 24 for x, _ in cells)


# --- rows -----------------------------------------------------------------------------------------


def test_checkout_rows(dashboard):
    assert rows(dashboard(CHECKOUT)) == ["SLOs", "Traffic and errors", "Saturation",
                           "Dependency: orders-db (postgres)", "Dependency: payments-gateway (http)"]


@each_descriptor
def test_rows_in_order_with_one_per_dependency(dashboard, descriptor):
    titles, spec = rows(dashboard(descriptor)), spec_of(descriptor)["spec"]
    cron_only = all(i["kind"] == "cron" for i in spec.get("interfaces", [])) and spec.get("interfaces")
    dependencies = [] if cron_only else [f"Dependency: {d['name']} ({d['kind']})" for d in spec.get("dependencies", [])]
    sections = titles[:len(titles) - len(dependencies)]
    assert titles[len(sections):] == dependencies
    assert sections == [s for s in SECTIONS if s in sections]
    assert ("SLOs" in sections) == bool(spec.get("slos"))
    kinds = {i["kind"] for i in spec.get("interfaces", [])}
    assert ("Traffic and errors" in sections) == bool(kinds & {"http", "grpc", "queue-consumer"})
    assert ("Job runs" in sections) == ("cron" in kinds)


def test_slo_row_shows_sli_objective_budget_and_burn_rate_against_alert_thresholds(dashboard):
    slo_row = panels_of_row(dashboard(CHECKOUT), "SLOs")
    availability = [p for p in slo_row if p["title"].startswith("availability:")]
    sli, objective, budget, burn = availability
    assert (sli["type"], sli["targets"][0]["expr"]) == ("stat", '1 - slo:sli_error:ratio_rate30d{service="checkout",slo="availability"}')
    assert sli["fieldConfig"]["defaults"]["thresholds"]["steps"][1] == {"color": "green", "value": 0.999}
    assert c.OBJECTIVE in objective["targets"][0]["expr"]
    assert budget["type"] == "gauge" and c.PERIOD_BUDGET_REMAINING in budget["targets"][0]["expr"]
    assert [t["expr"] for t in burn["targets"]] == [
        f'{c.sli_error_ratio(w)}{{service="checkout",slo="availability"}} / 0.001' for w in ("1h", "6h", "1d", "3d")]
    # 2 % of a 30d budget in 1h and 5 % in 6h page; 10 % in 1d and in 3d open a ticket.
    assert [(s["value"], s["color"]) for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]] == [
        (1, "orange"), (3, "orange"), (6, "red"), (14.4, "red")]
    assert burn["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_traffic_row_shows_rate_errors_by_status_class_and_latency_quantiles(dashboard):
    rate, errors, latency = panels_of_row(dashboard(CHECKOUT), "Traffic and errors")
    assert rate["fieldConfig"]["defaults"]["unit"] == "reqps"
    assert "label_replace" in errors["targets"][0]["expr"] and '"${1}xx"' in errors["targets"][0]["expr"]
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5", "histogram_quantile(0.9", "histogram_quantile(0.99"]
    assert all("sum by (le)" in t["expr"] for t in latency["targets"])
    assert latency["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 0.5  # the latency SLO


def test_freshness_panels_show_message_age_against_the_threshold_and_the_stale_share(dashboard):
    traffic = panels_of_row(dashboard(QUEUE_FRESH), "Traffic and errors")
    titles = [p["title"] for p in traffic]
    age = traffic[titles.index("queue-consumer: message age")]
    stale = traffic[titles.index("freshness: messages older than 90s")]
    assert [t["expr"].split(",")[0] for t in age["targets"]] == [
        "histogram_quantile(0.5", "histogram_quantile(0.9", "histogram_quantile(0.99"]
    assert all(c.MESSAGE_AGE.bucket + '{job="image-resizer"}' in t["expr"] for t in age["targets"])
    assert (age["fieldConfig"]["defaults"]["unit"], age["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"]) == ("s", 90)
    (share,) = stale["targets"]
    # bad = all minus those at or under 90s (either le spelling), as the SLI counts them
    assert f'{c.MESSAGE_AGE.bucket}{{job="image-resizer",le=~"90|90[.]0"}}' in share["expr"]
    # total minus fast, over total: a missing bucket leaves the panel empty, never at 100 % stale
    assert share["expr"].count(f'{c.MESSAGE_AGE.count}{{job="image-resizer"}}') == 2 and " or " not in share["expr"]
    assert stale["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert stale["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 0.01  # what a 99 % objective allows


def test_a_queue_consumer_without_a_freshness_slo_still_shows_message_age(dashboard):
    titles = [p["title"] for p in panels_of_row(dashboard(TEST_DESCRIPTORS / "queue-90d.yaml"), "Traffic and errors")]
    assert "queue-consumer: message age" in titles and not any("older than" in t for t in titles)


def test_a_cron_job_shows_its_runs_and_no_traffic_or_autoscaler(dashboard):
    board = dashboard(CRON_JOB)
    assert rows(board) == ["SLOs", "Job runs", "Saturation"]  # no dependency rows: a run ends before a scrape
    since, latest, duration = panels_of_row(board, "Job runs")
    assert [t["expr"] for t in since["targets"]] == [
        f'time() - max({c.JOB_LAST_SUCCESS}{{job="nightly-report"}})',
        f'time() - max({c.JOB_LAST_COMPLETION}{{job="nightly-report"}})']
    assert since["fieldConfig"]["defaults"]["unit"] == "s"
    assert since["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 26 * 3600  # the on-time threshold
    (outcome,) = latest["targets"]
    assert outcome["expr"].startswith(f'max({c.JOB_LAST_COMPLETION}{{job="nightly-report"}}) > bool (max({c.JOB_LAST_SUCCESS}')
    mapping = latest["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert (mapping["0"]["text"], mapping["1"]["text"]) == ("succeeded", "failed")
    assert [t["expr"] for t in duration["targets"]] == [f'max({c.JOB_LAST_DURATION}{{job="nightly-report"}})']
    assert duration["fieldConfig"]["defaults"]["unit"] == "s"
    assert not any(c.K8S_HPA_MAX_REPLICAS in e for e in exprs(board))


@pytest.mark.parametrize(("descriptor", "slo", "counted"), [
    (CRON_JOB, "runs-succeed", "minutes"), (CRON_JOB, "on-time", "minutes"),
    (QUEUE_FRESH, "freshness", "messages"), (CHECKOUT, "availability", "requests"),
], ids=["job-success", "job-on-time", "freshness", "availability"])
def test_slo_panels_say_what_their_share_counts(dashboard, descriptor, slo, counted):
    """Time-based SLIs are shares of minutes, not of requests."""
    sli, objective, budget, burn = [p for p in panels_of_row(dashboard(descriptor), "SLOs") if p["title"].startswith(f"{slo}:")]
    assert sli["targets"][0]["legendFormat"] == f"good {counted}" and sli["options"]["textMode"] == "value_and_name"
    assert f"good {counted}" in objective["targets"][0]["legendFormat"]
    assert f"good {counted}" in sli["description"] and f"bad {counted}" in burn["description"]
    assert f"all {counted}" in budget["description"]
    other = {"minutes", "requests", "messages"} - {counted}
    assert not any(word in p["description"] for p in (sli, objective, budget, burn) for word in other)


@pytest.mark.parametrize(("descriptor", "expected", "absent"), [
    (CHECKOUT, (c.K8S_CPU_USAGE, c.K8S_MEMORY_WORKING_SET, c.K8S_RESOURCE_LIMITS, c.K8S_HPA_MAX_REPLICAS), (c.GPU_UTILIZATION,)),
    (TEST_DESCRIPTORS / "gpu-inference.yaml", (c.K8S_CPU_USAGE, c.GPU_UTILIZATION, c.GPU_MEMORY_USED), ()),
    (TEST_DESCRIPTORS / "ecs-all-deps.yaml", (c.ECS_CPU_UTILIZATION, c.ECS_MEMORY_UTILIZATION), (c.K8S_CPU_USAGE, c.GPU_UTILIZATION)),
    (TEST_DESCRIPTORS / "lambda.yaml", (c.LAMBDA_THROTTLES, c.LAMBDA_CONCURRENT_EXECUTIONS), (c.K8S_CPU_USAGE, c.ECS_CPU_UTILIZATION)),
], ids=["kubernetes", "kubernetes-gpu", "ecs", "lambda"])
def test_saturation_row_reads_the_platform_metrics(dashboard, descriptor, expected, absent):
    queries = " ".join(t["expr"] for p in panels_of_row(dashboard(descriptor), "Saturation") for t in p["targets"])
    assert all(name in queries for name in expected)
    assert not any(name in queries for name in absent)


@each_descriptor
def test_gpu_panels_only_with_a_gpu(dashboard, descriptor):
    has_gpu = "gpu" in spec_of(descriptor)["spec"].get("resources", {})
    assert any(c.GPU_UTILIZATION in e or c.GPU_MEMORY_USED in e for e in exprs(dashboard(descriptor))) == has_gpu


def test_dependency_rows_select_calls_to_that_dependency(dashboard):
    board = dashboard(TEST_DESCRIPTORS / "ecs-all-deps.yaml")
    for dependency in spec_of(TEST_DESCRIPTORS / "ecs-all-deps.yaml")["spec"]["dependencies"]:
        call_rate, error_ratio, p99 = panels_of_row(board, f"Dependency: {dependency['name']} ({dependency['kind']})")
        histogram = c.DEPENDENCY_METRICS[dependency["kind"]].histogram
        for panel in (call_rate, error_ratio, p99):
            assert all(histogram in t["expr"] and 'job="orders"' in t["expr"]
                       and f'{c.PEER_LABEL}="{dependency["name"]}"' in t["expr"] for t in panel["targets"])
        assert error_ratio["fieldConfig"]["defaults"]["unit"] == "percentunit"
        assert p99["targets"][0]["expr"].startswith("histogram_quantile(0.99, sum by (le) (")


# --- queries --------------------------------------------------------------------------------------

STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')
RANGE = re.compile(r"\[([^\]]*)\]")


@each_descriptor
def test_raw_rates_use_the_rate_interval(dashboard, descriptor):
    ranges = [r for e in exprs(dashboard(descriptor)) for r in RANGE.findall(STRING_LITERAL.sub('""', e))]
    assert set(ranges) <= {"$__rate_interval"}


@each_descriptor
def test_every_panel_query_is_valid_promql(dashboard, descriptor, promtool, tmp_path):
    rules = [{"record": f"dashboard_query_{i}", "expr": e.replace("$__rate_interval", "5m")}
             for i, e in enumerate(exprs(dashboard(descriptor)))]
    rules_file = tmp_path / "dashboard.rules.yml"
    rules_file.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    result = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@each_descriptor
def test_same_descriptor_same_bytes(tmp_path, descriptor):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    assert generate(first, descriptor).read_bytes() == generate(second, descriptor).read_bytes()
