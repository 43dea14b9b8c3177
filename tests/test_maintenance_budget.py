"""An SLO that leaves planned maintenance out of its budget (`slos[].maintenance: excluded`).

The mask is PromQL over time() (slo/maintenance_mask.py), so a real Prometheus evaluates it at any
instant: instant queries with `time=` at chosen and random instants, across daylight-saving
changes, in zones north and south of the equator and without daylight saving, checked against
Python's zoneinfo. Then the generated rules on a live Prometheus (Debian's `prometheus`, on
loopback, scraping itself): the excluded SLO's 5m recordings pause while a window is on, the other
SLO's do not, and no SLONoData waits to fire for the pause.
"""

from __future__ import annotations

import datetime
import json
import random
import subprocess
import time
import urllib.parse
import urllib.request
import zoneinfo
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import real_tool, run_opgen
from opgen.descriptor.model import Maintenance, MaintenanceWindow
from opgen.slo.maintenance_mask import in_maintenance, local_week_minute
from test_e2e_prometheus import free_port, running

READY_SECONDS = 60
TAIL = datetime.timedelta(minutes=5)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

WEEKLY = (("tuesday", "sunday"), "23:00", "01:30")
DATED = ("2026-12-24", "22:00", "02:00")


def maintenance(zone: str) -> Maintenance:
    days, start, end = WEEKLY
    date, dated_start, dated_end = DATED
    return Maintenance(zone, (MaintenanceWindow(start, end, days=days), MaintenanceWindow(dated_start, dated_end, date=date)))


def expected(zone: str, instant: datetime.datetime) -> bool:
    """Whether `instant` is in a window or its 5-minute tail, from zoneinfo's wall clock."""
    tz = zoneinfo.ZoneInfo(zone)
    if not datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc) <= instant < datetime.datetime(2040, 1, 1, tzinfo=datetime.timezone.utc):
        weekly = False
    else:
        local = instant.astimezone(tz).replace(tzinfo=None)
        days, start, end = WEEKLY
        weekly = False
        for back in (0, 1):  # a window that began today or yesterday (it ends the next day)
            day = local.date() - datetime.timedelta(days=back)
            if WEEKDAYS[day.weekday()] in days:
                begins = datetime.datetime.combine(day, datetime.time.fromisoformat(start))
                ends = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.fromisoformat(end))
                weekly |= begins <= local < ends + TAIL
    date, dated_start, dated_end = DATED
    day = datetime.date.fromisoformat(date)
    begins = datetime.datetime.combine(day, datetime.time.fromisoformat(dated_start), tz)
    ends = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.fromisoformat(dated_end), tz)
    return weekly or begins <= instant < ends + TAIL


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_ready(url: str, process, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while not ready(url):
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "Prometheus did not get ready"
        time.sleep(0.3)


def query(url: str, expr: str, at: float | None = None) -> list[dict]:
    params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode(params)}", timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    binary = real_tool("prometheus", "prometheus")
    root = tmp_path_factory.mktemp("mask")
    YAML().dump({"global": {"evaluation_interval": "1m"}}, root / "prometheus.yml")
    url = f"http://127.0.0.1:{free_port()}"
    with running([binary, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
                  f"--web.listen-address={url.removeprefix('http://')}"], root / "prometheus.log") as process:
        wait_ready(url, process, root / "prometheus.log")
        yield url


def instants(zone: str) -> list[datetime.datetime]:
    """Around each window's edges and each change of the zone's offset in 2026-2028, and random ones."""
    tz, utc = zoneinfo.ZoneInfo(zone), datetime.timezone.utc
    moments = []
    for year in (2026, 2027):
        for month in (1, 4, 7, 10):
            for day in range(1, 29):
                for hour, minute in ((22, 59), (23, 0), (1, 29), (1, 34), (1, 35), (1, 36)):
                    local = datetime.datetime(year, month, day, hour, minute, 30, tzinfo=tz)
                    if local.weekday() in (0, 1, 2, 6):
                        moments.append(local.astimezone(utc))
    # the hours around each change of offset (found by stepping through the years hour by hour)
    start = datetime.datetime(2026, 1, 1, tzinfo=utc)
    for hours in range(3 * 365 * 24):
        moment = start + datetime.timedelta(hours=hours)
        if moment.astimezone(tz).utcoffset() != (moment + datetime.timedelta(hours=1)).astimezone(tz).utcoffset():
            moments += [moment + datetime.timedelta(minutes=m) for m in range(-120, 180, 10)]
    moments += [datetime.datetime(2026, 12, 24, 20, 59, 30, tzinfo=utc) + datetime.timedelta(minutes=m) for m in range(0, 400, 7)]
    moments.append(datetime.datetime(1970, 1, 6, 23, 30, tzinfo=tz).astimezone(utc))  # a Tuesday before the mask's years
    generator = random.Random(zone)
    moments += [datetime.datetime.fromtimestamp(generator.randrange(1735689600, 2208988800), utc) for _ in range(150)]
    return moments


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"])
def test_the_mask_is_on_exactly_in_the_local_windows_and_their_tails(prometheus, zone):
    """Berlin and New York change their offsets on different days, Sydney in the other half of the
    year, Kolkata is +05:30 all year; the windows cross midnight and a week's end (Sunday night)."""
    rules = maintenance(zone)
    expr = in_maintenance(rules, f"(\n{local_week_minute(zone)}\n)")
    wrong = []
    on = 0
    for instant in instants(zone):
        got = bool(query(prometheus, expr, instant.timestamp()))
        want = expected(zone, instant)
        on += want
        if got != want:
            wrong.append(f"{instant.isoformat()} ({instant.astimezone(zoneinfo.ZoneInfo(zone)):%a %H:%M:%S %Z}): mask {got}, expected {want}")
    assert not wrong, "\n".join(wrong[:20])
    assert on > 50  # the instants reach into the windows, not only around them


SERVICE = """apiVersion: opgen/v1
kind: Service
metadata:
  name: {name}
  team: payments
  tier: 2
spec:
  interfaces:
    - {{kind: http, port: 8080}}
  slos:
    - name: masked
      objective: 99
      maintenance: excluded
      sli:
        kind: events
        errors: sum(rate(prometheus_http_requests_total{{job="{name}",code=~"5.."}}[{{{{window}}}}]))
        total: sum(rate(prometheus_http_requests_total{{job="{name}"}}[{{{{window}}}}]))
    - name: counted
      objective: 99
      sli:
        kind: events
        errors: sum(rate(prometheus_http_requests_total{{job="{name}",code=~"5.."}}[{{{{window}}}}]))
        total: sum(rate(prometheus_http_requests_total{{job="{name}"}}[{{{{window}}}}]))
  maintenance:
    time_zone: Australia/Sydney
    weekly:
      - {{days: [monday, tuesday, wednesday, thursday, friday, saturday, sunday], start: "{start}", end: "{end}"}}
"""


def window_from_now(hours: float, zone: str = "Australia/Sydney") -> dict[str, str]:
    """A daily window from `hours` from now minus 20 minutes to 40 minutes after that, in `zone`."""
    local = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)).astimezone(zoneinfo.ZoneInfo(zone))
    return {"start": f"{local - datetime.timedelta(minutes=20):%H:%M}", "end": f"{local + datetime.timedelta(minutes=20):%H:%M}"}


def test_live_the_excluded_slo_pauses_in_its_window_and_nothing_else_does(tmp_path):
    """ledger is in its window now, vault twelve hours from now: only ledger's `masked` SLO has no
    5m recordings and its mask on; its long windows hold no samples from the window; no SLONoData
    is pending for the pause."""
    binary = real_tool("prometheus", "prometheus")
    fleet = tmp_path / "fleet"
    for name, hours in (("ledger", 0), ("vault", 12)):
        (fleet / name).mkdir(parents=True)
        (fleet / name / "service.yaml").write_text(SERVICE.format(name=name, **window_from_now(hours)))
    synced = run_opgen("sync", "ledger", "vault", cwd=fleet)
    assert synced.returncode == 0, synced.stderr
    rule_files = [str(fleet / name / "ops/prometheus" / f"{name}.rules.yml") for name in ("ledger", "vault")]
    checked = subprocess.run([real_tool("promtool", "prometheus"), "check", "rules", *rule_files], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port()
    config = {"global": {"evaluation_interval": "1s", "scrape_interval": "1s"}, "rule_files": rule_files,
              "scrape_configs": [{"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                                 for name in ("ledger", "vault")]}
    path = tmp_path / "prometheus.yml"
    YAML().dump(config, path)
    url = f"http://127.0.0.1:{port}"
    with running([binary, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'data'}",
                  f"--web.listen-address=127.0.0.1:{port}"], tmp_path / "prometheus.log") as process:
        wait_ready(url, process, tmp_path / "prometheus.log")
        deadline = time.monotonic() + 60
        while not (query(url, 'slo:sli_requests:rate5m{service="vault",slo="masked"}')
                   and query(url, 'slo:sli_requests:rate5m{service="ledger",slo="counted"}')):
            assert time.monotonic() < deadline, "the unmasked recordings never came"
            time.sleep(1)
        time.sleep(3)  # a few more evaluations for the masked one to show up, if it wrongly would
        recorded = lambda service, slo: bool(query(url, f'slo:sli_requests:rate5m{{service="{service}",slo="{slo}"}}'))  # noqa: E731
        assert not recorded("ledger", "masked")
        assert recorded("ledger", "counted") and recorded("vault", "masked") and recorded("vault", "counted")
        assert [r["value"][1] for r in query(url, 'slo:maintenance:active{service="ledger",slo="masked"}')] == ["1"]
        assert not query(url, 'slo:maintenance:active{service="vault"}')
        assert not query(url, 'slo:maintenance:active{slo="counted"}')  # only the excluded SLO has a mask
        assert not query(url, 'count_over_time(slo:sli_errors:rate5m{service="ledger",slo="masked"}[1h])')
        assert not query(url, 'ALERTS{alertname="SLONoData",service="ledger"}'), "the pause looks like a fault"


def test_excluded_without_windows_is_an_error_at_its_line(tmp_path):
    folder = tmp_path / "ledger"
    folder.mkdir()
    text = SERVICE.format(name="ledger", start="01:00", end="02:00")
    (folder / "service.yaml").write_text(text[:text.index("  maintenance:\n    time_zone")])
    result = run_opgen("sync", ".", cwd=folder)
    assert result.returncode == 2
    assert "service.yaml:13:20: maintenance: excluded, but spec.maintenance declares no window" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "ops").exists()


def test_the_generated_rules_and_tests_pass_promtool_and_the_runbook_says_which_slo_leaves_maintenance_out(tmp_path):
    folder = tmp_path / "ledger"
    folder.mkdir()
    (folder / "service.yaml").write_text(SERVICE.format(name="ledger", start="23:00", end="01:30"))
    assert run_opgen("sync", ".", cwd=folder).returncode == 0
    tested = subprocess.run([real_tool("promtool", "prometheus"), "test", "rules", str(folder / "ops/prometheus/ledger.rules.test.yml")],
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    overview = (folder / "ops/runbooks/ledger/README.md").read_text()
    assert ("The minutes count against the error budget of `counted`: users still feel them. `masked` leaves them, "
            "and the 5 minutes after each window, out of its SLI and budget") in overview
