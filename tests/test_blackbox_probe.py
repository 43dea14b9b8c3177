"""Synthetic traffic, live (docs/alerts.md, quiet services): the blackbox-exporter module and the
Prometheus scrape job opgen generates for a probed HTTP interface, run by Debian's
prometheus-blackbox-exporter and a Prometheus on free loopback ports, probe a service instrumented
with its generated telemetry module (tests/e2e_app.py). The probes succeed, they reach the service
and count in its SLI like any request, and once the service is gone the probe says so. Every
process is started and stopped by this test, within one time budget."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ruamel.yaml import YAML

from conftest import real_tool, run_opgen
from opgen import conventions as c
from test_e2e_prometheus import APP, STOP_SECONDS, Deadline, PrometheusAPI, app_port, free_port, running

DEADLINE_SECONDS = 90
SERVICE = "probed"


def descriptor(url: str, exporter: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: opgen/v1
        kind: Service
        metadata: {{name: {SERVICE}, team: web, tier: 3}}
        spec:
          interfaces: [{{kind: http, port: 8080, probe: {{path: /, interval: 1s, url: "{url}", exporter: "{exporter}"}}}}]
          traffic: {{baseline_rps: 0.01}}
          slos: [{{name: availability, objective: 99, sli: {{kind: availability}}}}]
        """)


def sync(folder: Path, text: str) -> None:
    (folder / "service.yaml").write_text(text)
    result = run_opgen("sync", str(folder), cwd=folder.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def value(result: list[dict] | None) -> float | None:
    return float(result[0]["value"][1]) if result else None


def test_the_generated_probe_reaches_the_service_and_counts_in_its_sli(tmp_path):
    exporter_binary = real_tool("prometheus-blackbox-exporter", "prometheus-blackbox-exporter")
    prometheus_binary = real_tool("prometheus", "prometheus")
    logs = {name: tmp_path / f"{name}.log" for name in ("app", "blackbox exporter", "prometheus")}
    deadline = Deadline(DEADLINE_SECONDS, logs)
    folder = tmp_path / SERVICE
    folder.mkdir()
    exporter = f"127.0.0.1:{free_port()}"
    sync(folder, descriptor("http://127.0.0.1:9/", exporter))  # the app's port is known once it runs
    ops = folder / c.OPS_DIR
    module = ops / c.telemetry_path(SERVICE)
    metrics_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(PYTHONPATH=str(module.parent), OPGEN_METRICS_PORT=str(metrics_port))

    with running([sys.executable, str(APP), module.stem], logs["app"], env=env, stdout=subprocess.PIPE, text=True) as app:
        deadline.processes["the app"] = app
        sync(folder, descriptor(f"http://127.0.0.1:{app_port(app, deadline)}/", exporter))
        probe_jobs = YAML(typ="safe", pure=True).load(ops / c.probe_scrape_config_path(SERVICE))["scrape_configs"]
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ops / c.rules_path(SERVICE))],
            "scrape_configs": probe_jobs + [{"job_name": SERVICE, "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
        }
        config_file, port = tmp_path / "prometheus.yml", free_port()
        YAML(typ="safe", pure=True).dump(config, config_file)
        with (
            running([exporter_binary, f"--config.file={ops / c.blackbox_config_path(SERVICE)}",
                     f"--web.listen-address={exporter}"], logs["blackbox exporter"]) as blackbox,
            running([prometheus_binary, f"--config.file={config_file}", f"--storage.tsdb.path={tmp_path / 'data'}",
                     f"--web.listen-address=127.0.0.1:{port}"], logs["prometheus"]) as prometheus,
        ):
            deadline.processes.update({"blackbox exporter": blackbox, "prometheus": prometheus})
            api = PrometheusAPI(port, deadline)
            deadline.wait_for("Prometheus to be ready", api.ready)
            probe = f'probe_success{{job="{c.probe_job(SERVICE)}",service="{SERVICE}"}}'

            # The probe succeeds, and its requests are what the service counts: the SLI sees traffic.
            deadline.wait_for("a successful probe", lambda: True if value(api.query(probe)) == 1 else None)
            requests = f'{c.SLI_REQUESTS_RATE5M}{{service="{SERVICE}",slo="availability"}}'
            deadline.wait_for("the probes in the SLI", lambda: True if (value(api.query(requests)) or 0) > 0 else None)
            errors = value(api.query(f'{c.SLI_ERRORS_RATE5M}{{service="{SERVICE}",slo="availability"}}'))
            assert errors == 0, errors

            # The service goes away: the probe fails.
            del deadline.processes["the app"]
            app.terminate()
            app.wait(timeout=STOP_SECONDS)
            deadline.wait_for("a failed probe", lambda: True if value(api.query(probe)) == 0 else None)


def test_verify_runs_the_exporter_and_promtool_over_the_probe_files(tmp_path):
    real_tool("prometheus-blackbox-exporter", "prometheus-blackbox-exporter")
    real_tool("promtool", "prometheus")
    folder = tmp_path / SERVICE
    folder.mkdir()
    sync(folder, descriptor("https://probed.example.com/", "blackbox-exporter:9115"))
    result = run_opgen("verify", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "ok    probe modules        blackbox/probed.blackbox.yml" in result.stdout
    assert "ok    probe scrape jobs    blackbox/probed.scrape.yml" in result.stdout
    modules = folder / c.OPS_DIR / c.blackbox_config_path(SERVICE)
    modules.write_text(modules.read_text().replace("method: GET", "methd: GET"))  # the exporter knows every field
    broken = run_opgen("verify", str(folder), cwd=tmp_path)
    assert broken.returncode != 0 and "FAIL  probe modules        blackbox/probed.blackbox.yml" in broken.stdout
