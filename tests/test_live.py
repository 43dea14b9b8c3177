"""The live commands against a real Prometheus over a known history (tests/live_history.py).

One Prometheus per module (Debian's `prometheus`, on a free loopback port), over TSDB blocks that
promtool backfilled from ten days of series the test wrote, with the generated rules of shop (but
one group), cart (one rule changed) and nightly loaded. Expected figures come from the history's
increments (live_history), from hand arithmetic on the incidents, or from promtool replaying the
generated rules, never from opgen's own code.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import live_history as h
import pytest
from ruamel.yaml import YAML

from conftest import real_tool, run_opgen
from test_e2e_prometheus import free_port, running

READY_SECONDS = 60
TOLERANCE = 1e-6

SHOP = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: shop, team: web, tier: 1}
spec:
  runtime: {platform: kubernetes, namespace: shop}
  interfaces: [{kind: http, port: 8080}]
  traffic: {baseline_rps: 10, peak_rps: 40, per_instance_rps: 20}
  slos:
    - {name: availability, objective: 99.5, window: 7d, sli: {kind: availability}}
    - {name: latency, objective: 99, window: 30d, sli: {kind: latency, threshold: %(threshold)s}}
    - name: charges
      objective: 99
      window: 7d
      sli:
        kind: events
        errors: sum(rate(shop_charge_failures_total{job="shop"}[{{window}}]))
        total: sum(rate(shop_charges_total{job="shop"}[{{window}}]))
  dependencies:
    - {name: orders-db, kind: postgres, critical: true}
    - {name: payments, kind: http}
%(policy)s"""
CART = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: cart, team: web, tier: 2}
spec:
  interfaces: [{kind: http}]
  slos:
    - {name: availability, objective: 99.9, window: 30d, sli: {kind: availability}}
  dependencies:
    - {name: stock, kind: http, critical: true}
"""
NIGHTLY = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: nightly, team: data, tier: 3}
spec:
  interfaces: [{kind: cron}]
  slos:
    - {name: runs-succeed, objective: 99, window: 7d, sli: {kind: job-success}}
    - {name: on-time, objective: 99, window: 7d, sli: {kind: job-on-time, threshold: 2h}}
"""
UNLOADED_GROUP = "shop-saturation"  # left out of what Prometheus loads: audit must say so
CHANGED_CART_ALERT = "SLONoData"  # its `for` is changed in what Prometheus loads


def shop(threshold: str = "500ms", policy: str = "") -> str:
    return SHOP % {"threshold": threshold, "policy": policy}


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "service.yaml").write_text(text)
    return folder


def ready(url: str) -> bool | None:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
            return response.status == 200 or None
    except OSError:
        return None


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Prometheus over the backfilled history; stopped (by its PID) when the module is done."""
    promtool = real_tool("promtool", "prometheus")
    binary = real_tool("prometheus", "prometheus")
    root = tmp_path_factory.mktemp("live")
    h.backfill(promtool, h.build(), root / "openmetrics", root / "data")
    fleet = root / "fleet"
    for name, text in (("shop", shop()), ("cart", CART), ("nightly", NIGHTLY)):
        write(fleet / name, text)
    synced = run_opgen("sync", "shop", "cart", "nightly", cwd=fleet)
    assert synced.returncode == 0, synced.stderr
    yaml = YAML(typ="safe", pure=True)
    loaded = []
    for name in ("shop", "cart", "nightly"):
        rules = yaml.load((fleet / name / "ops/prometheus" / f"{name}.rules.yml").read_text())
        rules["groups"] = [g for g in rules["groups"] if g["name"] != UNLOADED_GROUP]
        for group in rules["groups"]:
            for rule in group["rules"]:
                if name == "cart" and rule.get("alert") == CHANGED_CART_ALERT:
                    rule["for"] = "30m"
        path = root / f"{name}.loaded.rules.yml"
        yaml.dump(rules, path)
        loaded.append(str(path))
    config = root / "prometheus.yml"
    yaml.dump({"global": {"evaluation_interval": "1s"}, "rule_files": loaded}, config)
    url = f"http://127.0.0.1:{free_port()}"
    with running([binary, f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
                  "--storage.tsdb.retention.time=36500d", f"--web.listen-address={url.removeprefix('http://')}"],
                 root / "prometheus.log") as server:
        deadline = time.monotonic() + READY_SECONDS
        while not ready(url):
            assert server.poll() is None, (root / "prometheus.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Prometheus did not get ready"
            time.sleep(0.3)
        yield SimpleNamespace(url=url, fleet=fleet, root=root, promtool=promtool)


def opgen(live, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_opgen(args[0], "--prometheus", live.url, *args[1:], cwd=cwd or live.fleet)


def opgen_json(live, *args: str, code: int = 0) -> dict:
    result = opgen(live, *args, "--format", "json")
    assert result.returncode == code, result.stdout + result.stderr
    return json.loads(result.stdout)


def slos_of(report: dict) -> dict[tuple[str, str], dict]:
    return {(s["service"], s["slo"]): s for service in report["services"] for s in service["slos"]}


def rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_of(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


# --- report ----------------------------------------------------------------------------------------------

WEEK, MONTH, HOUR, DAY = 7 * 86400, 30 * 86400, 3600, 86400


def expected_request_slos(at: int) -> dict[str, tuple[float, float, float]]:
    """(bad, total, error budget) per SLO of shop at `at`, from the history's increments."""
    failed, total, _ = h.request_counts(at, WEEK)
    _, month_total, not_fast = h.request_counts(at, MONTH)
    charges_failed, charges = h.charge_counts(at, WEEK)
    return {"availability": (failed, total, 0.005), "latency": (not_fast, month_total, 0.01), "charges": (charges_failed, charges, 0.01)}


def test_report_gives_each_slo_its_sli_and_budget_from_the_raw_series(live):
    report = opgen_json(live, "report", "shop", "nightly", "--at", str(h.END))
    assert report["at"] == rfc3339(h.END)
    slos = slos_of(report)
    expected = {("shop", name): figures for name, figures in expected_request_slos(h.END).items()}
    for on_time, name in ((False, "runs-succeed"), (True, "on-time")):
        bad, total = h.nightly_minutes(h.END, WEEK, on_time)
        expected[("nightly", name)] = (bad, total, 0.01)
    assert set(slos) == set(expected)
    for key, (bad, total, budget) in expected.items():
        got = slos[key]
        sli = (total - bad) / total
        assert got["total"] == pytest.approx(total, rel=TOLERANCE), key
        assert got["good"] == pytest.approx(total - bad, rel=TOLERANCE), key
        assert got["sli"] == pytest.approx(sli, abs=TOLERANCE), key
        assert got["budget_spent"] == pytest.approx((1 - sli) / budget, abs=TOLERANCE), key
        assert got["budget_remaining"] == pytest.approx(1 - (1 - sli) / budget, abs=TOLERANCE), key
        assert got["objective"] == pytest.approx(1 - budget) and 0 < got["objective"] < 1
    # The two nightly SLOs count minutes; the job failed for two hours, more than its budget.
    assert slos[("nightly", "runs-succeed")]["unit"] == "minutes"
    assert slos[("nightly", "runs-succeed")]["status"] == "exhausted"
    assert slos[("nightly", "runs-succeed")]["bad"] == 120 and slos[("nightly", "on-time")]["bad"] == 59
    # Burn rates: the last hour and the last day (incident C was 9 to 10 hours before the end).
    failed, total, not_fast = h.request_counts(h.END, HOUR)
    assert slos[("shop", "availability")]["burn_rate_1h"] == pytest.approx(failed / total / 0.005, abs=TOLERANCE)
    _, day_total, day_not_fast = h.request_counts(h.END, DAY)
    assert slos[("shop", "latency")]["burn_rate_1d"] == pytest.approx(day_not_fast / day_total / 0.01, abs=TOLERANCE)
    assert slos[("shop", "latency")]["burn_rate_1h"] == pytest.approx(not_fast / total / 0.01, abs=TOLERANCE)


def test_report_says_which_data_it_saw(live):
    slos = slos_of(opgen_json(live, "report", "shop", "--at", str(h.END)))
    week = slos[("shop", "availability")]["data"]
    assert week == {"first_sample": rfc3339(h.END - WEEK), "last_sample": rfc3339(h.END), "partial": False, "days_without_data": 0}
    month = slos[("shop", "latency")]["data"]  # ten days of a 30-day window
    assert month["partial"] is True and month["first_sample"] == rfc3339(h.START) and month["last_sample"] == rfc3339(h.END)
    burn_down = slos[("shop", "latency")]["burn_down"]
    assert burn_down[0] == {"time": rfc3339(h.END - MONTH), "budget_remaining": 1.0}
    assert burn_down[-1]["time"] == rfc3339(h.END)
    assert burn_down[-1]["budget_remaining"] == pytest.approx(slos[("shop", "latency")]["budget_remaining"], abs=TOLERANCE)
    assert len(burn_down) == 1 + h.DAYS  # the window's start, then each day with data


def test_report_during_an_incident_says_burning_and_when_the_budget_runs_out(live):
    at = h.time_of(h.minute(8, 7))  # an hour into incident B
    availability = slos_of(opgen_json(live, "report", "shop", "--at", str(at)))[("shop", "availability")]
    failed, total, _ = h.request_counts(at, WEEK)
    hour_failed, hour_total, _ = h.request_counts(at, HOUR)
    remaining, burn = 1 - failed / total / 0.005, hour_failed / hour_total / 0.005
    assert burn > 1 and availability["status"] == "burning"
    assert availability["burn_rate_1h"] == pytest.approx(burn, abs=TOLERANCE)
    assert availability["time_to_exhaustion_seconds"] == pytest.approx(remaining * WEEK / burn, rel=TOLERANCE)


def test_report_before_any_data_says_no_data(live):
    slos = slos_of(opgen_json(live, "report", "shop", "--at", str(h.START - DAY)))
    assert {s["status"] for s in slos.values()} == {"no-data"}
    assert all(s["sli"] is None and s["total"] is None for s in slos.values())


def markdown_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_report_markdown_is_a_table_for_pull_requests(live):
    result = opgen(live, "report", "shop", "nightly", "--at", str(h.END), "--format", "markdown")
    assert result.returncode == 0, result.stderr
    header, rule, *rows = markdown_rows(result.stdout)
    assert header[:5] == ["service", "SLO", "objective", "window", "SLI"] and set(rule) == {"---"}
    assert [(r[0], r[1]) for r in rows] == [("nightly", "runs-succeed"), ("nightly", "on-time"), ("shop", "availability"),
                                            ("shop", "latency"), ("shop", "charges")]  # services in the order found
    assert all(len(r) == len(header) for r in rows)
    assert rows[0][9] == "exhausted" and "(partial)" in rows[3][10]


class Page(HTMLParser):
    """What a browser would see: elements, the text, and every URL the page would load."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.loads: list[str] = []
        self.polylines: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        self.loads += [v for k, v in attrs if k in ("src", "href") or (k == "rel" and v == "stylesheet")]
        if tag == "polyline":
            self.polylines.append(attributes["points"])

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def test_report_html_is_one_page_with_a_burn_down_chart_per_slo(live):
    result = opgen(live, "report", "shop", "nightly", "--at", str(h.END), "--format", "html")
    assert result.returncode == 0, result.stderr
    page = Page()
    page.feed(result.stdout)
    page.close()
    assert page.tags.count("svg") == 5 and len(page.polylines) == 5  # one chart per SLO, all with data
    assert page.loads == [] and "script" not in page.tags  # self-contained: nothing fetched, nothing run
    text = " ".join(page.text)
    assert "shop / latency" in text and "exhausted" in text
    for points in page.polylines:
        coordinates = [tuple(map(float, p.split(","))) for p in points.split()]
        assert all(0 <= x <= 560 and 0 <= y <= 180 for x, y in coordinates)
        assert [x for x, _ in coordinates] == sorted(x for x, _ in coordinates)


def test_report_html_escapes_what_it_shows(tmp_path):
    from dataclasses import replace

    from opgen.live.budget import SLOFigures
    from opgen.live.report import Report, html
    from opgen.sync.run import load_services

    service = load_services([write(tmp_path / "shop", shop())], reuse=False)[0].service
    hostile = "<img src=x onerror=alert(1)>&amp;"
    service = replace(service, name=hostile)
    figures = tuple(SLOFigures(service, slo, 1e9, (), None, None, None) for slo in service.slos)
    page = Page()
    page.feed(html(Report('http://x/"><script>alert(1)</script>', 1e9, ((service, figures),))))
    assert "img" not in page.tags and "script" not in page.tags and page.loads == []
    assert hostile in " ".join(page.text)


# --- gate -----------------------------------------------------------------------------------------------


def policy(**fields: object) -> str:
    return "  error_budget_policy: " + json.dumps({"slos": ["availability"], **fields}) + "\n"


def test_gate_decides_on_each_side_of_the_policy_line(live, tmp_path):
    failed, total, _ = h.request_counts(h.END, WEEK)
    spent = failed / total / 0.005 * 100  # percent of the availability budget spent, about 20
    cases = {
        "block": (policy(block_at=round(spent - 0.01, 4)), 1),
        "warn": (policy(warn_at=round(spent - 0.01, 4), block_at=round(spent + 0.01, 4)), 0),
        "allow": (policy(warn_at=round(spent + 0.01, 4)), 0),
    }
    for decision, (text, code) in cases.items():
        write(tmp_path / decision, shop(policy=text))
        answer = opgen_json(live, "gate", str(tmp_path / decision), "--at", str(h.END), code=code)
        assert answer["decision"] == decision and answer["exit_code"] == code, answer
        [verdict] = answer["services"][0]["slos"]
        assert verdict["slo"] == "availability" and verdict["decision"] == decision
        assert verdict["budget_spent"] == pytest.approx(spent / 100, abs=TOLERANCE)
    text = opgen(live, "gate", str(tmp_path / "block"), "--at", str(h.END))
    assert text.returncode == 1
    assert f"{spent:.2f}% of the 7d error budget spent" in text.stdout and "deploy blocked; override by: web" in text.stdout


def test_gate_blocks_a_spent_budget_by_default(live):
    answer = opgen_json(live, "gate", "nightly", "--at", str(h.END), code=1)
    verdicts = {v["slo"]: v["decision"] for v in answer["services"][0]["slos"]}
    assert verdicts == {"runs-succeed": "block", "on-time": "allow"}  # 119 % and 58.5 % spent; tier 3 warns from 90 %
    assert answer["services"][0]["policy"] == {"block_at": 1.0, "warn_at": 0.9, "slos": ["runs-succeed", "on-time"],
                                              "override_by": ["data"]}


def test_gate_cannot_decide_without_data(live):
    answer = opgen_json(live, "gate", "shop", "--at", str(h.START - DAY), code=4)
    assert answer["decision"] == "undecided"
    assert all(v["decision"] == "undecided" for v in answer["services"][0]["slos"])


# --- backtest -------------------------------------------------------------------------------------------


def firings_of(answer: dict) -> list[tuple]:
    return [(f["alert"], f["severity"], f["labels"].get("long_window"), f["labels"].get("cause"), f["start"], f["end"])
            for f in answer["firings"]]


def at(day: int, hour: int, minute: int = 0) -> str:
    return rfc3339(h.time_of(h.minute(day, hour, minute)))


def test_backtest_finds_the_pages_of_an_outage_to_the_evaluation_step(live):
    """By hand, from the story: cart serves 300 requests a minute, objective 99.9 % over 30d.
    - D1, every request fails from 09:00: at 09:01 the 1h ratio is 300/18000 = 1.7 % and the 5m
      ratio 20 %, both above 14.4 x 0.1 % = 1.44 %; active from 09:01, `for` 2m: fires at 09:03.
      The last failures are in the minute before 09:20; at 09:25 the 5m window holds none: resolved.
    - The target is down (up 0) from 06:01 to 06:10: SLONoData (targets down, `for` 5m) fires at
      06:06 and is resolved at 06:11, the first evaluation with up 1.
    - No request samples after 10:00 until 10:31: the 5m request rate needs two samples, so it is
      absent from 10:05 to 10:31; SLONoData (SLI series vanished after a day with events, `for`
      15m) fires at 10:20, resolved at 10:32.
    - D1 (20 minutes, all failing) and D2 (10 minutes, half failing) spend 25 minutes of full
      failure, less than the 43.2 minutes the 30d budget holds: AvailabilityBudgetExhausted never fires."""
    answer = opgen_json(live, "backtest", "cart", "--since", "2d", "--until", str(h.END))
    firings = firings_of(answer)
    assert ("AvailabilityBudgetBurn", "page", "1h", None, at(8, 9, 3), at(8, 9, 25)) in firings
    assert ("SLONoData", "page", None, "targets-down", at(9, 6, 6), at(9, 6, 11)) in firings
    assert ("SLONoData", "page", None, "sli-metrics-vanished", at(9, 10, 20), at(9, 10, 32)) in firings
    assert not [f for f in answer["firings"] if f["alert"] == "AvailabilityBudgetExhausted"]
    assert answer["since"] == rfc3339(h.END - 2 * DAY) and answer["until"] == rfc3339(h.END)
    assert answer["evaluation_interval"] == "1m"
    summary = {a["alert"]: a for a in answer["alerts"]}
    burn = [f for f in answer["firings"] if f["alert"] == "AvailabilityBudgetBurn"]
    assert summary["AvailabilityBudgetBurn"]["pages"] == sum(f["severity"] == "page" for f in burn) == 4  # 1h and 6h, D1 and D2
    assert summary["SLONoData"] == {"service": "cart", "alert": "SLONoData", "pages": 2, "tickets": 0, "firings": 2,
                                    "firing_seconds": 17 * 60}
    for firing in answer["firings"]:
        assert firing["service"] == "cart" and firing["labels"]["service"] == "cart"
        assert firing["slo"] == firing["labels"].get("slo") and firing["severity"] == firing["labels"]["severity"]


def test_backtest_agrees_with_prometheus_rule_evaluation(live, tmp_path):
    """promtool replays the generated rules (annotations aside) over cart's series, evaluation by
    evaluation, and checks the firing alerts before, at and after every start and end the backtest
    found, and every three hours: the backtest evaluates the alerts as Prometheus would have."""
    answer = opgen_json(live, "backtest", "cart", "--since", "2d", "--until", str(h.END))
    assert_promtool_agrees(live, tmp_path, answer)


def assert_promtool_agrees(live, tmp_path, answer: dict) -> None:
    yaml = YAML(typ="safe", pure=True)
    rules = yaml.load((live.fleet / "cart/ops/prometheus/cart.rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # they do not decide what fires
    yaml.dump(rules, tmp_path / "cart.rules.yml")
    firings = [(f["alert"], f["labels"], seconds_of(f["start"]), f["end"] and seconds_of(f["end"])) for f in answer["firings"]]
    since, until = seconds_of(answer["since"]), seconds_of(answer["until"])
    times = set(range(since, until + 1, 3 * 3600))
    for _, _, start, end in firings:
        times |= {start - 60, start} | ({end - 60, end} if end else set())
    zero = h.time_of(h.CART[0])  # promtool's time 0
    names = sorted({r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r})
    tests = [{"eval_time": f"{(t - zero) // 60}m", "alertname": name,
              "exp_alerts": [{"exp_labels": labels} for alert, labels, start, end in firings
                             if alert == name and start <= t and (end is None or t < end)]}
             for t in sorted(times) for name in names]
    history = h.build()
    series = [{"series": name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}", "values": h.promtool_values(values, h.CART[0])}
              for (name, labels), values in history.series.items() if dict(labels).get("job") == "cart"]
    recordings_first = sorted((g["name"] for g in rules["groups"]), key=lambda n: not any(
        "record" in r for g in rules["groups"] if g["name"] == n for r in g["rules"]))
    yaml.dump({"rule_files": ["cart.rules.yml"], "evaluation_interval": "1m", "group_eval_order": recordings_first,
               "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": tests}]}, tmp_path / "oracle.test.yml")
    result = subprocess.run([live.promtool, "test", "rules", "oracle.test.yml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_backtest_over_a_long_history_finds_the_latency_incident(live):
    """shop's last day holds incident C (30 % of requests slower than the 500ms threshold for an
    hour): its latency SLO pages over 1h/5m; availability and charges had nothing to say. The
    30d window's alerts read ten days of raw history through subqueries."""
    answer = opgen_json(live, "backtest", "shop", "--since", "1d", "--until", str(h.END))
    alerts = {(f["alert"], f["severity"], f["labels"].get("long_window")) for f in answer["firings"]}
    assert alerts == {("LatencyBudgetBurn", "page", "1h")}, answer["firings"]
    [firing] = answer["firings"]
    assert at(9, 14) < firing["start"] < at(9, 15) < firing["end"] < at(9, 15, 10)
    assert answer["alerts"] == [{"service": "shop", "alert": "LatencyBudgetBurn", "pages": 1, "tickets": 0, "firings": 1,
                                 "firing_seconds": seconds_of(firing["end"]) - seconds_of(firing["start"])}]


def test_backtest_text_lists_firings_then_per_alert_counts(live):
    result = opgen(live, "backtest", "cart", "--since", "2d", "--until", str(h.END))
    assert result.returncode == 0, result.stderr
    assert f"{at(8, 9, 3)} .. {at(8, 9, 25)}  page" in result.stdout
    assert "cart SLONoData: 2 page(s), 0 ticket(s), firing 17m" in result.stdout


# --- audit ----------------------------------------------------------------------------------------------


def findings(answer: dict, status: str | None = None) -> set[tuple[str, str]]:
    return {(f["check"], f["subject"]) for f in answer["findings"] if status is None or f["status"] == status}


def test_audit_finds_an_unloaded_group_and_an_undeclared_peer(live):
    answer = opgen_json(live, "audit", "shop", "--at", str(h.END), code=1)
    assert findings(answer, "FAIL") == {("rule group", UNLOADED_GROUP)}
    assert findings(answer, "warn") == {("undeclared peer", "fraud-check")}
    ok = findings(answer, "ok")
    assert ("targets up", 'up{job="shop"}') in ok and ("bucket", 'latency: le="0.5"') in ok
    assert {("dependency", "orders-db"), ("dependency", "payments")} <= ok
    assert ("selector", 'http_server_request_duration_seconds_count{job="shop"}') in ok
    assert ("selector", 'kube_horizontalpodautoscaler_spec_max_replicas{namespace="shop",horizontalpodautoscaler="shop"}') in ok
    assert answer["failed"] == 1


def test_audit_finds_a_threshold_without_a_bucket(live, tmp_path):
    write(tmp_path / "shop", shop(threshold="300ms"))
    answer = opgen_json(live, "audit", str(tmp_path / "shop"), "--at", str(h.END), code=1)
    [bucket] = [f for f in answer["findings"] if f["check"] == "bucket"]
    assert bucket["status"] == "FAIL" and bucket["subject"] == 'latency: le="0.3"'
    assert "buckets seen: 0.1, 0.25, 0.5, 1, +Inf" in bucket["detail"]


def test_audit_finds_a_group_loaded_from_an_old_file(live):
    result = opgen(live, "audit", "cart", "--at", str(h.END))
    assert result.returncode == 1
    groups = [line for line in result.stdout.splitlines() if " rule group " in line]
    [failed] = [line for line in groups if line.split()[0] == "FAIL"]  # every other group is as generated
    assert len(groups) == 6 and all(line.split()[0] == "ok" for line in groups if line != failed), result.stdout
    assert "cart: cart-health" in failed and "has another `for`" in failed and "run `opgen sync`" in failed
