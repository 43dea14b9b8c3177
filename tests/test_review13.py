"""Review of issue 13 (alerts an on-call engineer can trust): hold-out cases the merged work gets
wrong. Each is a descriptor of its own, series fed to promtool, and what ALERTS (or validate)
must say."""

from __future__ import annotations

from test_alert_semantics import HTTP, assert_passes, firing, kit, scenario

from conftest import run_opgen

PAGES = 'count(ALERTS{{service="{service}",severity="page",alertstate="firing"}})'


def no_page(service: str, eval_time: str) -> str:
    """A promql_expr_test item: no page of `service` fires at `eval_time`."""
    return f"  - expr: '{PAGES.format(service=service)}'\n    eval_time: {eval_time}\n    exp_samples: []\n"


# --- 4. SLONoData pages only when series that existed vanished ---------------------------------

FRESH = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: fresh, team: core, tier: 2}
spec:
  interfaces: [{kind: http, port: 8080}]
  slos: [{name: availability, objective: 99.9, sli: {kind: availability}}]
"""


def test_a_service_not_yet_deployed_pages_nobody(tmp_path, promtool):
    """The rules are loaded before the first deploy: no `up` series has ever existed. Nothing
    vanished, nobody's request fails: a ticket or nothing, never a page (today: targets-down
    pages 5 minutes after the rules load)."""
    rules = kit(tmp_path, FRESH)
    assert_passes(promtool, rules, scenario("fresh.rules.yml", [
        ('up{job="another-service",instance="a"}', "1x60"),
    ], no_page("fresh", "30m"), up=False))


RARE = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: rare, team: core, tier: 2}
spec:
  interfaces: [{kind: http, port: 8080}]
  traffic: {baseline_rps: 0.001}
  slos: [{name: availability, objective: 99.9, sli: {kind: availability}}]
"""


def test_an_idle_service_restarted_with_no_request_since_pages_nobody(tmp_path, promtool):
    """docs/alerts.md: "idle service restarted at night, no request since: sli-metrics-missing
    ticket". Declared traffic is one request per ~17 minutes; two arrive (5m, 20m), the pod is
    replaced at 30m and the new pod has no series until its first request. Nothing is broken,
    and 15 quiet minutes are normal at that rate. Today: sli-metrics-vanished pages at 50m."""
    rules = kit(tmp_path, RARE)
    requests = HTTP.format(job="rare", code="200").replace('http_route="/"', 'instance="a",http_route="/"')
    assert_passes(promtool, rules, scenario("rare.rules.yml", [
        ('up{job="rare",instance="a"}', "1x30"),
        ('up{job="rare",instance="b"}', "_x30 1x60"),
        (requests, "0x5 1x15 2x10"),
    ], no_page("rare", "60m") + no_page("rare", "85m"), up=False))


FUNCTION = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: fn, team: core, tier: 2}
spec:
  runtime: {platform: lambda, language: python}
  interfaces: [{kind: http}]
  slos: [{name: availability, objective: 99.9, sli: {kind: availability}}]
"""


def test_a_lambda_with_a_lull_pages_nobody(tmp_path, promtool):
    """A Lambda's metrics arrive pushed, one push per invocation: between invocations nothing
    comes, and 5 minutes after the last push its series are gone. Invoked every minute for an
    hour, then not at all (a night): nothing is broken. Today sli-metrics-vanished pages 20
    minutes into every lull of every Lambda that had traffic that day."""
    rules = kit(tmp_path, FUNCTION)
    assert_passes(promtool, rules, scenario("fn.rules.yml", [
        (HTTP.format(job="fn", code="200"), "0+10x60"),
    ], no_page("fn", "100m"), up=False))


# --- 4. cron jobs: one failed run tickets --------------------------------------------------------

NIGHTLY = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: nightly, team: finance, tier: 2}
spec:
  blueprint: cron-job
"""


def test_one_failed_nightly_run_of_the_blueprint_pages_nobody(tmp_path, promtool):
    """The cron-job blueprint as it comes (daily job, on-time threshold 26h), tier 2. Its last
    success was 24h before the run at 10m, which fails; nobody reruns it. The blueprint and
    docs/alerts.md say one failed run is fixed or rerun in working hours and two failed runs in a
    row page. But the 26h deadline passes 2h after the one failure (2h10m here): today
    OnTimeBudgetBurn pages at about 2h20m, i.e. at 04:20 for a job that failed at 02:00."""
    rules = kit(tmp_path, NIGHTLY)
    assert_passes(promtool, rules, scenario("nightly.rules.yml", [
        ('cronjob_last_completion_timestamp_seconds{job="nightly"}', "-85800x9 600x200"),
        ('cronjob_last_success_timestamp_seconds{job="nightly"}', "-85800x210"),
    ], no_page("nightly", "165m"), up=False))


# --- 3. a bucket missing on some targets -------------------------------------------------------------

ROLLING = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: roll, team: core, tier: 1}
spec:
  interfaces: [{kind: http, port: 8080}]
  slos: [{name: latency, objective: 99, sli: {kind: latency, threshold: 500ms}}]
"""
COUNT = 'http_server_request_duration_seconds_count{{job="roll",instance="{pod}",http_route="/"}}'
BUCKET = 'http_server_request_duration_seconds_bucket{{job="roll",instance="{pod}",http_route="/",le="{le}"}}'


def test_a_bucket_missing_on_some_targets_is_no_data_for_them_never_errors(tmp_path, promtool):
    """Mid-rollout, pod a runs the old build (buckets 0.25, 0.5, 1) and pod b a new one whose
    buckets lost 0.5. Every request takes 0.1 s. Issue 13: a missing `le` series shows as no data
    with its own explanation, never 100 % errors. Today every request of pod b counts as slow: a
    burn rate of 50 pages, and no threshold-bucket-missing ticket says why (absent() sees pod a's
    bucket)."""
    rules = kit(tmp_path, ROLLING)
    series = [('up{job="roll",instance="a"}', "1x60"), ('up{job="roll",instance="b"}', "1x60")]
    for pod, boundaries in (("a", ("0.25", "0.5", "1", "+Inf")), ("b", ("0.25", "1", "+Inf"))):
        series += [(COUNT.format(pod=pod), "0+600x60")] + [(BUCKET.format(pod=pod, le=le), "0+600x60") for le in boundaries]
    assert_passes(promtool, rules, scenario("roll.rules.yml", series, firing(
        "roll", "20m", 'alertname="SLONoData",cause="threshold-bucket-missing",severity="ticket",slo="latency"'), up=False))


# --- 5. budgets smaller than one scrape interval -------------------------------------------------


def test_the_tiny_budget_warning_writes_its_duration_readably(tmp_path):
    """99.9999 % over 7d is 0.6048 s of full outage; the warning wrote it as "6e+02ms"."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "service.yaml").write_text(FRESH.replace("name: fresh", "name: tiny").replace(
        "objective: 99.9,", "objective: 99.9999, window: 7d,"))
    result = run_opgen("validate", str(folder), cwd=tmp_path)
    (line,) = [x for x in result.stderr.splitlines() if "scrape interval" in x]
    assert "the error budget is 605ms of full outage" in line


# --- 2. a floor of bad events that no outage can reach ---------------------------------------------

FLOORED = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: floored, team: core, tier: 2}
spec:
  interfaces: [{kind: http, port: 8080}]
  traffic: {baseline_rps: 1}
  slos: [{name: availability, objective: 99, window: 7d, alerting: {min_bad_events: MIN}, sli: {kind: availability}}]
"""


def test_validate_warns_when_a_total_outage_cannot_reach_min_bad_events(tmp_path):
    """1 request a second: the 7d SLO's page windows are 15m and 90m, so a total outage makes at
    most 5400 bad events in either. A floor of 10000 means the SLO never pages, even with every
    request failing; a floor of 5000 is reached. Today validate says nothing (one failure costs
    0.017 % of the budget, under the 1 % warning)."""
    folder = tmp_path / "floored"
    folder.mkdir()
    (folder / "service.yaml").write_text(FLOORED.replace("MIN", "10000"))
    result = run_opgen("validate", "--strict", str(folder), cwd=tmp_path)
    assert result.returncode == 2
    (line,) = [x for x in result.stderr.splitlines() if "min_bad_events" in x]
    assert line.startswith("floored/service.yaml:7:85: error: ") and "5400" in line and "never pages" in line
    (folder / "service.yaml").write_text(FLOORED.replace("MIN", "5000"))
    result = run_opgen("validate", str(folder), cwd=tmp_path)
    assert "min_bad_events" not in result.stderr


def test_a_rollout_that_drops_the_bucket_everywhere_is_a_ticket_not_a_vanished_page(tmp_path, promtool):
    """Pod a (buckets 0.25, 0.5, 1) serves for 30 minutes, then pod b replaces it with buckets
    that lost 0.5. The SLI has no series left: one ticket saying why (threshold-bucket-missing),
    not a sli-metrics-vanished page as well."""
    rules = kit(tmp_path, ROLLING)
    series = [('up{job="roll",instance="a"}', "1x30"), ('up{job="roll",instance="b"}', "_x30 1x30")]
    for pod, values, boundaries in (("a", "0+600x30", ("0.25", "0.5", "1", "+Inf")), ("b", "_x30 0+600x30", ("0.25", "1", "+Inf"))):
        series += [(COUNT.format(pod=pod), values)] + [(BUCKET.format(pod=pod, le=le), values) for le in boundaries]
    assert_passes(promtool, rules, scenario("roll.rules.yml", series, firing(
        "roll", "58m", 'alertname="SLONoData",cause="threshold-bucket-missing",severity="ticket",slo="latency"'), up=False))
