"""Many clusters (opgen-settings.yaml `clusters`): a service in several clusters, each with its own
Prometheus, under a global ruler. Each cluster's Prometheus records the SLIs from raw series (its
external_labels add the cluster label); the global ruler sums them into the SLO and pages per
cluster. Proven with the real promtool on the generated files: a failing cluster pages with its
cluster label even when the global ratio hides it, a healthy one does not, and the SLO's ratio is
request-weighted across clusters. Without the setting, nothing changes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml_helpers

from conftest import run_opgen
from opgen import conventions as c
from opgen.render.yaml_output import dump_yaml

EXAMPLE = Path(__file__).parents[1] / "examples" / "checkout"
CLUSTERS = "clusters: {label: cluster}\n"
FLEETS = Path(__file__).parent / "fleets"


def checkout(tmp_path: Path, settings: str | None, *options: str) -> Path:
    """The bundled example, synced in a repository of its own with these settings; its ops/."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    shutil.copytree(EXAMPLE, root / "checkout", ignore=shutil.ignore_patterns("ops"))
    if settings is not None:
        (root / "opgen-settings.yaml").write_text(settings)
    result = run_opgen("sync", *options, "checkout", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "checkout" / "ops"


def rules_of(path: Path) -> list[dict]:
    return [rule for group in yaml_helpers.load(path)["groups"] for rule in group["rules"]]


def names(rules: list[dict]) -> list[str]:
    return sorted(rule.get("record") or rule["alert"] for rule in rules)


def test_without_the_setting_the_files_are_the_bundled_example(tmp_path):
    ops = checkout(tmp_path, None)
    for path in ("prometheus/checkout.rules.yml", "prometheus/checkout.rules.test.yml", "runbooks/checkout/README.md"):
        assert (ops / path).read_text() == (EXAMPLE / "ops" / path).read_text(), path
    assert not list((ops / "prometheus").glob("*.cluster.*")) and not list((ops / "prometheus").glob("*.global.*"))


def test_rules_split_between_each_cluster_and_the_global_ruler(tmp_path, promtool):
    plain = rules_of(checkout(tmp_path / "one", None) / c.rules_path("checkout"))
    ops = checkout(tmp_path / "many", CLUSTERS)
    prometheus = ops / "prometheus"
    assert sorted(p.name for p in prometheus.iterdir()) == [
        "checkout.cluster.rules.yml", "checkout.global.rules.test.yml", "checkout.global.rules.yml", "checkout.rules.test.yml"]
    local, everywhere = rules_of(ops / c.rules_path("checkout", "cluster")), rules_of(ops / c.rules_path("checkout", "global"))
    # The same rules, none lost or doubled: only where they are evaluated changes. But a critical
    # dependency's page, which joins a burn page (ALERTS of the global ruler), cannot see it from the
    # cluster's Prometheus where its raw series are: it stays a ticket (docs/alerts.md).
    joined = [r for r in plain if r.get("alert", "").startswith("Dependency") and r["labels"]["severity"] == "page"]
    assert joined and names(local + everywhere) == names([r for r in plain if r not in joined])
    assert all(r["labels"]["severity"] == "ticket" for r in local if r.get("alert", "").startswith("Dependency"))
    # Raw series stay in their cluster: the global ruler reads recordings only.
    assert all(not rule["expr"].count("rate(") or "sum_over_time(slo:" in rule["expr"] for rule in everywhere), \
        [r["expr"] for r in everywhere if "rate(" in r["expr"] and "sum_over_time(slo:" not in r["expr"]]
    assert all("sum_over_time" not in rule["expr"] for rule in local)
    assert {r.get("alert") for r in everywhere if "alert" in r} == {
        f"{slo}Budget{kind}" for slo in ("Availability", "Latency", "ChargeSuccess") for kind in ("Burn", "Exhausted")}
    # The SLO window is the SLO: global. The shorter long windows feed a cluster's ticket pairs.
    window = {r["record"]: r["expr"] for r in everywhere if r.get("record") == "slo:sli_error:ratio_rate30d"}
    assert window and "by (cluster)" not in window["slo:sli_error:ratio_rate30d"]
    assert all("by (cluster)" in r["expr"] for r in everywhere if r.get("record") in ("slo:sli_error:ratio_rate1d", "slo:sli_error:ratio_rate3d"))
    # Header says where each file goes.
    assert "each cluster's Prometheus" in (ops / c.rules_path("checkout", "cluster")).read_text().splitlines()[2]
    # The generated tests: every scenario of one cluster over both files, and two clusters over the global file.
    for test in ("checkout.rules.test.yml", "checkout.global.rules.test.yml"):
        done = subprocess.run([promtool, "test", "rules", test], cwd=prometheus, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    check = run_opgen("sync", "--check", "checkout", cwd=ops.parents[1])
    assert check.returncode == 0, check.stdout + check.stderr


def cluster_recordings(cluster: str, per_second: float, error_ratio: float | dict[str, float], minutes: int) -> list[dict]:
    """What a cluster's Prometheus ships for the availability SLO: its raw-window recordings,
    labelled by its external_labels; `error_ratio` the same in every window, or by window."""
    series = []
    for window in ("5m", "30m", "1h", "2h", "6h"):
        labels = f'{{service="checkout",slo="availability",cluster="{cluster}"}}'
        ratio = error_ratio[window] if isinstance(error_ratio, dict) else error_ratio
        for metric, value in ((f"slo:sli_requests:rate{window}", per_second), (f"slo:sli_errors:rate{window}", per_second * ratio),
                              (f"slo:sli_error:ratio_rate{window}", ratio)):
            series.append({"series": metric + labels, "values": f"{value}x{minutes}"})
    return series


def global_test(ops: Path, promtool: str, clusters: dict[str, tuple[float, float | dict[str, float]]],
                firing: dict[tuple[str, str], int], weighted: float) -> subprocess.CompletedProcess:
    """promtool over the generated global file: `clusters` name -> (events per second, error ratio);
    `firing` (cluster, severity) -> how many AvailabilityBudgetBurn alerts fire after 30 minutes."""
    minutes = 30
    series = [s for name, (rps, ratio) in clusters.items() for s in cluster_recordings(name, rps, ratio, minutes)]
    # Recordings began long ago: the long windows are covered.
    series.append({"series": c.SLI_HISTORY_START + '{service="checkout",slo="availability"}', "values": f"-2592000x{minutes}"})
    at = f"{minutes}m"
    test = {
        "rule_files": [str(ops / c.rules_path("checkout", "global"))],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                {"expr": 'count by (cluster, severity) (ALERTS{alertname="AvailabilityBudgetBurn",alertstate="firing"})',
                 "eval_time": at,
                 "exp_samples": [{"labels": f'{{cluster="{cl}",severity="{sev}"}}', "value": n} for (cl, sev), n in sorted(firing.items())]},
                {"expr": 'slo:sli_error:ratio_rate30d{service="checkout",slo="availability"}', "eval_time": at,
                 "exp_samples": [{"labels": 'slo:sli_error:ratio_rate30d{service="checkout",slo="availability"}', "value": weighted}]},
            ],
            "alert_rule_test": [{"eval_time": at, "alertname": "AvailabilityBudgetExhausted", "exp_alerts": [
                {"exp_labels": {"service": "checkout", "slo": "availability", "team": "payments", "tier": "1", "severity": "ticket"},
                 "exp_annotations": exhausted_annotations(weighted / 0.001)}] if weighted > 0.001 else []}],
        }],
    }
    path = ops.parent / "clusters.test.yml"
    path.write_text(dump_yaml(test))
    return subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=300)


def exhausted_annotations(burn_rate: float) -> dict[str, str]:
    from opgen.descriptor.load import load_service
    from opgen.render.prometheus_rules import exhausted_annotations as annotations

    service = load_service(EXAMPLE / "service.yaml")
    return annotations(service, service.slos[0], f"{burn_rate * 100:.4g}%")


@pytest.fixture(scope="module")
def clustered(tmp_path_factory) -> Path:
    return checkout(tmp_path_factory.mktemp("clustered"), CLUSTERS)


def test_a_failing_cluster_pages_with_its_label_though_the_global_ratio_hides_it(clustered, promtool):
    # A small cluster fails 5% of its requests (50 times the 0.1% budget); the big one is healthy.
    # Globally that is 0.05% of requests, half the budget: a global burn alert would never page.
    done = global_test(clustered, promtool, {"A": (10, 0.05), "B": (1000, 0)},
                       {("A", "page"): 2, ("A", "ticket"): 2}, weighted=round(10 * 0.05 / 1010, 12))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_slo_is_request_weighted_across_clusters(clustered, promtool):
    # 1000 rps at 1% errors and 10 rps at 50%: 15 bad of 1010 events is 1.49%, not the 25.5% a mean of
    # the two ratios would say. Each cluster pages at its own rate: A (burn 10) on the 6h pair, B (500) on both.
    weighted = round(15 / 1010, 12)
    assert 0.0148 < weighted < 0.0149
    done = global_test(clustered, promtool, {"A": (1000, 0.01), "B": (10, 0.5)},
                       {("A", "page"): 1, ("A", "ticket"): 2, ("B", "page"): 2, ("B", "ticket"): 2}, weighted)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_cluster_pairs_its_own_windows(clustered, promtool):
    # A burned an hour ago and has recovered (its 5m and 30m windows are clean); B has just begun to
    # fail (only its 5m and 30m windows burn). Neither has both windows of a pair above the threshold:
    # a pair that matched A's long window with B's short one would page for a cluster that is fine.
    recovered = {"5m": 0, "30m": 0, "1h": 0.05, "2h": 0, "6h": 0}
    starting = {"5m": 0.05, "30m": 0.05, "1h": 0, "2h": 0, "6h": 0}
    done = global_test(clustered, promtool, {"A": (100, recovered), "B": (100, starting)}, {}, weighted=0.025)
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheusrule_objects_are_labelled_for_per_cluster_selection(tmp_path):
    ops = checkout(tmp_path, CLUSTERS + "rules_format: prometheus-operator\n")
    objects = {p.name: yaml_helpers.load(p) for p in sorted((ops / "kubernetes").glob("*.prometheusrule.yaml"))}
    assert sorted(objects) == ["checkout.cluster.prometheusrule.yaml", "checkout.global.prometheusrule.yaml"]
    for evaluation in ("cluster", "global"):
        document = objects[f"checkout.{evaluation}.prometheusrule.yaml"]
        assert document["metadata"]["name"] == f"checkout-slo-{evaluation}"
        assert document["metadata"]["labels"]["opgen.dev/evaluation"] == evaluation
        assert document["spec"]["groups"] == yaml_helpers.load(ops / c.rules_path("checkout", evaluation))["groups"]


def test_the_mimir_ruler_gets_the_global_rules_and_the_budget_counts_them(tmp_path):
    ops = checkout(tmp_path, CLUSTERS + "rules_format: mimir\n")
    namespace = yaml_helpers.load(ops / "mimir" / "payments.rules.yaml")
    loaded = [rule for group in namespace["groups"] for rule in group["rules"]]
    assert names(loaded) == names(rules_of(ops / c.rules_path("checkout", "global")))
    stats = run_opgen("rules-stats", "--json", "checkout", cwd=ops.parents[1])
    assert stats.returncode == 0, stats.stderr
    budget = json.loads(stats.stdout)["tenants"][0]
    assert budget["rules"] == len(loaded) and budget["groups"] == len(namespace["groups"])


def test_plain_and_operator_budgets_count_every_rule_of_both_files(tmp_path):
    ops = checkout(tmp_path, CLUSTERS)
    stats = run_opgen("rules-stats", "--json", "checkout", cwd=ops.parents[1])
    assert stats.returncode == 0, stats.stderr
    every = rules_of(ops / c.rules_path("checkout", "cluster")) + rules_of(ops / c.rules_path("checkout", "global"))
    assert json.loads(stats.stdout)["tenants"][0]["rules"] == len(every)


@pytest.mark.parametrize("label, message", [
    ("kube-cluster", "must be a Prometheus label name"),
    ("severity", "is a label opgen's rules and alerts set themselves"),
    ("__cluster", "is reserved"),
])
def test_a_bad_cluster_label_is_refused_with_its_position(tmp_path, label, message):
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    shutil.copytree(EXAMPLE, root / "checkout", ignore=shutil.ignore_patterns("ops"))
    (root / "opgen-settings.yaml").write_text(f"clusters:\n  label: {label}\n")
    result = run_opgen("sync", "checkout", cwd=root)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "opgen-settings.yaml:2:" in result.stderr and message in result.stderr, result.stderr
    assert not (root / "checkout" / "ops").exists()


def test_turning_clusters_on_is_a_change_sync_check_sees(tmp_path):
    # The setting is an input of the service's files: a sync that reused its last files would keep
    # the single rule file, and --check would call that clean.
    ops = checkout(tmp_path, None)
    root = ops.parents[1]
    (root / "opgen-settings.yaml").write_text(CLUSTERS)
    check = run_opgen("sync", "--check", "checkout", cwd=root)
    assert check.returncode != 0, check.stdout
    assert run_opgen("sync", "checkout", cwd=root).returncode == 0
    assert not (ops / c.rules_path("checkout")).exists() and (ops / c.rules_path("checkout", "global")).is_file()
    again = run_opgen("sync", "--check", "checkout", cwd=root)
    assert again.returncode == 0, again.stdout + again.stderr


def test_verify_checks_and_tests_both_rule_files(clustered, promtool):
    result = run_opgen("verify", "checkout", cwd=clustered.parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    for check, path in (("rules", "checkout.cluster.rules.yml"), ("rules", "checkout.global.rules.yml"),
                        ("rule tests", "checkout.rules.test.yml"), ("rule tests", "checkout.global.rules.test.yml")):
        assert any(line.split()[:1] == ["ok"] and check in line and line.endswith("prometheus/" + path)
                   for line in result.stdout.splitlines()), (check, path, result.stdout)


def test_every_test_descriptor_in_clusters_passes_its_generated_tests(tmp_path, promtool):
    # Every kind of SLI (events counted with increase(), time-based jobs, latency, freshness) and
    # platform, with a cluster label of another name: both generated test files pass.
    root = tmp_path / "fleet"
    (root / ".git").mkdir(parents=True)
    for descriptor in sorted((Path(__file__).parent / "descriptors").glob("*.yaml")):
        (root / descriptor.stem).mkdir()
        shutil.copy(descriptor, root / descriptor.stem / "service.yaml")
    (root / "opgen-settings.yaml").write_text("clusters: {label: k8s_cluster}\n")
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    tests = sorted(root.glob("*/ops/prometheus/*.test.yml"))
    assert len([t for t in tests if t.name.endswith(".global.rules.test.yml")]) >= 10
    for test in tests:
        done = subprocess.run([promtool, "test", "rules", test.name], cwd=test.parent, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{test}\n{done.stdout}{done.stderr}"


JOURNEY_STEPS = ("web-frontend", "cart", "checkout", "payments")  # tests/fleets/shop/journeys/checkout.opgen.yaml


def journey_test(ops: Path, promtool: str, failing: float) -> subprocess.CompletedProcess:
    """promtool over the steps' global files and the journey's: clusters A and B ship every step's
    recordings at 100 events per second, and in A payments fails `failing` of them."""
    minutes = 30
    series = []
    for service in JOURNEY_STEPS:
        for cluster in ("A", "B"):
            ratio = failing if (service, cluster) == ("payments", "A") else 0
            for window in ("5m", "30m", "1h", "2h", "6h"):
                labels = f'{{service="{service}",slo="availability",cluster="{cluster}"}}'
                for metric, value in ((f"slo:sli_requests:rate{window}", 100), (f"slo:sli_errors:rate{window}", 100 * ratio),
                                      (f"slo:sli_error:ratio_rate{window}", ratio)):
                    series.append({"series": metric + labels, "values": f"{value}x{minutes}"})
        series.append({"series": c.SLI_HISTORY_START + f'{{service="{service}",slo="availability"}}', "values": f"-2592000x{minutes}"})
    files = [str(ops / service / "ops" / c.rules_path(service, "global")) for service in JOURNEY_STEPS]
    test = {
        "rule_files": files + [str(ops / "ops" / "journeys" / "checkout.rules.yml")],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [{
                "expr": 'count by (severity) (ALERTS{alertname=~"JourneyBudgetBurn|JourneyStepRulesMissing",alertstate="firing"})',
                "eval_time": f"{minutes}m",
                "exp_samples": [{"labels": '{severity="page"}', "value": 2}, {"labels": '{severity="ticket"}', "value": 2}] if failing else [],
            }],
        }],
    }
    path = ops / "journey.test.yml"
    path.write_text(dump_yaml(test))
    return subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=300)


def test_a_journey_in_clusters_loads_on_the_global_ruler_and_burns_when_one_clusters_step_burns(tmp_path, promtool):
    """payments fails 10% in cluster A only (5% of its events): in the windows under a day, which
    count a step's worst cluster, the journey burns at 20 times its 0.5% budget and pages on both
    pairs, and tickets on both; with no failure nothing fires, and every step's objective is there
    (no JourneyStepRulesMissing)."""
    root = tmp_path / "shop"
    shutil.copytree(FLEETS / "shop", root)
    (root / "opgen-settings.yaml").write_text(CLUSTERS)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    rules = root / "ops" / "journeys" / "checkout.rules.yml"
    assert "# Load into the global ruler (Thanos ruler, Mimir), with the steps' global rules" in rules.read_text()
    for failing in (0.1, 0):
        done = journey_test(root, promtool, failing)
        assert done.returncode == 0, done.stdout + done.stderr
