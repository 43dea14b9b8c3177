"""Runbooks, ops/runbooks/<name>/: an overview and one page per alert of the catalog, each with the
sections an on-call engineer looks for (as real headings), links that resolve, a runbook_url in
the rules for every alert that lands on its page, a keep-region for the team's notes, and
descriptor text that can never turn into markup."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlsplit

import promql_parser
import pytest
import yaml_helpers
from markdown_it import MarkdownIt
from ruamel.yaml import YAML

from conftest import EXAMPLES, TEST_DESCRIPTORS, run_opgen, service_folder
from opgen import contract
from opgen import conventions as c
from opgen.alerts import service_alerts
from opgen.descriptor.load import load_validated
from opgen.render import RenderContext
from opgen.render import runbooks
from opgen.render.templating import md_fenced

CHECKOUT = EXAMPLES / "checkout" / "service.yaml"
DESCRIPTORS = [CHECKOUT] + sorted(TEST_DESCRIPTORS.glob("*.yaml"))
PAGE_SECTIONS = ["Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation", "Notes"]
OVERVIEW_SECTIONS = ["On call", "Links", "Alerts", "SLOs", "Dependencies", "Capacity", "Cost", "Instrumentation"]
KEEP_NOTES = "<!-- opgen:keep notes -->\n<!-- opgen:end -->\n"
MARKDOWN = MarkdownIt("commonmark").enable("table")


def descriptor_id(path: Path) -> str:
    return path.parent.name if path.name == "service.yaml" else path.stem


each_descriptor = pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=descriptor_id)


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """descriptor -> (its service, its ops/ folder), each synced once with the real CLI."""
    done = {}

    def sync(descriptor: Path):
        if descriptor not in done:
            folder = service_folder(tmp_path_factory.mktemp("runbooks"), descriptor)
            result = run_opgen("sync", ".", cwd=folder)
            assert result.returncode == 0, result.stdout + result.stderr
            done[descriptor] = (load_validated(descriptor, descriptor.name).service, folder / "ops")
        return done[descriptor]

    return sync


def runbook_dir(ops: Path, service) -> Path:
    return ops / c.runbook_overview_path(service.name).rsplit("/", 1)[0]


def alert_pages(ops: Path, service) -> dict[str, Path]:
    return {p.stem: p for p in runbook_dir(ops, service).glob("*.md") if p.name != "README.md"}


def all_pages(ops: Path, service) -> list[Path]:
    return sorted(runbook_dir(ops, service).glob("*.md"))


def tokens(path: Path):
    return MARKDOWN.parse(path.read_text())


def walk(tokens):
    """Every token, with the children of inline tokens."""
    for token in tokens:
        yield token
        yield from token.children or ()


def headings(tokens, level: str) -> list[str]:
    """The text of each heading of `level` (h1, h2, ...), as a reader sees it."""
    return [text_of(tokens[i + 1].children) for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == level]


def section(tokens, title: str) -> list:
    """The tokens under the h2 `title`, up to the next h2."""
    start = next(i for i, t in enumerate(tokens)
                 if t.type == "heading_open" and t.tag == "h2" and tokens[i + 1].content == title)
    end = next((i for i, t in enumerate(tokens[start + 1:], start + 1) if t.type == "heading_open" and t.tag == "h2"),
               len(tokens))
    return tokens[start:end]


def code_spans(tokens) -> set[str]:
    return {t.content for t in walk(tokens) if t.type == "code_inline"}


def text_of(tokens) -> str:
    return "".join(t.content for t in walk(tokens) if t.type in ("text", "code_inline"))


# --- one page per alert, with its sections ------------------------------------------------------


@each_descriptor
def test_one_page_per_catalog_alert_and_no_other(synced, descriptor):
    service, ops = synced(descriptor)
    assert set(alert_pages(ops, service)) == {a.name for a in service_alerts(service)}
    assert (runbook_dir(ops, service) / "README.md").is_file()


@each_descriptor
def test_every_alert_page_has_the_sections_as_headings(synced, descriptor):
    service, ops = synced(descriptor)
    for name, page in alert_pages(ops, service).items():
        parsed = tokens(page)
        assert headings(parsed, "h1") == [name], page
        assert headings(parsed, "h2") == PAGE_SECTIONS, page
        hrefs = {t.attrs["href"] for t in walk(parsed) if t.type == "link_open"}
        assert {"README.md", f"../../prometheus/{service.name}.rules.yml"} <= hrefs, page


@each_descriptor
def test_the_overview_has_its_sections_and_lists_every_alert_page(synced, descriptor):
    service, ops = synced(descriptor)
    parsed = tokens(runbook_dir(ops, service) / "README.md")
    assert headings(parsed, "h1") == [service.name]
    assert headings(parsed, "h2") == OVERVIEW_SECTIONS
    linked = {t.attrs["href"] for t in walk(section(parsed, "Alerts")) if t.type == "link_open"}
    assert linked == {f"{a.name}.md" for a in service_alerts(service)}


@each_descriptor
def test_runbook_urls_in_the_rules_land_on_generated_pages(synced, descriptor):
    service, ops = synced(descriptor)
    rules = yaml_helpers.load(ops / c.rules_path(service.name))
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    pages = alert_pages(ops, service)
    assert {r["alert"] for r in alerts} == set(pages), "every alert in the rules has a page, and no page lacks one"
    for rule in alerts:
        page = pages[rule["alert"]]
        assert rule["annotations"]["runbook_url"].endswith("/" + page.relative_to(ops.parent).as_posix().removeprefix("ops/"))


@each_descriptor
def test_every_relative_link_resolves(synced, descriptor):
    service, ops = synced(descriptor)
    for page in all_pages(ops, service):
        for token in walk(tokens(page)):
            if token.type != "link_open":
                continue
            href = token.attrs["href"]
            parts = urlsplit(href)
            if parts.scheme:
                assert parts.scheme == "https", (page, href)
                continue
            if not parts.path:
                continue  # an anchor on the same page
            assert (page.parent / unquote(parts.path)).resolve().is_file(), (page, href)


@each_descriptor
def test_each_alert_page_has_one_empty_keep_region_for_notes(synced, descriptor):
    service, ops = synced(descriptor)
    for page in alert_pages(ops, service).values():
        text = page.read_text()
        assert text.count("<!-- opgen:keep notes -->") == 1 and text.count("<!-- opgen:end -->") == 1, page
        assert text.endswith(KEEP_NOTES), page
        notes = section(tokens(page), "Notes")
        assert [t.content for t in notes if t.type == "html_block"] == ["<!-- opgen:keep notes -->\n", "<!-- opgen:end -->\n"]


def test_the_teams_notes_survive_a_regeneration(tmp_path):
    folder = service_folder(tmp_path, TEST_DESCRIPTORS / "http-28d.yaml")
    assert run_opgen("sync", ".", cwd=folder).returncode == 0
    page = folder / "ops" / "runbooks" / "search" / "AvailabilityBudgetBurn.md"
    notes = "- 2026-03: this was the search index rebuild; pause it with `index-ctl pause`.\n"
    page.write_text(page.read_text().replace(KEEP_NOTES, KEEP_NOTES.replace("-->\n", "-->\n" + notes, 1)))
    descriptor = folder / "service.yaml"
    descriptor.write_text(descriptor.read_text().replace("objective: 99.95", "objective: 99.9"))
    result = run_opgen("sync", ".", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    text = page.read_text()
    assert "99.9 % of requests are good" in text and notes in text
    assert run_opgen("sync", "--check", ".", cwd=folder).returncode == 0


@each_descriptor
def test_pages_start_with_the_generated_header(synced, descriptor):
    service, ops = synced(descriptor)
    for page in all_pages(ops, service):
        first = tokens(page)[0]
        assert first.type == "html_block"
        assert first.content == ("<!-- Generated by opgen from service.yaml. Do not edit by hand: "
                                 "change the descriptor and run `opgen sync`. -->\n")


# --- what the pages say -------------------------------------------------------------------------


@each_descriptor
def test_burn_pages_explain_the_window_labels_and_show_each_rule(synced, descriptor):
    service, ops = synced(descriptor)
    pages = alert_pages(ops, service)
    rules = yaml_helpers.load(ops / c.rules_path(service.name))
    for slo in service.slos:
        parsed = tokens(pages[c.alert_budget_burn(slo.name)])
        meaning = section(parsed, "Meaning")
        assert {"long_window", "short_window", "ticket"} | ({"page"} if slo.pages else set()) <= code_spans(meaning)
        rows = [t for t in meaning if t.type == "tr_open"]
        assert len(rows) == 1 + 4  # header and one per window pair
        shown = {t.content.rstrip("\n") for t in section(parsed, "Diagnosis") if t.type == "fence" and t.info == "promql"}
        for group in rules["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == c.alert_budget_burn(slo.name):
                    assert rule["expr"].rstrip("\n") in shown


def test_budget_in_minutes_of_full_outage_is_exact(synced):
    service, ops = synced(CHECKOUT)
    table = section(tokens(runbook_dir(ops, service) / "README.md"), "SLOs")
    cells = [t.children[0].content if t.children else "" for t in table if t.type == "inline"]
    assert "43.2 min" in cells  # 0.1 % of 30 days
    assert "432 min (7.2 h)" in cells  # 1 %
    service, ops = synced(TEST_DESCRIPTORS / "queue-90d.yaml")
    assert "6480 min (108 h)" in text_of(tokens(runbook_dir(ops, service) / "README.md"))  # 5 % of 90 days


def test_no_data_page_has_a_subsection_per_cause(synced):
    service, ops = synced(CHECKOUT)
    parsed = tokens(alert_pages(ops, service)[c.ALERT_NO_DATA])
    missing = [[f'cause="sli-metrics-vanished" or "sli-metrics-missing", slo="{s.name}"']
               + ([f'cause="threshold-bucket-missing", slo="{s.name}"'] if s.sli.kind == "latency" else []) for s in service.slos]
    assert headings(section(parsed, "Diagnosis"), "h3") == ['cause="targets-down"', *(h for hs in missing for h in hs)]


@pytest.mark.parametrize("alert", [c.ALERT_DEPENDENCY_ERRORS, c.ALERT_DEPENDENCY_LATENCY])
def test_dependency_pages_have_a_subsection_per_dependency(synced, alert):
    service, ops = synced(TEST_DESCRIPTORS / "ecs-all-deps.yaml")
    parsed = tokens(alert_pages(ops, service)[alert])
    titles = headings(section(parsed, "Diagnosis"), "h3")
    assert [t.split(" ")[0] for t in titles] == [d.name for d in service.dependencies]
    assert all(d.kind in t and (("critical" in t) == d.critical) for d, t in zip(service.dependencies, titles))


def test_scale_out_names_the_replica_figure(synced):
    service, ops = synced(CHECKOUT)
    traffic, target = service.traffic, service.scaling.target_cpu_utilization
    # The declared peak over what one pod serves at the target utilisation, rounded up.
    replicas = math.ceil(Fraction(traffic.peak_rps) / (Fraction(traffic.per_instance_rps) * Fraction(target, 100)))
    spec = f'"minReplicas":{replicas}'
    if replicas > service.scaling.max_replicas:  # the maximum must rise with it
        spec += f',"maxReplicas":{replicas}'
    mitigation = section(tokens(alert_pages(ops, service)["CPUNearLimit"]), "Mitigation")
    commands = "".join(t.content for t in mitigation if t.type == "fence" and t.info == "sh")
    assert f"kubectl -n shop patch hpa checkout --patch '{{\"spec\":{{{spec}}}}}'" in commands


@each_descriptor
def test_every_promql_block_parses(synced, descriptor):
    service, ops = synced(descriptor)
    for page in all_pages(ops, service):
        for fence in (t for t in tokens(page) if t.type == "fence" and t.info == "promql"):
            promql_parser.parse(fence.content)


def fences(parsed, language: str) -> str:
    return "".join(t.content for t in parsed if t.type == "fence" and t.info == language)


# --- new SLI kinds: each page says what to check and what to do for its kind ----------------------

CRON = TEST_DESCRIPTORS / "cron-report.yaml"
QUEUE = TEST_DESCRIPTORS / "queue-fresh.yaml"
GPU = TEST_DESCRIPTORS / "gpu-inference.yaml"


def test_job_success_page_finds_the_failed_run_and_reruns_it_with_care(synced):
    service, ops = synced(CRON)
    parsed = tokens(alert_pages(ops, service)["RunsSucceedBudgetBurn"])
    diagnosis, mitigation = section(parsed, "Diagnosis"), section(parsed, "Mitigation")
    commands = fences(diagnosis, "sh")
    assert "kubectl -n nightly-report get jobs --sort-by=.metadata.creationTimestamp | grep '^nightly-report-'" in commands
    assert "kubectl -n nightly-report logs job/<job> --all-containers --timestamps" in commands
    assert "cronjob_last_success_timestamp_seconds" in fences(diagnosis, "promql")
    assert "kubectl -n nightly-report create job --from=cronjob/nightly-report \"$JOB\"" in fences(mitigation, "sh")
    assert "safe" in text_of(mitigation) and "twice" in text_of(mitigation)  # idempotency, before the command
    assert "set image cronjob/nightly-report" in fences(mitigation, "sh")  # a CronJob has no rollout undo


def test_job_on_time_page_covers_suspend_missed_starts_stuck_runs_and_lost_pushes(synced):
    service, ops = synced(CRON)
    parsed = tokens(alert_pages(ops, service)["OnTimeBudgetBurn"])
    diagnosis, mitigation = section(parsed, "Diagnosis"), section(parsed, "Mitigation")
    said = text_of(diagnosis)
    for topic in ("SUSPEND", "Forbid", "startingDeadlineSeconds", "activeDeadlineSeconds", "Pushgateway",
                  "--persistence.file", "SLONoData"):
        assert topic in said, topic
    assert 'time() - max(push_time_seconds{job="nightly-report"})' in fences(diagnosis, "promql")
    commands = fences(mitigation, "sh")
    assert """kubectl -n nightly-report patch cronjob nightly-report --patch '{"spec":{"suspend":false}}'""" in commands
    assert "kubectl -n nightly-report delete job <stuck-job>" in commands
    assert "curl --data-binary @- http://<pushgateway>:9091/metrics/job/nightly-report" in commands


def test_cron_job_pages_never_offer_to_scale_and_never_mention_terraform(synced):
    service, ops = synced(CRON)
    assert not (ops / c.terraform_path(service.name)).exists()
    for page in all_pages(ops, service):
        text = page.read_text()
        for never in ("hpa", "scaledobject", "rollout undo", "deployment/", "Scale out", "terraform/", ".tf"):
            assert never not in text, (page.name, never)
    capacity = text_of(section(tokens(runbook_dir(ops, service) / "README.md"), "Capacity"))
    assert "CronJob" in capacity and "no autoscaler" in capacity


def test_no_data_page_of_a_cron_job_explains_the_first_run_and_the_pushgateway(synced):
    service, ops = synced(CRON)
    parsed = tokens(alert_pages(ops, service)[c.ALERT_NO_DATA])
    assert "first run" in text_of(section(parsed, "Meaning"))
    assert headings(section(parsed, "Diagnosis"), "h3") == [
        f'cause="sli-metrics-vanished" or "sli-metrics-missing", slo="{s.name}"' for s in service.slos]
    assert "Pushgateway" in text_of(section(parsed, "Mitigation"))


def test_freshness_page_checks_backlog_consumers_poison_messages_and_the_broker_and_scales_keda(synced):
    service, ops = synced(QUEUE)
    parsed = tokens(alert_pages(ops, service)["FreshnessBudgetBurn"])
    diagnosis, mitigation = section(parsed, "Diagnosis"), section(parsed, "Mitigation")
    queries = fences(diagnosis, "promql")
    assert 'messaging_message_age_seconds_bucket{job="image-resizer",le=~"90|90[.]0"}' in queries  # the SLI's own histogram
    assert 'sum by (error_type) (rate(messaging_process_duration_seconds_count{job="image-resizer",error_type!=""}[5m]))' in queries
    commands = fences(diagnosis, "sh")
    assert "rabbitmqctl -n <node> list_queues name messages_ready messages_unacknowledged consumers" in commands  # backlog
    assert "kubectl -n image-resizer get scaledobject image-resizer" in commands  # consumers and their autoscaler
    assert "rabbitmq-diagnostics -n <node> alarms" in commands  # the broker
    assert "poison" in text_of(diagnosis)
    fix = fences(mitigation, "sh")
    # KEDA owns the HPA: scaling out changes the ScaledObject; 400 msg/s at 17.5 per pod -> 23 pods.
    assert """kubectl -n image-resizer patch scaledobject image-resizer --type merge --patch '{"spec":{"minReplicaCount":23}}'""" in fix
    assert "patch hpa" not in fix
    assert "dead-letter-exchange" in fix


def test_gpu_overview_shows_cost_per_gpu_hour_at_the_minimum_and_maximum_against_the_budget(synced):
    service, ops = synced(GPU)
    cost = section(tokens(runbook_dir(ops, service) / "README.md"), "Cost")
    lines = [text_of(t.children) for t in cost if t.type == "inline"]
    # 0.8 USD x 1 GPU per pod; minimum 6 pods, maximum 28 pods; 730 h a month; budget 12000 USD.
    assert "GPU cost: 0.8 USD per GPU hour × 1 GPU = 0.8 USD per pod hour." in lines
    assert "At the minimum of 6 pods: 4.8 USD per hour, 3504 USD per month (730 h), 29.2 % of the monthly budget." in lines
    assert ("At the maximum of 28 pods: 22.4 USD per hour, 16352 USD per month (730 h), "
            "136.267 % of the monthly budget: over budget.") in lines
    capacity = text_of(section(tokens(runbook_dir(ops, service) / "README.md"), "Capacity"))
    assert "KEDA" in capacity and "warm spare" in capacity and "never scales on CPU" in capacity


def test_gpu_model_is_markdown_text_in_the_cost_section(tmp_path):
    text = GPU.read_text().replace("model: nvidia-l4", "model: nvidia _l4_ __x__")
    assert text != GPU.read_text()
    (tmp_path / "gpu.yaml").write_text(text)
    service = load_validated(tmp_path / "gpu.yaml", "service.yaml").service
    overview = runbooks.render(RenderContext(service, "service.yaml"))[0]
    cost = section(MARKDOWN.parse(overview.text), "Cost")
    assert not [t for t in walk(cost) if t.type in ("em_open", "strong_open")]
    assert "nvidia _l4_ __x__" in text_of(cost)


def test_keda_services_scale_out_through_the_scaled_object(synced):
    service, ops = synced(GPU)
    mitigation = section(tokens(alert_pages(ops, service)["GPUUtilizationHigh"]), "Mitigation")
    commands = fences(mitigation, "sh")
    assert "kubectl -n ml patch scaledobject ranker --type merge" in commands and "patch hpa" not in commands


def test_the_overview_says_who_to_call_and_what_breaks(synced):
    service, ops = synced(CHECKOUT)
    parsed = tokens(runbook_dir(ops, service) / "README.md")
    assert {"payments", "PABC123", "#payments-oncall"} <= code_spans(section(parsed, "On call"))
    dependencies = text_of(section(parsed, "Dependencies"))
    assert "orders-db" in dependencies and "checkout fails" in dependencies


# --- descriptor text stays text --------------------------------------------------------------------

HOSTILE = "*bold* _it_ [x](javascript:alert(1)) <script>alert(1)</script> a | b `tick` ```\n# not a heading\n\n- nor a list"
HOSTILE_AS_TEXT = "*bold* _it_ [x](javascript:alert(1)) <script>alert(1)</script> a | b `tick` ``` # not a heading - nor a list"


def hostile_descriptor(folder: Path) -> Path:
    folder.mkdir()
    quoted = HOSTILE.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    (folder / "service.yaml").write_text(f"""apiVersion: opgen/v1
kind: Service
metadata:
  name: hostile
  team: red
  description: "{quoted}"
  links: {{grafana_url: "https://grafana.example.com/a(b)[c]"}}
spec:
  interfaces: [{{kind: http}}]
  slos:
    - {{name: availability, objective: 99.9, description: "{quoted}", sli: {{kind: availability}}}}
  dependencies:
    - {{name: db, kind: postgres, critical: true}}
""")
    return folder


def test_hostile_descriptor_text_renders_as_literal_text(tmp_path):
    folder = hostile_descriptor(tmp_path / "hostile")
    result = run_opgen("sync", ".", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    pages = sorted((folder / "ops" / "runbooks" / "hostile").glob("*.md"))
    shown = 0
    for page in pages:
        parsed = tokens(page)
        everything = list(walk(parsed))
        for token in everything:
            assert token.type not in ("em_open", "strong_open", "html_inline", "image"), (page, token)
            if token.type == "html_block":
                assert token.content.startswith("<!-- ") and token.content.count("-->") == 1, (page, token.content)
            if token.type == "link_open":
                assert not token.attrs["href"].startswith("javascript"), page
        assert len(headings(parsed, "h1")) == 1, page
        for table in tables(parsed):
            assert len(set(table)) == 1, (page, table)  # every row has as many cells as the header
        texts = [t.content for t in everything if t.type == "text"]
        shown += sum(HOSTILE_AS_TEXT in t for t in texts)
    assert shown >= 3  # overview description, SLO table, SLO pages


def tables(parsed) -> list[list[int]]:
    """Cells per row of each table."""
    result, cells = [], None
    for token in parsed:
        if token.type == "table_open":
            result.append([])
        elif token.type == "tr_open":
            cells = 0
        elif token.type in ("th_open", "td_open"):
            cells += 1
        elif token.type == "tr_close":
            result[-1].append(cells)
    return result


def test_fenced_blocks_outlast_any_backticks_in_the_code():
    block = md_fenced("a\n```\nb ```` c", "promql")
    assert block.startswith("`````promql\n") and block.endswith("\n`````")
    (fence,) = [t for t in MARKDOWN.parse(block) if t.type == "fence"]
    assert fence.content == "a\n```\nb ```` c\n"


def test_the_header_comment_cannot_be_closed_by_the_descriptor_path():
    service = load_validated(CHECKOUT, "service.yaml").service
    (overview, *_) = runbooks.render(RenderContext(service, "odd-->dir/service.yaml"))
    parsed = MARKDOWN.parse(overview.text)
    assert parsed[0].type == "html_block" and parsed[1].type == "heading_open"


# --- determinism -----------------------------------------------------------------------------------


@each_descriptor
def test_same_descriptor_same_pages(descriptor):
    service = load_validated(descriptor, descriptor.name).service
    context = RenderContext(service, "service.yaml")
    assert runbooks.render(context) == runbooks.render(context)


def test_same_pages_from_separate_syncs(synced, tmp_path):
    service, ops = synced(CHECKOUT)
    folder = service_folder(tmp_path, CHECKOUT)
    assert run_opgen("sync", str(folder), cwd=tmp_path).returncode == 0
    again = folder / "ops"
    first = {p.name: p.read_bytes() for p in all_pages(ops, service)}
    assert first == {p.name: p.read_bytes() for p in all_pages(again, service)}


# --- blast radius (docs/fleet.md; whole fleets are synced in test_fleet.py) ----------------------


def blast_section(text: str) -> list:
    """The tokens of the overview's blast-radius subsection, up to the next h2."""
    parsed = MARKDOWN.parse(text)
    start = next(i for i, t in enumerate(parsed) if t.type == "inline" and t.content == "Who depends on it (blast radius)")
    end = next(i for i, t in enumerate(parsed[start:], start) if t.type == "heading_open" and t.tag == "h2")
    return parsed[start:end]


def test_a_service_rendered_alone_lists_no_dependents_and_says_how_to_get_them():
    service = load_validated(CHECKOUT, "service.yaml").service
    pages = {a.path: a.text for a in runbooks.render(RenderContext(service, "service.yaml"))}
    section_text = text_of(blast_section(pages[c.runbook_overview_path(service.name)]))
    assert "No service synced with checkout names it" in section_text
    assert "Sync the folder that holds the whole fleet" in section_text


def test_blast_radius_links_only_the_services_whose_pages_it_can_locate():
    from opgen.fleet import build_fleet

    shop = Path(__file__).parent / "fleets" / "shop"
    services = [load_validated(p, p.name).service for p in sorted(shop.glob("*/service.yaml"))]
    fleet = build_fleet(services, {"inventory": "/srv/shop/inventory/ops", "orders": "/srv/shop/orders/ops"})
    inventory = next(s for s in services if s.name == "inventory")
    pages = {a.path: a.text for a in runbooks.render(RenderContext(inventory, "service.yaml", fleet.neighbourhood("inventory")))}
    section_tokens = blast_section(pages[c.runbook_overview_path("inventory")])
    links = {t.children[i + 1].content: child.attrs["href"]
             for t in section_tokens if t.type == "inline" for i, child in enumerate(t.children) if child.type == "link_open"}
    assert links == {"orders": "../../../../orders/ops/runbooks/orders/README.md"}
    cells = {t.content for t in section_tokens if t.type == "inline"}
    assert "checkout" in cells and "admin-portal" in cells  # listed, in plain text


def scale_out_text(text: str, tmp_path: Path, page: str = "CPUNearLimit") -> tuple[str, str]:
    """The Mitigation section of `page` for a descriptor: its prose and its sh commands."""
    (tmp_path / "service.yaml").write_text(text)
    service = load_validated(tmp_path / "service.yaml", "service.yaml").service
    pages = {a.path.rsplit("/", 1)[1]: a.text for a in runbooks.render(RenderContext(service, "service.yaml"))}
    mitigation = section(MARKDOWN.parse(pages[f"{page}.md"]), "Mitigation")
    return text_of(mitigation), fences(mitigation, "sh")


GPU_AT_NIGHT = """apiVersion: opgen/v1
kind: Service
metadata: {name: embedder, team: ml, tier: 2}
spec:
  blueprint: gpu-inference
  runtime: {namespace: ml}
  traffic: {baseline_rps: 20, peak_rps: 600, per_instance_rps: 12}
  scaling: {max_replicas: 8}
"""


def test_a_scale_out_at_night_is_capped_priced_and_undone_on_both_bounds(tmp_path):
    # The peak needs 600 / (12 x 70 %) -> 72 GPU pods; the maximum is 8: the step stops at 8 + 20 % = 10.
    prose, commands = scale_out_text(GPU_AT_NIGHT, tmp_path, "LatencyBudgetBurn")
    assert '\'{"spec":{"minReplicaCount":10,"maxReplicaCount":10}}\'' in commands and "72" not in commands
    assert "This step stops at 10, the maximum of 8 plus 20 %: going further is the team's decision" in prose
    assert "10 pods cost 8 USD per hour in GPUs, 3.2 USD per hour more than the minimum of 6." in prose
    assert "restore both bounds, the minimum to 6 and the maximum to 8" in prose
    assert '\'{"spec":{"minReplicaCount":6,"maxReplicaCount":8}}\'' in commands


@pytest.mark.parametrize(("platform", "restore"), [
    ("kubernetes", "patch hpa shop --patch '{\"spec\":{\"minReplicas\":2,\"maxReplicas\":10}}'"),
    ("ecs", "--min-capacity 2 --max-capacity 10"),
])
def test_after_a_scale_out_both_bounds_are_restored(tmp_path, platform, restore):
    text = f"apiVersion: opgen/v1\nkind: Service\nmetadata: {{name: shop, team: core}}\nspec:\n  blueprint: http-api\n  runtime: {{platform: {platform}}}\n"
    prose, commands = scale_out_text(text, tmp_path)
    assert "restore both bounds, the minimum to 2 and the maximum to 10" in prose and restore in commands


def test_the_scale_out_names_only_the_traffic_figures_that_are_missing(tmp_path):
    text = ("apiVersion: opgen/v1\nkind: Service\nmetadata: {name: shop, team: core}\nspec:\n  blueprint: http-api\n"
            "  traffic: {baseline_rps: 10, peak_rps: 100}\n")
    prose, _ = scale_out_text(text, tmp_path)
    assert "the descriptor declares no traffic.per_instance_rps to size the peak" in prose
    assert "traffic.peak_rps" not in prose.split("to size the peak")[0].split("declares no")[-1]


def test_the_overview_links_to_the_pages_on_the_web_only_with_a_base_url(synced, tmp_path):
    service, ops = synced(CHECKOUT)
    links = text_of(section(tokens(runbook_dir(ops, service) / "README.md"), "Links"))
    assert "These pages on the web" in links
    hrefs = [t.attrs["href"] for t in walk(section(tokens(runbook_dir(ops, service) / "README.md"), "Links")) if t.type == "link_open"]
    assert c.runbook_overview_url(service.runbook_base_url, service.name) in hrefs
    service, ops = synced(TEST_DESCRIPTORS / "http-28d.yaml")
    links = text_of(section(tokens(runbook_dir(ops, service) / "README.md"), "Links"))
    assert "No runbook_base_url" in links and "These pages on the web" not in links


def test_cpu_near_limit_says_it_never_fires_without_cpu_limits(synced):
    service, ops = synced(CHECKOUT)
    meaning = text_of(section(tokens(alert_pages(ops, service)["CPUNearLimit"]), "Meaning"))
    assert "It never fires for containers without a CPU limit" in meaning
    assert 'kube_pod_container_resource_limits{resource="cpu"}' in meaning


# --- instrumentation: the stub, or the whole contract where opgen writes none --------------------


def table_rows(tokens) -> list[list[str]]:
    """The body rows of every table among `tokens`, as the text of their cells."""
    rows, row, in_body = [], None, False
    for token in tokens:
        if token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            in_body = False
        elif in_body and token.type == "tr_open":
            row = []
        elif in_body and token.type == "inline" and row is not None:
            row.append(text_of(token.children))
        elif in_body and token.type == "tr_close":
            rows.append(row)
            row = None
    return rows


@each_descriptor
def test_the_overview_links_the_stub_that_emits_the_metrics(synced, descriptor):
    service, ops = synced(descriptor)
    overview = runbook_dir(ops, service) / "README.md"
    links = [t.attrs["href"] for t in walk(section(tokens(overview), "Instrumentation")) if t.type == "link_open"]
    assert [(overview.parent / unquote(href)).resolve() for href in links] == [
        (ops / c.telemetry_path(service.name, service.language)).resolve()]


@pytest.mark.parametrize("language", ["java", "other"])
@pytest.mark.parametrize("descriptor", ["ecs-all-deps", "queue-fresh", "cron-report"])
def test_without_a_stub_the_overview_states_the_whole_contract(tmp_path, descriptor, language):
    """Every series with its labels and bucket boundaries (the freshness threshold among them), each
    dependency's labels, the job gauges, and for Java the agent's settings and view file."""
    folder = service_folder(tmp_path, TEST_DESCRIPTORS / f"{descriptor}.yaml")
    text = (folder / "service.yaml").read_text()
    (folder / "service.yaml").write_text(text.replace("spec:\n", f"spec:\n  runtime: {{language: {language}}}\n", 1)
                                         if "runtime:" not in text else text.replace("language: python", f"language: {language}"))
    result = run_opgen("sync", ".", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"warning: opgen writes no instrumentation for {language} services" in result.stderr
    service = load_validated(folder / "service.yaml", "service.yaml").service
    assert service.language == language and not (folder / "ops" / "otel").exists()
    metrics = contract.service_contract(service)
    parsed = section(tokens(runbook_dir(folder / "ops", service) / "README.md"), "Instrumentation")
    rows = {row[0]: row for row in table_rows(parsed)}
    for histogram in metrics.histograms if metrics.scraped else ():
        name, otel_name, labels, boundaries = rows[histogram.prometheus_name]
        assert (otel_name, labels.split(", ")) == (histogram.otel_name, list(histogram.labels))
        assert [Fraction(b) for b in boundaries.split(", ")] == list(histogram.boundaries)
    for call in metrics.dependency_calls if metrics.scraped else ():
        assert f'peer_service="{call.dependency.name}"' in rows[call.dependency.name][2]
    assert [gauge for gauge in metrics.job_gauges if gauge not in rows] == []
    fences = {t.info: t.content for t in parsed if t.type == "fence"}
    if language != "java" or not metrics.scraped:
        assert fences == {}
        return
    assert f"OTEL_EXPORTER_PROMETHEUS_PORT={service.metrics_port}" in fences["sh"].splitlines()
    assert "OTEL_METRICS_EXPORTER=prometheus" in fences["sh"].splitlines()
    views = YAML(typ="safe", pure=True).load(fences["yaml"])
    assert {v["selector"]["instrument_name"]: [Fraction(str(b)) for b in v["view"]["aggregation_args"]["bucket_boundaries"]]
            for v in views} == {h.otel_name: list(h.boundaries) for h in metrics.histograms}
