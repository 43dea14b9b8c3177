"""End to end: the generated kit against a real Prometheus server.

A small HTTP service is instrumented with its generated stub and serves real requests, a quarter
of them failing: in Python (tests/e2e_app.py), Go (tests/go/e2e/e2e_app.go, on the generated
package) and Node.js (tests/node/e2e_app.js), each where its toolchain is installed. A real Prometheus (Debian's `prometheus`, on a
free loopback port, 1s scrape and evaluation intervals) scrapes it and evaluates the generated
rules. The page-severity burn-rate alerts must go pending, their runbook_url must name a
generated runbook, the SLI recording rules must return the error share the test produced, and
once the service is stopped SLONoData (targets down) must go pending. All within two minutes.
"""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
import stub_drivers as drivers
import yaml_helpers
from ruamel.yaml import YAML

from conftest import run_opgen
from opgen import conventions as c
from opgen.render.prometheus_rules import NO_DATA_TARGETS_DOWN

APP = Path(__file__).parent / "e2e_app.py"
DEADLINE_SECONDS = 120
POLL_SECONDS = 0.5
STOP_SECONDS = 10  # SIGTERM, then SIGKILL
SERVICE = "e2e-shop"
SLO = "availability"
OBJECTIVE = 99.5  # failing a quarter of the requests burns this budget 50 times too fast: far above 14.4
DESCRIPTOR = f"""\
apiVersion: opgen/v1
kind: Service
metadata: {{name: {SERVICE}, team: web, tier: 2}}
spec:
  runtime: {{language: {{language}}}}
  interfaces: [{{kind: http, port: 8080}}]
  slos:
    - {{name: {SLO}, objective: {OBJECTIVE}, window: 30d, sli: {{kind: availability}}}}
"""
GO_APP = Path(__file__).parent / "go" / "e2e" / "e2e_app.go"  # imports the package of SERVICE
NODE_APP = Path(__file__).parent / "node" / "e2e_app.js"
FAILING_PATH = "/fail"  # e2e_app answers 503 there, 200 elsewhere
REQUEST_CYCLE = (FAILING_PATH, "/", "/", "/")  # a quarter fail: an SLI that counted successes would read 0.75
RATIO_TOLERANCE = 0.05  # a scrape can land inside a cycle; rate() extrapolates
ACTIVE = ("pending", "firing")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


@contextmanager
def running(args: list[str], log: Path, **popen):
    """A process that is stopped at the end, however the block ends."""
    with log.open("w") as log_file:
        process = subprocess.Popen(args, stderr=log_file, **{"stdout": log_file, **popen})
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:  # a pipe
                process.stdout.close()


class Deadline:
    """One budget for the whole test; a wait that runs out fails with what Prometheus said last."""

    def __init__(self, seconds: float, logs: dict[str, Path]) -> None:
        self.ends = time.monotonic() + seconds
        self.seconds = seconds
        self.logs = logs
        self.answers: dict[str, object] = {}  # the last answer of each API call, for the failure message
        self.processes: dict[str, subprocess.Popen] = {}  # must stay up while we wait

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def fail(self, message: str) -> None:
        answers = "\n".join(f"{call}: {json.dumps(answer)[:3000]}" for call, answer in self.answers.items())
        logs = "\n".join(f"--- {name} log (tail) ---\n{tail(path)}" for name, path in self.logs.items())
        pytest.fail(f"{message}\n--- last API answers ---\n{answers or '(none)'}\n{logs}", pytrace=False)

    def wait_for(self, what: str, probe):
        """Poll probe() until it returns something other than None."""
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self.fail(f"{name} exited with {process.returncode} while waiting for {what}")
            found = probe()
            if found is not None:
                return found
            if self.remaining() <= 0:
                self.fail(f"gave up after {self.seconds}s waiting for {what}")
            time.sleep(POLL_SECONDS)


class PrometheusAPI:
    def __init__(self, port: int, deadline: Deadline) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.deadline = deadline

    def get(self, path: str, **params: str):
        """The `data` of an API answer, or None while Prometheus cannot answer yet."""
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        call = f"{path} {params}" if params else path
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:  # a bad query: no point in asking again
            self.deadline.fail(f"{call} answered {error.code}: {error.read().decode(errors='replace')}")
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            self.deadline.answers[call] = repr(error)
            return None
        self.deadline.answers[call] = answer
        assert answer["status"] == "success", answer
        return answer["data"]

    def ready(self) -> bool | None:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=5) as response:
                return response.status == 200 or None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def active_alerts(self, alertname: str, **labels: str) -> list[dict] | None:
        data = self.get("/api/v1/alerts")
        if data is None:
            return None
        return [
            alert for alert in data["alerts"]
            if alert["labels"].get("alertname") == alertname and alert["state"] in ACTIVE
            and all(alert["labels"].get(k) == v for k, v in labels.items())
        ]

    def query(self, expr: str) -> list[dict] | None:
        data = self.get("/api/v1/query", query=expr)
        return None if data is None else data["result"]


class Traffic(threading.Thread):
    """Sends REQUEST_CYCLE over and over until stopped, counting the answers by status."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}"
        self.statuses: Counter[int] = Counter()
        self.error: Exception | None = None
        self.stopping = threading.Event()

    def request(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            error.read()
            return error.code

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                for path in REQUEST_CYCLE:
                    self.statuses[self.request(path)] += 1
                self.stopping.wait(0.04)  # about 100 requests a second: plenty, and leaves CPU for Prometheus
        except Exception as error:  # reported by stop()
            self.error = error

    def error_share(self) -> float:
        """The share of requests the service answered with a 5xx, so far."""
        statuses = dict(self.statuses)
        return sum(n for status, n in statuses.items() if status >= 500) / sum(statuses.values())

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=STOP_SECONDS)
        assert self.error is None, f"a request to the service failed: {self.error!r}"
        assert set(self.statuses) == {200, 503}, self.statuses


def generate_kit(tmp_path: Path, language: str) -> Path:
    folder = tmp_path / SERVICE
    folder.mkdir()
    (folder / "service.yaml").write_text(DESCRIPTOR.replace("{language}", language))
    result = run_opgen("sync", SERVICE, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


LONG_WINDOW_SECONDS = 3  # the long windows' 2m30s, compressed as the 1m evaluation is to 1s (with room)


def time_compressed(rules: Path, tmp_path: Path) -> Path:
    """The rules with every group interval of their own (the long windows, 2m30s) at
    LONG_WINDOW_SECONDS: this Prometheus evaluates every second, and the test has two minutes.
    The groups and rules are the generated ones; only the time scale changes, as for scrapes."""
    data = YAML(typ="safe", pure=True).load(rules.read_text())
    assert any("interval" in group for group in data["groups"]), "no group of its own interval left to compress"
    for group in data["groups"]:
        if "interval" in group:
            group["interval"] = f"{LONG_WINDOW_SECONDS}s"
    compressed = tmp_path / "time-compressed.rules.yml"
    YAML(typ="safe", pure=True).dump(data, compressed)
    return compressed


def prometheus_config(metrics_port: int, rules: Path) -> dict:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": SERVICE, "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }


def app_port(app: subprocess.Popen, deadline: Deadline) -> int:
    """The port e2e_app prints once its server and /metrics are up."""
    ready, _, _ = select.select([app.stdout], [], [], max(deadline.remaining(), 0))
    line = app.stdout.readline() if ready else ""
    if not line.startswith("listening "):
        deadline.fail(f"the app did not start (exit code {app.poll()}, said {line!r})")
    return int(line.split()[1])


def page_burn_rules(rules_file: Path) -> list[dict]:
    """The generated page-severity burn-rate alerts of the SLO, one per window pair."""
    rules = [rule for group in yaml_helpers.load(rules_file)["groups"] for rule in group["rules"]]
    found = [
        rule for rule in rules
        if rule.get("alert") == c.alert_budget_burn(SLO) and rule["labels"][c.LABEL_SEVERITY] == c.SEVERITY_PAGE
    ]
    assert found, f"no page-severity {c.alert_budget_burn(SLO)} rule in {rules_file}"
    return found


def sli_ratio_records(rules_file: Path) -> list[str]:
    rules = [rule for group in yaml_helpers.load(rules_file)["groups"] for rule in group["rules"]]
    records = [rule["record"] for rule in rules if rule.get("record", "").startswith(c.sli_error_ratio(""))]
    assert c.sli_error_ratio("5m") in records, records
    return records


def assert_runbook_is_generated(folder: Path, alert: dict) -> None:
    """No runbook_base_url: the annotation is a path from the descriptor's folder to a generated runbook."""
    alertname = alert["labels"]["alertname"]
    url = alert["annotations"]["runbook_url"]
    assert url == c.runbook_url(None, SERVICE, alertname)
    page = folder / url
    assert page.is_file(), f"{alertname}: runbook_url {url} names no file under {folder}"
    ops = folder / c.OPS_DIR
    manifest = json.loads((ops / c.MANIFEST_PATH).read_text())
    assert page.relative_to(ops).as_posix() in manifest["files"], f"{url} is not a file opgen generated"
    assert f"# {alertname}\n" in page.read_text(), f"{url} is not the runbook of {alertname}"


def app_command(language: str, stub: Path, tmp_path: Path, go_cache: Path) -> tuple[list[str], dict[str, str]]:
    """How to start the e2e app of the language on its generated stub, and its environment (no OTLP
    export from CI's settings)."""
    if language == "python":
        return [sys.executable, str(APP), stub.stem], drivers.without_otel_settings(PYTHONPATH=str(stub.parent))
    if language == "node":
        return ["node", str(NODE_APP), str(stub)], drivers.node_environment()
    binary = drivers.build_go_program(stub.parent, {"e2e_app.go": GO_APP.read_text()}, tmp_path / "go", go_cache)
    return [str(binary)], drivers.without_otel_settings()


@contextmanager
def serving_app(command: tuple[list[str], dict[str, str]], metrics_port: int, deadline: Deadline, log: Path):
    """The e2e app running the generated stub, with traffic flowing to it; both stopped at the end."""
    args, env = command
    env = {**env, "OPGEN_METRICS_PORT": str(metrics_port)}
    with running(args, log, env=env, stdout=subprocess.PIPE, text=True) as app:
        deadline.processes["the app"] = app
        traffic = Traffic(app_port(app, deadline))
        traffic.start()
        try:
            yield app, traffic
        finally:
            traffic.stopping.set()


@contextmanager
def prometheus_server(binary: str, config: dict, tmp_path: Path, deadline: Deadline, log: Path):
    """A Prometheus with `config` on a free loopback port and a fresh data dir; stopped at the end."""
    config_file, port = tmp_path / "prometheus.yml", free_port()
    YAML(typ="safe", pure=True).dump(config, config_file)
    with running([
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ], log) as prometheus:
        deadline.processes["prometheus"] = prometheus
        api = PrometheusAPI(port, deadline)
        deadline.wait_for("Prometheus to be ready", api.ready)
        yield api


@pytest.mark.parametrize("language", drivers.LANGUAGES)
def test_generated_kit_pages_on_a_burning_service_and_notices_it_going_away(tmp_path, prometheus_binary, language, go_cache):
    drivers.require_toolchain(language)
    logs = {"prometheus": tmp_path / "prometheus.log", "app": tmp_path / "app.log"}
    folder = generate_kit(tmp_path, language)
    rules_file = folder / c.OPS_DIR / c.rules_path(SERVICE)
    stub = folder / c.OPS_DIR / c.telemetry_path(SERVICE, language)
    page_pairs = {(r["labels"][c.LABEL_LONG_WINDOW], r["labels"][c.LABEL_SHORT_WINDOW]) for r in page_burn_rules(rules_file)}
    metrics_port = free_port()
    config = prometheus_config(metrics_port, time_compressed(rules_file, tmp_path))
    command = app_command(language, stub, tmp_path, go_cache)  # a Go build is not the app's time to answer
    deadline = Deadline(DEADLINE_SECONDS, logs)

    with (
        serving_app(command, metrics_port, deadline, logs["app"]) as (app, traffic),
        prometheus_server(prometheus_binary, config, tmp_path, deadline, logs["prometheus"]) as api,
    ):
        # Every page-severity window pair goes pending (or firing) for the service.
        def page_alerts():
            alerts = api.active_alerts(c.alert_budget_burn(SLO), service=SERVICE, severity=c.SEVERITY_PAGE) or []
            pairs = {(a["labels"][c.LABEL_LONG_WINDOW], a["labels"][c.LABEL_SHORT_WINDOW]) for a in alerts}
            return alerts if pairs == page_pairs else None

        for alert in deadline.wait_for(f"the page-severity {c.alert_budget_burn(SLO)} alerts of {SERVICE}", page_alerts):
            assert_runbook_is_generated(folder, alert)

        # Every SLI error-ratio recording returns the share of requests the service failed.
        failed_share = traffic.error_share()
        for record in sli_ratio_records(rules_file):
            # The long windows' group has an interval of its own: wait for its first evaluation.
            result = deadline.wait_for(f"{record} to be recorded", lambda: api.query(
                f'{record}{{{c.LABEL_SERVICE}="{SERVICE}",{c.LABEL_SLO}="{SLO}"}}') or None)
            assert len(result) == 1, f"{record}: {result}"
            recorded = float(result[0]["value"][1])
            assert abs(recorded - failed_share) <= RATIO_TOLERANCE, f"{record} = {recorded}, the service failed {failed_share:.3f}"

        # While the service is scraped, nothing says its targets are down (before the first
        # scrape, absent(up) may have made SLONoData pending for a moment).
        def up_and_no_alert():
            up = api.query(f'{c.TARGET_UP_METRIC}{{job="{SERVICE}"}}')
            down = api.active_alerts(c.ALERT_NO_DATA, service=SERVICE, cause=NO_DATA_TARGETS_DOWN)
            return True if up and up[0]["value"][1] == "1" and down == [] else None

        deadline.wait_for(f"{SERVICE} to be up with no {c.ALERT_NO_DATA} alert", up_and_no_alert)

        # Stop the service: SLONoData (targets down) goes pending.
        traffic.stop()
        del deadline.processes["the app"]
        app.terminate()
        app.wait(timeout=STOP_SECONDS)

        def no_data_pending():
            alerts = api.active_alerts(c.ALERT_NO_DATA, service=SERVICE, cause=NO_DATA_TARGETS_DOWN) or []
            return [a for a in alerts if a["state"] == "pending"] or None

        no_data = deadline.wait_for(f"{c.ALERT_NO_DATA} (targets down) to go pending", no_data_pending)
        assert no_data[0]["labels"][c.LABEL_SEVERITY] == c.SEVERITY_PAGE
        assert_runbook_is_generated(folder, no_data[0])
