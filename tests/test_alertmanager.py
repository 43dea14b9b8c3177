"""ops/alertmanager/routes.yml of a fleet: tests/fleets/shop (22 services) synced as one, with
on-call data added to some teams, checked by the real amtool (`check-config`, `config routes test`),
its inhibition read as data against a graph computed here from the descriptors' YAML, and run in a
real Alertmanager (Debian's prometheus-alertmanager, on loopback): alerts with the labels of the
generated rules posted to its API, their suppression read back, its notifications received here."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml_helpers

from conftest import real_tool, run_opgen
from test_e2e_prometheus import free_port, running, tail

FLEETS = Path(__file__).parent / "fleets"
ROUTES = "ops/alertmanager/routes.yml"
SECRETS = "/etc/alertmanager/secrets/"

# On-call data per service: payments has two PagerDuty services and one channel; discovery only a
# channel (its pages go to chat); the other teams nothing (the default receiver).
ONCALL = {
    "checkout": {"slack": "#payments-oncall", "pagerduty_service_id": "PPAY001"},
    "payments": {"slack": "#payments-oncall", "pagerduty_service_id": "PPAY001"},
    "payment-gateway": {"pagerduty_service_id": "PPAY001"},
    "fraud-model": {"slack": "#payments-oncall", "pagerduty_service_id": "PFRAUD9"},
    "search": {"slack": "#discovery"},
    "catalog": {"slack": "#discovery-catalog"},
    "pricing": {"slack": "#discovery"},
}


def with_oncall(root: Path) -> None:
    for name, fields in ONCALL.items():
        path = root / name / "service.yaml"
        text = path.read_text()
        block = "  oncall:\n" + "".join(f'    {key}: "{value}"\n' for key, value in fields.items())
        head, tail = text.split("  tier: ", 1)
        path.write_text(head + block + "  tier: " + tail)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("alertmanager") / "shop"
    shutil.copytree(FLEETS / "shop", root)
    with_oncall(root)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def routes(root: Path) -> dict:
    return yaml_helpers.load(root / ROUTES)


def route_test(amtool: str, config: Path, *labels: str) -> str:
    done = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config}", *labels],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def declared(root: Path) -> dict[str, dict]:
    return {(d := yaml_helpers.load(p))["metadata"]["name"]: d for p in sorted(root.glob("*/service.yaml"))}


def fails_with(services: dict[str, dict]) -> dict[str, set[str]]:
    """service -> the services with a path of critical edges to it (closure by repeated joining)."""
    reach = {(name, dep["service"]) for name, data in services.items() for dep in data["spec"].get("dependencies", [])
             if dep.get("critical") and dep.get("service") in services}
    while more := {(a, d) for a, b in reach for c, d in reach if b == c} - reach:
        reach |= more
    return {name: {a for a, b in reach if b == name and a != name} for name in services}


# --- amtool ------------------------------------------------------------------------------------------


def test_amtool_accepts_the_fleet_config(shop, amtool):
    done = subprocess.run([amtool, "check-config", str(shop / ROUTES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize("labels, receiver", [
    (("team=payments", "severity=page", "service=checkout"), "payments-pager"),
    (("team=payments", "severity=page", "service=payment-gateway"), "payments-pager"),
    (("team=payments", "severity=page", "service=fraud-model"), "payments-pager-pfraud9"),
    (("team=payments", "severity=ticket", "service=checkout"), "payments-chat"),
    (("team=payments", "severity=ticket", "service=nightly-settlement"), "payments-chat"),
    (("team=discovery", "severity=page", "service=search"), "discovery-chat"),
    (("team=discovery", "severity=ticket", "service=catalog"), "discovery-chat-discovery-catalog"),
    (("team=discovery", "severity=ticket", "service=reviews"), "discovery-chat"),
    (("team=identity", "severity=page", "service=accounts"), "opgen-unrouted-pages"),
    (("team=identity", "severity=ticket", "service=accounts"), "opgen-default"),
    (("team=unknown-team", "severity=page"), "opgen-unrouted-pages"),
    (("team=unknown-team", "severity=ticket"), "opgen-default"),
])
def test_each_team_and_severity_reaches_its_receiver(shop, amtool, labels, receiver):
    assert route_test(amtool, shop / ROUTES, *labels) == receiver


def test_route_tree_is_root_then_team_then_severity_for_every_team(shop):
    config = routes(shop)
    teams = sorted({d["metadata"]["team"] for d in declared(shop).values()})
    assert [r["matchers"] for r in config["route"]["routes"]] == [[f'team="{t}"'] for t in teams] + [['severity="page"']]
    for route in config["route"]["routes"][:-1]:
        assert [r["matchers"] for r in route["routes"]] == [['severity="page"'], ['severity="ticket"']]


def test_receivers_hold_no_secret_only_files_under_the_secrets_folder(shop):
    config = routes(shop)
    names = [r["name"] for r in config["receivers"]]
    assert len(names) == len(set(names))
    pagers = {r["name"]: r["pagerduty_configs"] for r in config["receivers"] if "pagerduty_configs" in r}
    assert set(pagers) == {"payments-pager", "payments-pager-pfraud9"}
    for configs in pagers.values():
        assert all(set(cfg) == {"routing_key_file", "send_resolved"} and cfg["routing_key_file"].startswith(SECRETS)
                   for cfg in configs)
    assert pagers["payments-pager"][0]["routing_key_file"].endswith("/PPAY001.key")
    for receiver in config["receivers"]:
        for cfg in receiver.get("slack_configs", []):
            assert "api_url" not in cfg and cfg["api_url_file"].startswith(SECRETS)
    channels = {r["name"]: r["slack_configs"][0]["channel"] for r in config["receivers"] if "slack_configs" in r}
    assert channels == {"opgen-default": "#alerts", "opgen-unrouted-pages": "#alerts", "payments-chat": "#payments-oncall",
                        "discovery-chat": "#discovery",
                        "discovery-chat-discovery-catalog": "#discovery-catalog"}


# --- inhibition and grouping, as data ----------------------------------------------------------------


def test_an_slo_ticket_is_inhibited_only_by_a_burn_page_of_the_same_service_and_slo(shop):
    first = routes(shop)["inhibit_rules"][0]
    assert first == {"source_matchers": ['severity="page"', 'alertname=~".+BudgetBurn"'],
                     "target_matchers": ['severity="ticket"', 'slo=~".+"'], "equal": ["service", "slo"]}


def test_a_burn_page_holds_back_only_its_direct_dependents_dependency_alerts_about_it(shop):
    """One rule per depended-on service (and dependency name): its source the service's burn
    pages, its targets the dependency alerts of the services with an edge to it (from the YAML)."""
    services = declared(shop)
    expected = {}
    for name, data in services.items():
        for dependency in data["spec"].get("dependencies", []):
            if dependency.get("service") in services:
                expected.setdefault(dependency["service"], set()).add((name, dependency["name"]))
    found = {}
    for rule in routes(shop)["inhibit_rules"][1:]:
        if rule.get("equal") == ["journey"]:  # the shop's checkout journey: its page holds back its own tickets (test_journeys.py)
            continue
        source, severity, alertname = rule["source_matchers"]
        assert (severity, alertname) == ('severity="page"', 'alertname=~".+BudgetBurn"') and "equal" not in rule
        kinds, sources, names = rule["target_matchers"]
        assert kinds == 'alertname=~"DependencyErrorRatioHigh|DependencyLatencyHigh"'
        found.setdefault(source.split('"')[1], set()).update(
            (s, n) for s in sources.split('"')[1].split("|") for n in names.split('"')[1].split("|"))
    assert found == expected
    assert ("checkout", "payments") in found["payments"] and ("web-frontend", "checkout") not in found["payments"]


def test_pages_are_grouped_by_team_and_service_only(shop):
    route = routes(shop)["route"]
    assert route["group_by"] == ["team", "service"]  # alertname or slo would split one incident into several pages
    assert (route["group_wait"], route["group_interval"]) == ("30s", "5m")


def test_pages_without_a_pager_or_a_team_go_to_a_receiver_that_says_so(shop, amtool):
    config = routes(shop)
    [unrouted] = [r for r in config["receivers"] if r["name"] == "opgen-unrouted-pages"]
    message = unrouted["slack_configs"][0]
    assert message["title"].startswith(":rotating_light: UNROUTED PAGE, nobody was paged")
    assert "metadata.oncall.pagerduty_service_id" in message["text"] and "opgen sync" in message["text"]
    assert route_test(amtool, shop / ROUTES, "team=identity", "severity=ticket", "service=accounts") == "opgen-default"


def test_a_service_whose_pages_reach_no_pager_is_warned_about_and_strict_fails(shop):
    result = run_opgen("validate", ".", cwd=shop)
    assert result.returncode == 0, result.stderr
    warned = set(re.findall(r"the pages of '([a-z-]+)' go to (opgen-unrouted-pages|the Slack channel)", result.stderr))
    teams = {name: data["metadata"]["team"] for name, data in declared(shop).items()}
    paged_teams = {teams[name] for name, fields in ONCALL.items() if "pagerduty_service_id" in fields}
    chat_teams = {teams[name] for name, fields in ONCALL.items() if "slack" in fields} - paged_teams
    expected = {(name, "the Slack channel" if team in chat_teams else "opgen-unrouted-pages")
                for name, team in teams.items() if team not in paged_teams}
    assert warned == expected
    assert run_opgen("validate", "--strict", ".", cwd=shop).returncode == 2


# --- inhibition and grouping, live: a real Alertmanager -----------------------------------------------

ALERTMANAGER_DEADLINE_SECONDS = 30
ALERTMANAGER_SETTLE_SECONDS = 10  # for what must happen within a few of its 1s group waits


@pytest.fixture(scope="session")
def alertmanager_binary() -> str:
    return real_tool("prometheus-alertmanager", "prometheus-alertmanager")


def all_rule_labels(root: Path, service: str, alertname: str, **match: str) -> list[dict[str, str]]:
    """The labels of each generated rule `alertname` of `service` whose labels include `match`:
    what Prometheus sends Alertmanager when it fires."""
    rules = yaml_helpers.load(root / service / "ops" / "prometheus" / f"{service}.rules.yml")
    found = [{"alertname": alertname, **r["labels"]} for g in rules["groups"] for r in g["rules"]
             if r.get("alert") == alertname and match.items() <= r["labels"].items()]
    assert found, (service, alertname, match)
    return found


def rule_labels(root: Path, service: str, alertname: str, **match: str) -> dict[str, str]:
    return all_rule_labels(root, service, alertname, **match)[0]


class Webhooks:
    """A webhook receiver in the test process: every notification Alertmanager sends, by receiver."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []
        lock = self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    received.append((self.path.lstrip("/"), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def notifications(self) -> list[tuple[str, dict]]:
        with self.lock:
            return list(self.received)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def config_for_the_test(generated: dict, webhooks: Webhooks) -> dict:
    """The generated config with every receiver sending to the test's webhook (its name in the
    path), and a short group_wait: the route tree, grouping and inhibit rules are the generated ones."""
    config = copy.deepcopy(generated)
    config["receivers"] = [{"name": r["name"], "webhook_configs": [{"url": f"{webhooks.url}/{r['name']}", "send_resolved": False}]}
                           for r in generated["receivers"]]
    config["route"]["group_wait"] = "1s"
    return config


class Alertmanager:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v2"

    def post(self, alerts: list[dict[str, str]]) -> None:
        body = json.dumps([{"labels": labels, "annotations": {"summary": f"{labels['alertname']} test"}} for labels in alerts])
        request = urllib.request.Request(f"{self.base}/alerts", body.encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def alerts(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.base}/alerts", timeout=5) as response:
            return json.load(response)


@contextmanager
def alertmanager(binary: str, config: dict, tmp_path: Path):
    """A real Alertmanager on a free loopback port with `config`, stopped by PID at the end."""
    (tmp_path / "am.yml").write_text(json.dumps(config))
    port = free_port()
    args = [binary, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
    with running(args, tmp_path / "am.log") as process:
        deadline = time.monotonic() + ALERTMANAGER_DEADLINE_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert process.poll() is None, tail(tmp_path / "am.log")
            assert time.monotonic() < deadline, "Alertmanager not ready: " + tail(tmp_path / "am.log")
            time.sleep(0.2)
        yield Alertmanager(port)


def wait_until(condition, what: str, seconds: float = ALERTMANAGER_DEADLINE_SECONDS) -> bool:
    """Whether `condition()` came true within `seconds`; the caller's assertions then say what is wrong."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_live_inhibition_mutes_only_dependency_alerts_about_a_paging_service(shop, alertmanager_binary, tmp_path):
    """The shop's real graph on a real Alertmanager: a no-data page mutes nothing; a burn page of
    payments mutes checkout's dependency alerts about payments and payments' own tickets of that
    SLO, never another service's SLO or no-data page; a critical dependency's page mutes nothing
    (the service's own burn pages always go out: docs/alerts.md)."""
    alerts = {
        "catalog no data": rule_labels(shop, "catalog", "SLONoData", cause="targets-down"),
        "checkout no data": rule_labels(shop, "checkout", "SLONoData", cause="targets-down"),
        "web-frontend burn page": rule_labels(shop, "web-frontend", "AvailabilityBudgetBurn", severity="page"),
        "search dependency on catalog": rule_labels(shop, "search", "DependencyErrorRatioHigh", dependency="catalog"),
        "payments burn page": rule_labels(shop, "payments", "AvailabilityBudgetBurn", severity="page"),
        "payments burn ticket": rule_labels(shop, "payments", "AvailabilityBudgetBurn", severity="ticket"),
        "payments budget exhausted": rule_labels(shop, "payments", "AvailabilityBudgetExhausted"),
        "payments latency exhausted": rule_labels(shop, "payments", "LatencyBudgetExhausted"),
        "checkout dependency on payments": rule_labels(shop, "checkout", "DependencyErrorRatioHigh", dependency="payments"),
        "checkout latency to payments": rule_labels(shop, "checkout", "DependencyLatencyHigh", dependency="payments"),
        "checkout dependency on cart": rule_labels(shop, "checkout", "DependencyErrorRatioHigh", dependency="cart"),
        "checkout dependency page on cart": rule_labels(shop, "checkout", "DependencyLatencyHigh", dependency="cart", severity="page"),
        "checkout burn page": rule_labels(shop, "checkout", "AvailabilityBudgetBurn", severity="page"),
        "web-frontend dependency on checkout": rule_labels(shop, "web-frontend", "DependencyLatencyHigh", dependency="checkout"),
        "web-frontend dependency on cart": rule_labels(shop, "web-frontend", "DependencyErrorRatioHigh", dependency="cart"),
    }
    suppressed_by = {  # target -> its source; every other alert stays active
        "payments burn ticket": "payments burn page",
        "payments budget exhausted": "payments burn page",
        "checkout dependency on payments": "payments burn page",
        "checkout latency to payments": "payments burn page",
        "web-frontend dependency on checkout": "checkout burn page",
    }
    webhooks = Webhooks()
    try:
        with alertmanager(alertmanager_binary, config_for_the_test(routes(shop), webhooks), tmp_path) as am:
            am.post(list(alerts.values()))
            key = lambda labels: tuple(sorted(labels.items()))  # noqa: E731
            names = {key(labels): name for name, labels in alerts.items()}

            def states() -> dict[str, dict]:
                return {names[key(a["labels"])]: a for a in am.alerts() if key(a["labels"]) in names}

            def as_expected() -> bool:  # the inhibitor sees a source a moment after it is posted
                found = states()
                return len(found) == len(alerts) and all(
                    (a["status"]["state"] == "suppressed") == (n in suppressed_by) for n, a in found.items())

            wait_until(as_expected, "the expected suppressions", ALERTMANAGER_SETTLE_SECONDS)
            found = states()
            seen = {name: (alert["status"]["state"], [names[key(a["labels"])] for a in found.values()
                                                      if a["fingerprint"] in alert["status"]["inhibitedBy"]])
                    for name, alert in found.items()}
            assert seen == {name: ("suppressed", [suppressed_by[name]]) if name in suppressed_by else ("active", [])
                            for name in alerts}
            assert all(len(alert["status"]["inhibitedBy"]) == len(seen[name][1]) for name, alert in found.items())
            # Nothing suppressed is sent; everything else is, once its group's wait is over.
            active = {key(alerts[n]) for n in alerts if n not in suppressed_by}
            sent = lambda: {key(a["labels"]) for _, body in webhooks.notifications() for a in body["alerts"]}  # noqa: E731
            wait_until(lambda: sent() >= active, "notifications of every active alert", ALERTMANAGER_SETTLE_SECONDS)
            assert sent() == active
    finally:
        webhooks.stop()


def test_live_one_incident_of_one_service_is_one_notification(shop, alertmanager_binary, tmp_path):
    """checkout's burn pages (two window pairs of two SLOs), no-data page and dependency page,
    fired together, arrive at the team's pager as one notification; payments' page, fired with them,
    is a notification of its own."""
    checkout = [
        *all_rule_labels(shop, "checkout", "AvailabilityBudgetBurn", severity="page"),
        rule_labels(shop, "checkout", "LatencyBudgetBurn", severity="page"),
        rule_labels(shop, "checkout", "SLONoData", cause="sli-metrics-vanished", slo="latency"),
        rule_labels(shop, "checkout", "DependencyErrorRatioHigh", dependency="cart", severity="page"),
    ]
    payments = rule_labels(shop, "payments", "SLONoData", cause="targets-down")
    webhooks = Webhooks()
    try:
        with alertmanager(alertmanager_binary, config_for_the_test(routes(shop), webhooks), tmp_path) as am:
            am.post([*checkout, payments])
            wait_until(lambda: len(webhooks.notifications()) >= 2, "two notifications", ALERTMANAGER_SETTLE_SECONDS)
            time.sleep(2)  # twice the test's group_wait: any third notification would have come
            notifications = webhooks.notifications()
            assert [receiver for receiver, _ in notifications] == ["payments-pager", "payments-pager"], notifications
            by_service = {body["commonLabels"]["service"]: body for _, body in notifications}
            assert sorted(by_service) == ["checkout", "payments"]
            assert len(by_service["checkout"]["alerts"]) == len(checkout)
            assert by_service["checkout"]["groupLabels"] == {"team": "payments", "service": "checkout"}
    finally:
        webhooks.stop()


# --- the fleet folder under sync -------------------------------------------------------------------------


def test_the_fleet_folder_has_its_own_manifest_with_the_reserved_owner_and_check_is_clean(shop):
    manifest = json.loads((shop / "ops/.opgen/manifest.json").read_text())
    # The routes, and the files of the shop's checkout journey (docs/fleet.md, "Journey SLOs"): fleet files too.
    journey = ["journeys/checkout.rules.yml", "journeys/checkout.rules.test.yml", "journeys/checkout.openslo.yaml",
               "journeys/dashboard.json", "runbooks/journeys/checkout.md"]
    assert {path: entry["service"] for path, entry in manifest["files"].items()} == {
        path: "(fleet)" for path in ["alertmanager/routes.yml", *journey]}
    check = run_opgen("sync", "--check", ".", cwd=shop)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_hand_edited_routes_file_is_a_conflict_and_left_alone(shop, tmp_path):
    tree = tmp_path / "shop"
    shutil.copytree(shop, tree)
    edited = (tree / ROUTES).read_text().replace("repeat_interval: 4h", "repeat_interval: 3h")
    (tree / ROUTES).write_text(edited)
    (tree / "checkout/service.yaml").write_text((tree / "checkout/service.yaml").read_text().replace("PPAY001", "PPAY002"))
    result = run_opgen("sync", ".", cwd=tree)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "ops/alertmanager/routes.yml" in result.stdout + result.stderr
    assert (tree / ROUTES).read_text() == edited


def test_a_dependency_change_rewrites_the_routes_file(shop, tmp_path):
    tree = tmp_path / "shop"
    shutil.copytree(shop, tree)
    path = tree / "checkout/service.yaml"
    before = {rule["source_matchers"][0]: rule["target_matchers"][1] for rule in routes(tree)["inhibit_rules"][1:]}
    assert "checkout" in before['service="cart"']
    path.write_text(path.read_text().replace("    - {name: cart, kind: grpc, service: cart, critical: true}\n", ""))
    assert run_opgen("sync", "--check", ".", cwd=tree).returncode == 1
    assert run_opgen("sync", ".", cwd=tree).returncode == 0
    found = {rule["source_matchers"][0]: rule["target_matchers"][1] for rule in routes(tree)["inhibit_rules"][1:]}
    assert "checkout" not in found['service="cart"']  # web-frontend still depends on cart


def test_one_descriptor_alone_gets_a_config_of_its_own_team_in_its_own_ops(tmp_path, amtool):
    root = tmp_path / "shop"
    shutil.copytree(FLEETS / "shop", root)
    with_oncall(root)
    result = run_opgen("sync", "checkout", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    config = routes(root / "checkout")
    assert [r["matchers"] for r in config["route"]["routes"]] == [['team="payments"'], ['severity="page"']]
    assert config["inhibit_rules"][1:] == []  # nobody synced with it depends on it
    assert route_test(amtool, root / "checkout" / ROUTES, "team=payments", "severity=page") == "payments-pager"
    assert not (root / "ops").exists()
    manifest = json.loads((root / "checkout/ops/.opgen/manifest.json").read_text())
    assert manifest["files"]["alertmanager/routes.yml"]["service"] == "(fleet)"
    assert run_opgen("sync", "--check", "checkout", cwd=root).returncode == 0
