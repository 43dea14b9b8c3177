"""Ten days of a shop's, a cart's and a cron job's series with known incidents, for the live commands' tests.

Samples are one a minute at whole minutes from START; counters start at 0 there, so Prometheus'
increase() over a range that ends on a sample is exactly the sum of the increments after the
range's first sample (no extrapolation: the field notes). Every expected figure the tests use is
computed here from the increments, with arithmetic of its own, never with opgen's code.

The story (minute m is the sample at START + m minutes; its increment is what happened in the
minute before it):
- shop answers 600 requests a minute. One in four minutes, one of them times out (no status,
  error.type=TimeoutError, slower than 1 s). 600 a minute of the rest answer in these buckets:
  20 in (0.1, 0.25], 7 in (0.25, 0.5], 1 in (0.5, 1], the rest within 0.1 s; 503s are fast.
- incident B, day 8 06:00-08:00: 30 a minute fail with 503 (5 %); charges fail 10 %.
- incident C, day 9 14:00-15:00: 180 a minute answer in (0.5, 1] s instead of within 0.1 s.
- charges: 100 a minute, none failing outside incident B.
- nightly runs at every full hour and completes 5 minutes later; the runs of day 6 at 03:00
  and 04:00 fail (their completion time moves on, the last success stays at 02:05).
- the last two hours also have client calls (orders-db, payments, and fraud-check, which the
  descriptor does not declare) and the platform's container and autoscaler series.
- cart exists for the last two days only (a short history promtool can replay): 300 requests a
  minute; incident D1, day 8 09:00-09:20, every request fails; D2, day 9 02:00-02:10, half of
  them; day 9 06:00-06:10 its target is down (up 0); day 9 10:00-10:30 its request series has
  no samples while the target is up. It calls stock 100 times a minute; a fifth of the calls fail
  during D1 and on day 9 04:00-04:30.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

START = int(datetime(2025, 6, 20, tzinfo=timezone.utc).timestamp())
DAYS = 10
MINUTES = DAYS * 1440  # the last sample is minute MINUTES, at END
END = START + MINUTES * 60
POD = "shop-7d9f8b6c5d-x2x4z"
LES = ("0.1", "0.25", "0.5", "1", "+Inf")


def minute(day: int, hour: int, minute_of_hour: int = 0) -> int:
    return day * 1440 + hour * 60 + minute_of_hour


def time_of(m: int) -> int:
    return START + m * 60


INCIDENT_B = range(minute(8, 6) + 1, minute(8, 8) + 1)  # the increments of the minutes 06:00-08:00
INCIDENT_C = range(minute(9, 14) + 1, minute(9, 15) + 1)
RECENT = range(MINUTES - 120, MINUTES + 1)  # client calls and platform series: the last two hours
CART_DAYS = 2
CART = range(MINUTES - CART_DAYS * 1440, MINUTES + 1)
OUTAGE_D1 = range(minute(8, 9) + 1, minute(8, 9, 20) + 1)
SPIKE_D2 = range(minute(9, 2) + 1, minute(9, 2, 10) + 1)
CART_DOWN = range(minute(9, 6) + 1, minute(9, 6, 10) + 1)
CART_SILENT = range(minute(9, 10) + 1, minute(9, 10, 30) + 1)
STOCK_FAILING = range(minute(9, 4) + 1, minute(9, 4, 30) + 1)
FAILED_RUNS = (minute(6, 3), minute(6, 4))  # nightly runs that fail
RUN_MINUTES = 5
ON_TIME_THRESHOLD = 2 * 3600


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(labels.items())


SHOP = {"job": "shop", "instance": "shop-1:9464"}
REQUEST = {**SHOP, "http_request_method": "GET", "http_route": "/checkout"}
OK = _labels(**REQUEST, http_response_status_code="200")
FAILED = _labels(**REQUEST, http_response_status_code="503", error_type="503")
TIMED_OUT = _labels(**REQUEST, error_type="TimeoutError")


class History:
    """Series by (name, labels): one value per minute, None where the series has no sample."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, tuple], list[float | None]] = {}
        self.increments: dict[tuple[str, tuple], list[float]] = {}

    def counter(self, name: str, labels: tuple, per_minute, minutes=range(MINUTES + 1)) -> None:
        """A counter at 0 on its first minute, growing by per_minute(m) in each later one."""
        values: list[float | None] = [None] * (MINUTES + 1)
        increments = [0.0] * (MINUTES + 1)
        total = 0.0
        for m in minutes:
            if m != minutes[0]:
                increments[m] = per_minute(m)
                total += increments[m]
            values[m] = total
        self.series[(name, labels)] = values
        self.increments[(name, labels)] = increments

    def without(self, name: str, labels: tuple, minutes: range) -> None:
        """No samples of the series in `minutes` (its counter carries on after them)."""
        for m in minutes:
            self.series[(name, labels)][m] = None

    def gauge(self, name: str, labels: tuple, value, minutes=range(MINUTES + 1)) -> None:
        values: list[float | None] = [None] * (MINUTES + 1)
        for m in minutes:
            values[m] = value(m)
        self.series[(name, labels)] = values

    def openmetrics_by_day(self, folder: Path) -> list[Path]:
        """One OpenMetrics file per day (promtool reads its whole input once per 2h block it writes,
        so one big file costs days x blocks)."""
        files = []
        for day in range(DAYS + 1):
            first, last = day * 1440, min((day + 1) * 1440 - 1, MINUTES)
            lines = []
            for (name, labels), values in self.series.items():
                text = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"
                lines += [f"{text} {_number(values[m])} {time_of(m)}" for m in range(first, last + 1) if values[m] is not None]
            path = folder / f"day-{day:02d}.om"
            path.write_text("\n".join(lines) + "\n# EOF\n")
            files.append(path)
        return files


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def failed_per_minute(m: int) -> int:
    return 30 if m in INCIDENT_B else 0


def timed_out_per_minute(m: int) -> int:
    return 1 if m % 4 == 0 else 0


def slow_per_minute(m: int) -> int:
    """Answers in (0.5, 1] s."""
    return 180 if m in INCIDENT_C else 1


def ok_per_minute(m: int) -> int:
    return 600 - failed_per_minute(m) - timed_out_per_minute(m)


def ok_within(le: str, m: int) -> int:
    """Successful answers within `le` seconds in minute m (cumulative, as buckets are)."""
    ok, slow = ok_per_minute(m), slow_per_minute(m)
    within = {"0.1": ok - 20 - 7 - slow, "0.25": ok - 7 - slow, "0.5": ok - slow, "1": ok, "+Inf": ok}
    return within[le]


def cart_failed_per_minute(m: int) -> int:
    return 300 if m in OUTAGE_D1 else 150 if m in SPIKE_D2 else 0


def last_success(m: int) -> int:
    """nightly's last success time at minute m: the latest run that completed and did not fail."""
    completion = last_completion(m)
    run = completion - RUN_MINUTES * 60
    while (run - START) // 60 in FAILED_RUNS:
        run -= 3600
    return run + RUN_MINUTES * 60


def last_completion(m: int) -> int:
    """Runs start at full hours and complete 5 minutes later; the run of the hour before START completed too."""
    t = time_of(m)
    return (t - RUN_MINUTES * 60) // 3600 * 3600 + RUN_MINUTES * 60


def build() -> History:
    h = History()
    h.counter("http_server_request_duration_seconds_count", OK, ok_per_minute)
    h.counter("http_server_request_duration_seconds_count", FAILED, failed_per_minute)
    h.counter("http_server_request_duration_seconds_count", TIMED_OUT, timed_out_per_minute)
    for le in LES:
        h.counter("http_server_request_duration_seconds_bucket", OK + (("le", le),), lambda m, le=le: ok_within(le, m))
        h.counter("http_server_request_duration_seconds_bucket", FAILED + (("le", le),), failed_per_minute)
        h.counter("http_server_request_duration_seconds_bucket", TIMED_OUT + (("le", le),),
                  timed_out_per_minute if le == "+Inf" else (lambda m: 0))
    h.gauge("up", _labels(**SHOP), lambda m: 1)
    h.counter("shop_charges_total", _labels(job="shop"), lambda m: 100)
    h.counter("shop_charge_failures_total", _labels(job="shop"), lambda m: 10 if m in INCIDENT_B else 0)
    nightly = _labels(job="nightly", instance="pushgateway:9091")
    h.gauge("cronjob_last_success_timestamp_seconds", nightly, last_success)
    h.gauge("cronjob_last_completion_timestamp_seconds", nightly, last_completion)
    cart = {"job": "cart", "instance": "cart-1:9464", "http_request_method": "POST", "http_route": "/cart"}
    for status, per_minute in (("200", lambda m: 300 - cart_failed_per_minute(m)), ("503", cart_failed_per_minute)):
        labels = _labels(**cart, http_response_status_code=status)
        h.counter("http_server_request_duration_seconds_count", labels, per_minute, CART)
        h.without("http_server_request_duration_seconds_count", labels, CART_SILENT)
    h.gauge("up", _labels(job="cart", instance="cart-1:9464"), lambda m: 0 if m in CART_DOWN else 1, CART)
    stock = {"job": "cart", "instance": "cart-1:9464", "peer_service": "stock", "http_request_method": "GET"}
    stock_failed = lambda m: 20 if m in OUTAGE_D1 or m in STOCK_FAILING else 0  # noqa: E731
    h.counter("http_client_request_duration_seconds_count", _labels(**stock, http_response_status_code="200"),
              lambda m: 100 - stock_failed(m), CART)
    h.counter("http_client_request_duration_seconds_count", _labels(**stock, http_response_status_code="503", error_type="503"),
              stock_failed, CART)
    # The last two hours: client calls and the platform.
    calls = (("orders-db", _labels(job="shop", instance="shop-1:9464", peer_service="orders-db", db_system_name="postgresql"),
              "db_client_operation_duration_seconds_count", 300),
             ("payments", _labels(job="shop", instance="shop-1:9464", peer_service="payments", http_request_method="POST",
                                  http_response_status_code="200"), "http_client_request_duration_seconds_count", 100),
             ("fraud-check", _labels(job="shop", instance="shop-1:9464", peer_service="fraud-check", http_request_method="POST",
                                     http_response_status_code="200"), "http_client_request_duration_seconds_count", 50))
    for _, labels, name, per_minute in calls:
        h.counter(name, labels, lambda m, n=per_minute: n, RECENT)
    container = _labels(namespace="shop", pod=POD, container="app")
    h.counter("container_cpu_usage_seconds_total", container, lambda m: 30, RECENT)
    h.gauge("container_memory_working_set_bytes", container, lambda m: 4e8, RECENT)
    h.gauge("kube_pod_container_resource_limits", container + (("resource", "cpu"),), lambda m: 1, RECENT)
    h.gauge("kube_pod_container_resource_limits", container + (("resource", "memory"),), lambda m: 1e9, RECENT)
    hpa = _labels(namespace="shop", horizontalpodautoscaler="shop")
    for name, value in (("current_replicas", 3), ("spec_max_replicas", 10), ("spec_min_replicas", 3)):
        metric = "kube_horizontalpodautoscaler_" + (name if name.startswith("spec") else "status_" + name)
        h.gauge(metric, hpa, lambda m, v=value: v, RECENT)
    return h


def backfill(promtool: str, history: History, scratch: Path, data_dir: Path) -> None:
    """TSDB blocks of `history` in data_dir, two promtool processes at a time."""
    scratch.mkdir(parents=True, exist_ok=True)
    files = history.openmetrics_by_day(scratch)

    def one(path: Path) -> None:
        subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(path), str(data_dir)],
                       check=True, capture_output=True, timeout=300)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, files))


# --- expected figures, from the increments -----------------------------------------------------------


def in_window(at: int, seconds: int) -> range:
    """The minutes whose increments fall in (at - seconds, at]: samples after the range's first."""
    first = max(1, (at - seconds - START) // 60 + 1)
    return range(first, (at - START) // 60 + 1)


def request_counts(at: int, seconds: int) -> tuple[float, float, float]:
    """(bad, total, slow-or-failed) requests of shop in (at - seconds, at]."""
    minutes = in_window(at, seconds)
    failed = sum(failed_per_minute(m) + timed_out_per_minute(m) for m in minutes)
    total = 600 * len(minutes)
    not_fast = sum(600 - ok_within("0.5", m) - failed_per_minute(m) for m in minutes)  # timeouts and slow answers
    return failed, total, not_fast


def charge_counts(at: int, seconds: int) -> tuple[float, float]:
    minutes = in_window(at, seconds)
    return sum(10 for m in minutes if m in INCIDENT_B), 100 * len(minutes)


def nightly_minutes(at: int, seconds: int, on_time: bool) -> tuple[int, int]:
    """(bad minutes, minutes with data) at whole minutes in (at - seconds, at]."""
    bad = total = 0
    for m in range(max(0, (at - seconds - START) // 60 + 1), (at - START) // 60 + 1):  # gauges: minute 0 counts
        total += 1
        if on_time:
            bad += time_of(m) - last_success(m) > ON_TIME_THRESHOLD
        else:
            bad += last_completion(m) > last_success(m)
    return bad, total


def promtool_values(values: list[float | None], first: int = 0) -> str:
    """A series in promtool's expanding notation from minute `first`: runs of equal steps as a+bxn, _ where absent."""
    parts, m = [], first
    while m <= MINUTES:
        if values[m] is None:
            parts.append("_")
            m += 1
            continue
        step = values[m + 1] - values[m] if m < MINUTES and values[m + 1] is not None else 0
        run = m
        while run + 1 <= MINUTES and values[run + 1] is not None and values[run + 1] - values[run] == step:
            run += 1
        parts.append(f"{_number(values[m])}{'+' if step >= 0 else '-'}{_number(abs(step))}x{run - m}")
        m = run + 1
    return " ".join(parts)
