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
import os
import random
import shutil
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
from opgen.slo.maintenance_mask import in_maintenance, wall_clock
from test_e2e_prometheus import free_port, running

READY_SECONDS = 60
TAIL = datetime.timedelta(minutes=5)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

WEEKLY = (("tuesday", "sunday"), "23:00", "01:30")
# One-off windows: Christmas Eve past midnight, and on the nights Europe (2027-03-28, 2027-10-31) and
# the United States (2027-03-14, 2027-11-07) change their clocks: times skipped, times repeated.
DATED = (("2026-12-24", "22:00", "02:00"), ("2027-03-28", "01:30", "02:30"), ("2027-10-31", "02:00", "02:30"),
         ("2027-03-14", "01:30", "02:30"), ("2027-11-07", "01:00", "01:30"))


def maintenance(zone: str) -> Maintenance:
    days, start, end = WEEKLY
    return Maintenance(zone, (MaintenanceWindow(start, end, days=days),
                              *(MaintenanceWindow(s, e, date=d) for d, s, e in DATED)))


def expected(zone: str, instant: datetime.datetime) -> bool:
    """Whether `instant` is in a window or its 5-minute tail on the zone's wall clock (as
    Alertmanager reads time intervals), from zoneinfo; never outside the mask's years."""
    utc = datetime.timezone.utc
    if not datetime.datetime(2025, 1, 1, tzinfo=utc) <= instant < datetime.datetime(2040, 1, 1, tzinfo=utc):
        return False
    return on_the_wall_clock(instant.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None))


def on_the_wall_clock(local: datetime.datetime) -> bool:
    """Whether the wall-clock time `local` is in a window or its 5-minute tail."""
    days, start, end = WEEKLY
    windows = []
    for back in (0, 1):  # a weekly window that began today or yesterday (it ends the next day)
        day = local.date() - datetime.timedelta(days=back)
        if WEEKDAYS[day.weekday()] in days:
            windows.append((day, start, end))
    windows += [(datetime.date.fromisoformat(d), s, e) for d, s, e in DATED]
    for day, start, end in windows:
        begins = datetime.datetime.combine(day, datetime.time.fromisoformat(start))
        ends = datetime.datetime.combine(day, datetime.time.fromisoformat(end))
        ends += datetime.timedelta(days=1) if ends <= begins else datetime.timedelta()
        if begins <= local < ends + TAIL:
            return True
    return False


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


UTC = datetime.timezone.utc
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


def query_range(url: str, expr: str, start: datetime.datetime, end: datetime.datetime, step: int = 60) -> dict[float, float]:
    """`expr`'s value at each step from `start` (plus 30 seconds) to `end`, where it has one."""
    params = {"query": expr, "start": f"{start.timestamp() + 30:.0f}", "end": f"{end.timestamp():.0f}", "step": str(step)}
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{urllib.parse.urlencode(params)}", timeout=120) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return {float(t): float(v) for series in answer["data"]["result"] for t, v in series["values"]}


def steps(start: datetime.datetime, end: datetime.datetime, step: int = 60):
    second = start.timestamp() + 30
    while second <= end.timestamp():
        yield second
        second += step


def offset_changes(zone: str) -> list[datetime.datetime]:
    """The hours in 2026-2028 in which the zone's offset changes."""
    tz, start = zoneinfo.ZoneInfo(zone), datetime.datetime(2026, 1, 1, tzinfo=UTC)
    hours = (start + datetime.timedelta(hours=h) for h in range(3 * 365 * 24))
    return [m for m in hours if m.astimezone(tz).utcoffset() != (m + datetime.timedelta(hours=1)).astimezone(tz).utcoffset()]


@pytest.mark.parametrize("zone", ZONES)
def test_the_wall_clock_is_the_zones_minute_by_minute_across_each_change(prometheus, zone):
    """The mask's clock (time() plus the offset steps) reads what zoneinfo's wall clock reads: each
    minute three hours either side of every change of offset in 2026-2028, every hour of a week in
    each season, and random instants in the mask's years; and nothing before those years."""
    tz, clock = zoneinfo.ZoneInfo(zone), wall_clock(zone)
    spans = [(m - datetime.timedelta(hours=3), m + datetime.timedelta(hours=4), 60) for m in offset_changes(zone)]
    spans += [(monday, monday + datetime.timedelta(days=7), 3600) for monday in (
        datetime.datetime(2026, 1, 5, tzinfo=UTC), datetime.datetime(2026, 7, 6, tzinfo=UTC), datetime.datetime(2039, 12, 26, tzinfo=UTC))]
    wrong = []
    for start, end, step in spans:
        values = query_range(prometheus, clock, start, end, step)
        for second in steps(start, end, step):
            instant = datetime.datetime.fromtimestamp(second, UTC)
            want = None if instant.year >= 2040 else (instant.astimezone(tz).replace(tzinfo=None) - datetime.datetime(1970, 1, 1)).total_seconds()
            if values.get(second) != want:
                wrong.append(f"{instant.isoformat()}: clock {values.get(second)}, expected {want}")
    generator = random.Random(zone)
    for second in [generator.randrange(1735689600, 2208988800) for _ in range(30)] + [0, 1735689599]:
        instant = datetime.datetime.fromtimestamp(second, UTC)
        got = [float(r["value"][1]) for r in query(prometheus, clock, second)]
        want = [] if second < 1735689600 else [(instant.astimezone(tz).replace(tzinfo=None) - datetime.datetime(1970, 1, 1)).total_seconds()]
        if got != want:
            wrong.append(f"{instant.isoformat()}: clock {got}, expected {want}")
    assert not wrong, "\n".join(wrong[:20])
    assert zone == "UTC" or len(offset_changes(zone)) in (0, 6)  # Kolkata none; the others twice a year


def test_the_mask_is_on_exactly_in_the_windows_of_the_wall_clock_and_their_tails(prometheus):
    """With the wall clock given (time() itself standing for it), the mask is on exactly in the
    windows and their 5-minute tails: minute by minute an hour either side of every edge, each
    quarter hour of a whole week, and through each one-off window's night."""
    expr = in_maintenance(maintenance("UTC"), "vector(time())")
    epoch = datetime.datetime(1970, 1, 1)
    edges = []
    for monday in (datetime.datetime(2027, 1, 4), datetime.datetime(2027, 6, 28)):
        for day in range(8):
            for at in ("23:00", "01:30", "01:35"):
                edges.append(datetime.datetime.combine((monday + datetime.timedelta(days=day)).date(), datetime.time.fromisoformat(at)))
    for date, start, end in DATED:
        for at in (start, end):
            edges.append(datetime.datetime.combine(datetime.date.fromisoformat(date), datetime.time.fromisoformat(at)))
            edges.append(edges[-1] + datetime.timedelta(days=1))
    spans = [(edge - datetime.timedelta(hours=1), edge + datetime.timedelta(hours=1), 60) for edge in edges]
    spans.append((datetime.datetime(2027, 1, 4), datetime.datetime(2027, 1, 11), 900))
    wrong, on = [], 0
    for start, end, step in spans:
        start, end = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
        masked = query_range(prometheus, expr, start, end, step)
        for second in steps(start, end, step):
            local = epoch + datetime.timedelta(seconds=second)
            want = on_the_wall_clock(local)
            on += want
            if (second in masked) != want:
                wrong.append(f"{local:%a %Y-%m-%d %H:%M:%S}: mask {second in masked}, expected {want}")
    assert not wrong, "\n".join(wrong[:20])
    assert on > 500


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_one_off_windows_on_the_nights_clocks_change_mask_what_the_wall_clock_shows(prometheus, zone):
    """The whole mask, clock included, minute by minute through each one-off window's night: on the
    night a change skips the window's times nothing is masked of them; on the night it repeats them,
    both passes are masked (as Alertmanager mutes them)."""
    expr = in_maintenance(maintenance(zone), f"(\n{wall_clock(zone)}\n)")
    tz, wrong, on = zoneinfo.ZoneInfo(zone), [], 0
    changes = {m.date() for m in offset_changes(zone)}
    for date, start, _ in DATED:
        if datetime.date.fromisoformat(date) not in changes:
            continue  # the zone's own nights only (the wall-clock test covers the rest)
        begins = datetime.datetime.combine(datetime.date.fromisoformat(date), datetime.time.fromisoformat(start), tz).astimezone(UTC)
        span = (begins - datetime.timedelta(minutes=30), begins + datetime.timedelta(hours=2, minutes=30))
        masked = query_range(prometheus, expr, *span)
        for second in steps(*span):
            instant = datetime.datetime.fromtimestamp(second, UTC)
            want = expected(zone, instant)
            on += want
            if (second in masked) != want:
                wrong.append(f"{instant.isoformat()} ({instant.astimezone(tz):%a %H:%M:%S %Z}): mask {second in masked}, expected {want}")
    assert not wrong, "\n".join(wrong[:20])
    assert on > 60


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


def test_a_window_over_the_whole_week_is_refused(tmp_path):
    folder = tmp_path / "ledger"
    folder.mkdir()
    text = SERVICE.format(name="ledger", start="00:00", end="24:00")
    (folder / "service.yaml").write_text(text)
    result = run_opgen("sync", ".", cwd=folder)
    assert result.returncode == 2, result.stderr
    assert ("service.yaml:13:20: maintenance: excluded, but the weekly windows of spec.maintenance cover the whole week"
            in result.stderr)
    assert not (folder / "ops").exists()


def test_a_vanished_sli_after_a_long_window_still_pages_and_openslo_says_what_is_left_out(tmp_path):
    """SLONoData's vanished cause looks back a day past the longest pause (the daily 23:00-01:30
    window and its tail: 2h35m, so 27h), so a service that does not come back from a long window
    has vanished, not yet to come; the counted SLO keeps a day. OpenSLO marks the excluded SLO."""
    folder = tmp_path / "ledger"
    folder.mkdir()
    (folder / "service.yaml").write_text(SERVICE.format(name="ledger", start="23:00", end="01:30"))
    assert run_opgen("sync", ".", cwd=folder).returncode == 0
    rules = [r for g in YAML(typ="safe").load((folder / "ops/prometheus/ledger.rules.yml").read_text())["groups"]
             for r in g["rules"]]
    vanished = {r["labels"]["slo"]: r["expr"] for r in rules
                if r.get("alert") == "SLONoData" and r["labels"].get("cause") == "sli-metrics-vanished"}
    assert "[27h]" in vanished["masked"] and "[1d]" in vanished["counted"]
    documents = list(YAML(typ="safe").load_all((folder / "ops/slo/ledger.openslo.yaml").read_text()))
    slos = {d["metadata"]["name"]: d for d in documents if d["kind"] == "SLO"}
    masked = next(d for name, d in slos.items() if name.endswith("masked"))
    counted = next(d for name, d in slos.items() if name.endswith("counted"))
    assert masked["metadata"]["annotations"] == {"opgen.dev/maintenance": "excluded"}
    assert "left out of the SLI" in masked["spec"]["description"]
    assert "annotations" not in counted["metadata"]


JOURNEY = """apiVersion: opgen/v1
kind: Journey
metadata:
  name: settle
  team: payments
spec:
  objective: 98
  window: 30d
  steps:
    - {service: ledger, slo: counted}
    - {service: ledger, slo: masked}
"""


def test_a_journey_step_that_leaves_maintenance_out_is_warned_about_at_its_line(tmp_path):
    root = tmp_path / "fleet"
    (root / "ledger").mkdir(parents=True)
    (root / "ledger" / "service.yaml").write_text(SERVICE.format(name="ledger", start="23:00", end="01:30"))
    (root / "settle.opgen.yaml").write_text(JOURNEY)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "planned maintenance out of its SLI" in line]
    assert warned == [f"settle.opgen.yaml:11:7: warning: step ledger/masked leaves ledger's planned maintenance out of its "
                      f"SLI (maintenance: excluded), so the journey counts those minutes as good in its budget and its 5m "
                      f"window (its 30m to 6h windows still see them), though users cannot finish the journey then; keep "
                      f"the step's default (maintenance: counts) for an SLO a journey reads"], result.stderr


def test_a_changed_time_zone_database_is_a_change_sync_check_sees(tmp_path):
    """The mask holds the zone's offsets, so the database zoneinfo reads is an input: here a folder
    without a version file (PYTHONTZPATH) whose Europe/Berlin starts to read as Moscow's rules."""
    system = Path("/usr/share/zoneinfo")
    if not (system / "Europe" / "Moscow").is_file():
        pytest.skip("no system time zone database to copy (Debian: tzdata)")
    database = tmp_path / "zoneinfo"
    (database / "Europe").mkdir(parents=True)
    shutil.copy(system / "Europe" / "Berlin", database / "Europe" / "Berlin")
    shutil.copy(system / "UTC", database / "UTC")
    folder = tmp_path / "ledger"
    folder.mkdir()
    (folder / "service.yaml").write_text(SERVICE.format(name="ledger", start="23:00", end="01:30").replace(
        "Australia/Sydney", "Europe/Berlin"))
    env = {**os.environ, "PYTHONTZPATH": str(database)}
    assert run_opgen("sync", ".", cwd=folder, env=env).returncode == 0
    assert run_opgen("sync", "--check", ".", cwd=folder, env=env).returncode == 0
    shutil.copy(system / "Europe" / "Moscow", database / "Europe" / "Berlin")
    checked = run_opgen("sync", "--check", ".", cwd=folder, env=env)
    assert checked.returncode == 1 and "ops/prometheus/ledger.rules.yml" in checked.stdout + checked.stderr


SHOP_CHECKOUT = """  slos:
    - name: availability
      objective: 99.9
      description: Requests succeed (no 5xx).
      maintenance: excluded
      sli: {kind: availability}
    - name: latency
      objective: 99
      description: Requests are answered within 500 ms.
      sli: {kind: latency, threshold: 500ms}
  maintenance:
    time_zone: Europe/Berlin
    weekly:
      - {days: [tuesday], start: "02:00", end: "04:00"}
"""


def test_on_the_shop_fleet_checkout_leaves_its_window_out_of_availability_and_the_journey_is_told(tmp_path):
    """The shop fleet, checkout's availability SLO excluding its Tuesday window: its 5m recordings
    pause in it, latency's do not, its generated tests pass, and the checkout journey, which reads
    checkout/availability, is warned at that step's line."""
    root = tmp_path / "shop"
    shutil.copytree(Path(__file__).parent / "fleets" / "shop", root)
    descriptor = root / "checkout" / "service.yaml"
    descriptor.write_text(descriptor.read_text() + SHOP_CHECKOUT)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    prometheus = root / "checkout" / "ops" / "prometheus"
    groups = {g["name"]: g["rules"] for g in YAML(typ="safe").load((prometheus / "checkout.rules.yml").read_text())["groups"]}
    five = {r["labels"]["slo"]: r["expr"] for name, rules in groups.items() for r in rules
            if r.get("record") == "slo:sli_requests:rate5m"}
    assert 'unless on()\nslo:maintenance:active{service="checkout",slo="availability"}' in five["availability"]
    assert "maintenance" not in five["latency"]
    tested = subprocess.run([real_tool("promtool", "prometheus"), "test", "rules", "checkout.rules.test.yml"], cwd=prometheus,
                            capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert ("journeys/checkout.opgen.yaml:15:7: warning: step checkout/availability leaves checkout's planned maintenance "
            "out of its SLI") in result.stderr
