"""Planned maintenance (`spec.maintenance`): Alertmanager time intervals that mute a service's own
pages and tickets during its windows, never its dependents'. tests/fleets/shop with windows added,
checked by amtool and on a live Alertmanager (Debian's prometheus-alertmanager, on loopback): an
alert posted inside a window is muted, outside it is not."""

from __future__ import annotations

import datetime
import re
import shutil
import time
import zoneinfo
from pathlib import Path

import pytest

from conftest import run_opgen
from test_alertmanager import (
    ALERTMANAGER_SETTLE_SECONDS, FLEETS, ROUTES, Webhooks, alertmanager, alertmanager_binary, config_for_the_test,  # noqa: F401
    route_test, routes, rule_labels, wait_until, with_oncall,
)

ZONE = "Asia/Kolkata"  # +05:30, no daylight saving: a window in it is not a window in UTC

MAINTENANCE = """  maintenance:
    time_zone: Europe/Berlin
    weekly:
      - {days: [tuesday, sunday], start: "23:00", end: "01:30"}
    dates:
      - {date: 2026-12-24, start: "22:00", end: "02:00"}
      - {date: "2026-12-31"}
"""


def add(root: Path, service: str, text: str) -> None:
    path = root / service / "service.yaml"
    path.write_text(path.read_text() + text)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("maintenance") / "shop"
    shutil.copytree(FLEETS / "shop", root)
    with_oncall(root)
    add(root, "checkout", MAINTENANCE)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def test_windows_become_one_time_interval_per_service_split_at_midnight(shop, amtool):
    config = routes(shop)
    assert config["time_intervals"] == [{"name": "checkout-maintenance", "time_intervals": [
        {"weekdays": ["tuesday", "sunday"], "times": [{"start_time": "23:00", "end_time": "24:00"}], "location": "Europe/Berlin"},
        {"weekdays": ["wednesday", "monday"], "times": [{"start_time": "00:00", "end_time": "01:30"}], "location": "Europe/Berlin"},
        {"days_of_month": ["24"], "months": ["december"], "years": ["2026"],
         "times": [{"start_time": "22:00", "end_time": "24:00"}], "location": "Europe/Berlin"},
        {"days_of_month": ["25"], "months": ["december"], "years": ["2026"],
         "times": [{"start_time": "00:00", "end_time": "02:00"}], "location": "Europe/Berlin"},
        {"days_of_month": ["31"], "months": ["december"], "years": ["2026"],
         "times": [{"start_time": "00:00", "end_time": "24:00"}], "location": "Europe/Berlin"},
    ]}]
    done = __import__("subprocess").run([amtool, "check-config", str(shop / ROUTES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_only_the_routes_of_the_service_are_muted(shop, amtool):
    def muted_routes(route, found):
        if "mute_time_intervals" in route:
            found.append(route)
        for child in route.get("routes", []):
            muted_routes(child, found)
        return found

    config = routes(shop)
    team = next(r for r in config["route"]["routes"] if r["matchers"] == ['team="payments"'])
    service_route = team["routes"][0]
    assert service_route["matchers"] == ['service="checkout"']
    muted = muted_routes(config["route"], [])
    assert muted and all(r["mute_time_intervals"] == ["checkout-maintenance"] for r in muted)
    assert muted == muted_routes(service_route, [])  # nothing outside checkout's route
    assert [r for r in team["routes"][1:] if "mute_time_intervals" in r] == []
    # muting changes no receiver: checkout's pages and tickets go where payments' do
    for severity in ("page", "ticket"):
        assert route_test(amtool, shop / ROUTES, "team=payments", f"severity={severity}", "service=checkout") == \
            route_test(amtool, shop / ROUTES, "team=payments", f"severity={severity}", "service=payments")


def test_the_runbook_says_when_the_windows_are(shop):
    text = (shop / "checkout/ops/runbooks/checkout/README.md").read_text()
    assert ("- Planned maintenance (Europe/Berlin): every Tuesday, Sunday 23:00–01:30 (ends the next day); "
            "on 2026-12-24 22:00–02:00 (ends the next day); on 2026-12-31 all day. Alertmanager mutes `checkout`'s own "
            "pages and tickets then (time interval `checkout-maintenance`)") in text
    assert "Planned maintenance" not in (shop / "payments/ops/runbooks/payments/README.md").read_text()


def test_without_maintenance_there_are_no_time_intervals(tmp_path):
    root = tmp_path / "shop"
    shutil.copytree(FLEETS / "shop", root)
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    assert "time_intervals" not in routes(root) and "mute_time_intervals" not in (root / ROUTES).read_text()


@pytest.mark.parametrize("window, message", [
    ('{days: [tuesday], start: "25:00", end: "02:00"}', "weekly[0].start '25:00' is not a time of day"),
    ('{days: [someday], start: "01:00", end: "02:00"}', "weekly[0].days[0]"),
    ('{days: [], start: "01:00", end: "02:00"}', "days lists no day of the week"),
    ('{days: [monday], start: "02:00", end: "02:00"}', "the window starts and ends at 02:00: it lasts no time"),
    ('{days: [monday], start: "24:00", end: "02:00"}', "a window cannot start at 24:00"),
])
def test_a_bad_weekly_window_is_an_error_at_its_line(tmp_path, window, message):
    root = tmp_path / "fleet"
    shutil.copytree(FLEETS / "shop" / "catalog", root / "catalog")
    add(root, "catalog", f"  maintenance:\n    weekly:\n      - {window}\n")
    result = run_opgen("validate", ".", cwd=root)
    assert result.returncode == 2
    assert re.search(r"catalog/service.yaml:1[0-9]:\d+: .*" + re.escape(message), result.stderr), result.stderr


@pytest.mark.parametrize("text, message", [
    ('    time_zone: Mars/Olympus\n    dates: [{date: "2026-01-01"}]\n', "time_zone 'Mars/Olympus' is not an IANA time zone"),
    ('    dates: [{date: "2026-13-01"}]\n', "dates[0].date '2026-13-01' is not a date"),
])
def test_a_bad_zone_or_date_is_an_error(tmp_path, text, message):
    root = tmp_path / "fleet"
    shutil.copytree(FLEETS / "shop" / "catalog", root / "catalog")
    add(root, "catalog", "  maintenance:\n" + text)
    result = run_opgen("validate", ".", cwd=root)
    assert result.returncode == 2 and message in result.stderr, result.stderr


# --- live: a real Alertmanager -----------------------------------------------------------------------


def window_around(moment: datetime.datetime, minutes: int) -> str:
    """A weekly window of every day from `minutes` before `moment` to `minutes` after, in ZONE."""
    local = moment.astimezone(zoneinfo.ZoneInfo(ZONE))
    start, end = local - datetime.timedelta(minutes=minutes), local + datetime.timedelta(minutes=minutes)
    days = "[monday, tuesday, wednesday, thursday, friday, saturday, sunday]"
    return (f"  maintenance:\n    time_zone: {ZONE}\n    weekly:\n"
            f'      - {{days: {days}, start: "{start:%H:%M}", end: "{end:%H:%M}"}}\n')


def test_live_an_alert_inside_its_window_is_muted_and_outside_it_is_not(alertmanager_binary, tmp_path):
    """checkout is in maintenance now (a window around now, in a zone other than UTC); cart's window
    is twelve hours away. checkout's page is muted; payments' (same team, same receiver), web-frontend's
    (it depends on checkout) and cart's (outside its window) reach their receivers."""
    root = tmp_path / "shop"
    shutil.copytree(FLEETS / "shop", root)
    with_oncall(root)
    now = datetime.datetime.now(datetime.timezone.utc)
    add(root, "checkout", window_around(now, 30))
    add(root, "cart", window_around(now + datetime.timedelta(hours=12), 30))
    assert run_opgen("sync", ".", cwd=root).returncode == 0
    alerts = {name: rule_labels(root, name, "AvailabilityBudgetBurn", severity="page")
              for name in ("checkout", "payments", "web-frontend", "cart")}
    webhooks = Webhooks()
    try:
        with alertmanager(alertmanager_binary, config_for_the_test(routes(root), webhooks), tmp_path) as am:
            am.post(list(alerts.values()))
            notified = lambda: {body["commonLabels"]["service"] for _, body in webhooks.notifications()}  # noqa: E731
            wait_until(lambda: notified() >= {"payments", "web-frontend", "cart"}, "three notifications", ALERTMANAGER_SETTLE_SECONDS)
            time.sleep(3)  # three of the test's group waits: checkout's would have come with the others
            assert notified() == {"payments", "web-frontend", "cart"}, webhooks.notifications()
            receivers = {body["commonLabels"]["service"]: receiver for receiver, body in webhooks.notifications()}
            assert receivers["payments"] == "payments-pager"
            assert {a["labels"]["service"] for a in am.alerts()} == set(alerts)  # muted, not dropped: still active
    finally:
        webhooks.stop()
