"""Rule evaluation cost on a live Prometheus: opgen's rules against Sloth's layout, same SLOs, same series.

    python bench/rule_eval.py                       # 10 services x 10 routes x 2 methods x 3 codes x 5 pods, 6 min
    python bench/rule_eval.py --services 10 --routes 20 --pods 10 --minutes 6

N http services, each with an availability SLO (99.9 %) and a latency SLO (99 % under 500ms) over
30 days. One exporter on loopback serves their request histograms (routes x methods x status
codes x pods label sets, 9 buckets each); three Prometheus processes (Debian's `prometheus`, on
loopback, free ports, stopped at the end) scrape it at the same time, each with one rule layout:

- opgen: the rule files `opgen sync` writes, whose long windows (1d, 3d, 30d, history start,
  period burn) are a group evaluated every 2m30s;
- opgen, every evaluation: the same rules with the long windows evaluated at every evaluation
  (the layout before they had an interval of their own);
- Sloth: the same SLOs in Sloth's published layout (SLI recordings from the raw series for every
  window up to 3d, the 30d SLI as a time-weighted mean of the 5m recordings, metadata, and the
  page and ticket alerts), written here for the bench, not a product feature.

Evaluation time is Prometheus's own `prometheus_rule_group_last_duration_seconds`, averaged over
the second half of the run and scaled to one minute by each group's interval, and the samples
the rules write (`prometheus_rule_group_last_evaluation_samples`); samples read are
the `totalQueryableSamples` of each rule's expression as an instant query with `stats=all` at the
end of the run, scaled the same way. History is only the run's minutes: a 3d window over raw
series reads far more on a real Prometheus than here (see docs/performance.md).
Not part of the test suite: it takes minutes and its figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "generator"))

BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")
METHODS = ("GET", "POST")
CODES = ("200", "404", "500")
EVALUATION_INTERVAL = "30s"
SECONDS = {"30s": 30, "2m30s": 150}
HISTOGRAM = "http_server_request_duration_seconds"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the series -----------------------------------------------------------------------------------

class Exporter:
    """Request histograms of every service, counters growing with time since start: each label set
    serves 1 request per second, 2 % of them 500s, latencies spread over the buckets."""

    def __init__(self, services: list[str], routes: int, pods: int) -> None:
        self.start = time.time()
        self.sets = [(s, f"/api/r{r}", m, code, f"{s}-{p}") for s in services for r in range(routes)
                     for m in METHODS for code in CODES for p in range(pods)]
        share = {"200": 0.9, "404": 0.08, "500": 0.02}
        self.rates = [share[code] * 3 for *_, code, _ in self.sets]

    def text(self) -> str:
        elapsed = time.time() - self.start + 60
        lines = [f"# TYPE {HISTOGRAM} histogram"]
        for (service, route, method, code, pod), rate in zip(self.sets, self.rates):
            labels = (f'job="{service}",http_route="{route}",http_request_method="{method}",'
                      f'http_response_status_code="{code}",pod="{pod}"')
            count = round(rate * elapsed)
            for i, le in enumerate(BUCKETS):
                lines.append(f'{HISTOGRAM}_bucket{{{labels},le="{le}"}} {round(count * min(1.0, 0.6 + 0.05 * i))}')
            lines.append(f"{HISTOGRAM}_count{{{labels}}} {count}")
            lines.append(f"{HISTOGRAM}_sum{{{labels}}} {count * 0.12:.3f}")
        return "\n".join(lines) + "\n"

    def serve(self) -> tuple[ThreadingHTTPServer, int]:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                body = exporter.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, server.server_address[1]


# --- the layouts ----------------------------------------------------------------------------------

def opgen_rules(work: Path, services: list[str]) -> list[dict]:
    """The groups `opgen sync` writes for the fleet."""
    for name in services:
        folder = work / "fleet" / name
        folder.mkdir(parents=True)
        (folder / "service.yaml").write_text(
            "apiVersion: opgen/v1\nkind: Service\n"
            f"metadata: {{name: {name}, team: bench, tier: 2}}\n"
            "spec:\n  interfaces: [{kind: http, port: 8080}]\n  slos:\n"
            "    - {name: availability, objective: 99.9, sli: {kind: availability}}\n"
            "    - {name: latency, objective: 99, sli: {kind: latency, threshold: 500ms}}\n")
    done = subprocess.run([sys.executable, "-m", "opgen", "sync", str(work / "fleet")], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)
    from ruamel.yaml import YAML

    groups = []
    for name in services:
        groups += YAML(typ="safe").load((work / "fleet" / name / "ops/prometheus" / f"{name}.rules.yml").read_text())["groups"]
    return groups


def every_evaluation_variant(groups: list[dict]) -> list[dict]:
    """opgen's groups with the long windows evaluated at every evaluation, as before they had a
    group interval of their own: what that interval saves."""
    return [{k: v for k, v in g.items() if k != "interval"} for g in groups]


SLOTH_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def sloth_rules(services: list[str]) -> list[dict]:
    """Sloth's layout (its docs and generated examples): per SLO, SLI recordings from the raw
    series for each window, the 30d SLI as the mean of the 5m ratios, metadata, multiwindow
    alerts reading the recordings."""
    groups = []
    for service in services:
        for slo, objective in (("availability", 0.999), ("latency", 0.99)):
            budget = round(1 - objective, 6)
            sid = f"{service}-{slo}"
            ids = {"sloth_id": sid, "sloth_service": service, "sloth_slo": slo}
            sel = f'sloth_id="{sid}"'

            def query(window: str) -> str:
                total = f'sum(rate({HISTOGRAM}_count{{job="{service}"}}[{window}]))'
                if slo == "availability":
                    bad = f'sum(rate({HISTOGRAM}_count{{job="{service}",http_response_status_code=~"5.."}}[{window}]))'
                else:
                    bad = f'({total} - sum(rate({HISTOGRAM}_bucket{{job="{service}",le="0.5"}}[{window}])))'
                return f"(\n  {bad}\n)\n/\n(\n  {total}\n)"

            sli = [{"record": f"slo:sli_error:ratio_rate{w}", "expr": query(w), "labels": {**ids, "sloth_window": w}}
                   for w in SLOTH_WINDOWS]
            sli.append({"record": "slo:sli_error:ratio_rate30d", "labels": {**ids, "sloth_window": "30d"}, "expr": (
                f"sum_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[30d])\n/ ignoring (sloth_window)\n"
                f"count_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[30d])")})
            meta = [
                {"record": "slo:objective:ratio", "expr": f"vector({objective})", "labels": ids},
                {"record": "slo:error_budget:ratio", "expr": f"vector(1-{objective})", "labels": ids},
                {"record": "slo:time_period:days", "expr": "vector(30)", "labels": ids},
                {"record": "slo:current_burn_rate:ratio", "labels": ids, "expr": (
                    f"slo:sli_error:ratio_rate5m{{{sel}}}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
                    f"slo:error_budget:ratio{{{sel}}}")},
                {"record": "slo:period_burn_rate:ratio", "labels": ids, "expr": (
                    f"slo:sli_error:ratio_rate30d{{{sel}}}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
                    f"slo:error_budget:ratio{{{sel}}}")},
                {"record": "slo:period_error_budget_remaining:ratio", "labels": ids,
                 "expr": f"1 - slo:period_burn_rate:ratio{{{sel}}}"},
                {"record": "sloth_slo_info", "labels": {**ids, "sloth_version": "bench"}, "expr": "vector(1)"},
            ]

            def over(window: str, factor: float) -> str:
                return f"max(slo:sli_error:ratio_rate{window}{{{sel}}} > ({factor} * {budget})) without (sloth_window)"

            alerts = [
                {"alert": "SlothPage", "labels": {"severity": "page"},
                 "expr": f"(\n{over('5m', 14.4)}\nand\n{over('1h', 14.4)}\n)\nor\n(\n{over('30m', 6)}\nand\n{over('6h', 6)}\n)"},
                {"alert": "SlothTicket", "labels": {"severity": "ticket"},
                 "expr": f"(\n{over('2h', 3)}\nand\n{over('1d', 3)}\n)\nor\n(\n{over('6h', 1)}\nand\n{over('3d', 1)}\n)"},
            ]
            groups += [{"name": f"sloth-slo-sli-recordings-{sid}", "rules": sli},
                       {"name": f"sloth-slo-meta-recordings-{sid}", "rules": meta},
                       {"name": f"sloth-slo-alerts-{sid}", "rules": alerts}]
    return groups


# --- Prometheus -----------------------------------------------------------------------------------

class Prometheus:
    def __init__(self, work: Path, name: str, groups: list[dict], target_port: int) -> None:
        from opgen.render.yaml_output import dump_yaml

        self.folder = work / name
        self.folder.mkdir()
        (self.folder / "rules.yml").write_text(dump_yaml({"groups": groups}))
        (self.folder / "prometheus.yml").write_text(dump_yaml({
            "global": {"scrape_interval": "15s", "evaluation_interval": EVALUATION_INTERVAL},
            "rule_files": ["rules.yml"],
            "scrape_configs": [{"job_name": "bench", "honor_labels": True,
                                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}],
        }))
        self.groups = groups
        self.port = free_port()
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={self.folder / 'prometheus.yml'}", f"--storage.tsdb.path={self.folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(self.folder / "log", "w"), cwd=self.folder)

    def get(self, path: str, **params) -> str:
        url = f"http://127.0.0.1:{self.port}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read().decode()

    def ready(self, deadline: float) -> None:
        while time.time() < deadline:
            try:
                self.get("/-/ready")
                return
            except OSError:
                time.sleep(0.5)
        raise SystemExit(f"prometheus {self.folder.name} did not start: {(self.folder / 'log').read_text()[-2000:]}")

    def group_metrics(self) -> dict[str, dict[str, float]]:
        """rule group -> {duration, samples} from Prometheus's own /metrics."""
        found: dict[str, dict[str, float]] = {}
        for line in self.get("/metrics").splitlines():
            for metric, key in (("prometheus_rule_group_last_duration_seconds", "duration"),
                                ("prometheus_rule_group_last_evaluation_samples", "samples"),  # Prometheus 2.x
                                ("prometheus_rule_group_last_samples", "samples")):  # 3.x
                if line.startswith(metric + "{"):
                    labels, value = line[len(metric) + 1:].rsplit("} ", 1)
                    group = labels.split('rule_group="', 1)[1].split('"', 1)[0].split(";", 1)[1]
                    found.setdefault(group, {})[key] = float(value)
        return found

    def samples_read(self, expr: str) -> int:
        data = json.loads(self.get("/api/v1/query", query=expr, stats="all"))
        return int(data["data"].get("stats", {}).get("samples", {}).get("totalQueryableSamples", 0))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def per_minute(groups: list[dict]) -> dict[str, float]:
    """group name -> evaluations per minute."""
    return {g["name"]: 60 / SECONDS[g.get("interval", EVALUATION_INTERVAL)] for g in groups}


def measure(servers: list[Prometheus], minutes: float) -> dict[str, dict]:
    """Average each group's last duration over the second half of the run, then read samples."""
    polls: dict[str, list[dict]] = {s.folder.name: [] for s in servers}
    end = time.time() + minutes * 60
    half = time.time() + minutes * 30
    while time.time() < end:
        time.sleep(20)
        if time.time() >= half:
            for s in servers:
                polls[s.folder.name].append(s.group_metrics())
    results = {}
    for s in servers:
        rate = per_minute(s.groups)
        seconds = samples_out = 0.0
        for name, each in rate.items():
            values = [p[name]["duration"] for p in polls[s.folder.name] if name in p]
            seconds += each * (sum(values) / len(values) if values else 0)
            outs = [p[name].get("samples", 0) for p in polls[s.folder.name] if name in p]
            samples_out += each * (sum(outs) / len(outs) if outs else 0)
        read = sum(rate[g["name"]] * s.samples_read(rule["expr"]) for g in s.groups for rule in g["rules"])
        rules = sum(len(g["rules"]) for g in s.groups)
        results[s.folder.name] = {"groups": len(s.groups), "rules": rules, "seconds_per_minute": seconds,
                                  "samples_read_per_minute": read, "samples_written_per_minute": samples_out}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--routes", type=int, default=10)
    parser.add_argument("--pods", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=6, help="how long the Prometheus processes run (default 6)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if shutil.which("prometheus") is None:
        sys.exit("prometheus is not installed (apt-get install prometheus)")
    services = [f"svc-{i:03d}" for i in range(args.services)]
    slos = 2 * len(services)
    exporter = Exporter(services, args.routes, args.pods)
    server, port = exporter.serve()
    work = Path(tempfile.mkdtemp(prefix="opgen-rule-eval-"))
    servers: list[Prometheus] = []
    try:
        ours = opgen_rules(work, services)
        layouts = {"opgen": ours, "opgen-every-evaluation": every_evaluation_variant(ours), "sloth": sloth_rules(services)}
        servers = [Prometheus(work, name, groups, port) for name, groups in layouts.items()]
        for s in servers:
            s.ready(time.time() + 60)
        results = measure(servers, args.minutes)
    finally:
        for s in servers:
            s.stop()
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    series = len(exporter.sets) * (len(BUCKETS) + 2)
    if args.json:
        print(json.dumps({"services": args.services, "routes": args.routes, "pods": args.pods, "series": series,
                          "slos": slos, "layouts": results}, indent=2))
        return
    load = os.getloadavg()[0]
    print(f"rule evaluation: {args.services} services x {args.routes} routes x {len(METHODS)} methods x {len(CODES)} codes "
          f"x {args.pods} pods = {series:,} series; {slos} SLOs; {args.minutes:g} min run, evaluation every "
          f"{EVALUATION_INTERVAL}; CPython {platform.python_version()}, {os.cpu_count()} CPUs, load {load:.1f}")
    print()
    print("| layout | groups | rules | eval ms per minute per SLO | samples read per minute per SLO | samples written per minute per SLO |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['groups']} | {r['rules']} | {1000 * r['seconds_per_minute'] / slos:.2f} | "
              f"{r['samples_read_per_minute'] / slos:,.0f} | {r['samples_written_per_minute'] / slos:.1f} |")


if __name__ == "__main__":
    main()
