"""Every validation error the descriptor reference promises, with its line and column.

(tests/corpus/invalid holds many more malformed files; this module states the rules.)
"""

import textwrap
from fractions import Fraction
from pathlib import Path

import pytest

from opgen.descriptor.load import load_service_text
from opgen.errors import DescriptorError

VALID = """\
apiVersion: opgen/v1
kind: Service
metadata:
  name: checkout
  team: payments
spec:
  interfaces: [{kind: http, port: 8080}]
  slos:
    - name: availability
      objective: 99.9
      sli: {kind: availability}
"""


def problems(text: str) -> list[str]:
    try:
        load_service_text(textwrap.dedent(text), "service.yaml")
    except DescriptorError as error:
        return [str(p) for p in sorted(error.problems)]
    return []


def test_the_valid_base_has_no_problems():
    assert problems(VALID) == []


def test_defaults_are_filled_in():
    service = load_service_text(VALID, "service.yaml")
    assert service.tier == 2
    assert service.selector == 'job="checkout"'
    assert service.namespace == "checkout"
    assert service.slos[0].window == "30d"
    assert service.slos[0].sli.interface == "http"


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("  team: payments", "  teem: payments", [
            "service.yaml:3:1: metadata.team is required",
            "service.yaml:5:3: unknown field metadata.teem (did you mean 'team'?)"]),
        ("objective: 99.9", "objective: 120", ["service.yaml:10:18: spec.slos[0].objective is 120; it must be between 0 and 100 (both excluded)"]),
        ("objective: 99.9", "objective: '99.9'", ["service.yaml:10:18: spec.slos[0].objective must be a number, not a string"]),
        ("name: checkout", "name: Checkout_1", ["service.yaml:4:9: metadata.name 'Checkout_1' is not valid: a DNS label"]),
        ("name: checkout", "name: ../../etc", ["service.yaml:4:9: metadata.name '../../etc' is not valid"]),
        ("{kind: availability}", "{kind: latency, threshold: fast}", ["service.yaml:11:39: spec.slos[0].sli.threshold 'fast' is not a duration"]),
        ("objective: 99.9\n", "objective: 99.9\n      window: 2w3\n", ["service.yaml:11:15: spec.slos[0].window '2w3' is not a duration"]),
        ("{kind: availability}", "{kind: availabilty}", ["service.yaml:11:19: spec.slos[0].sli.kind is 'availabilty'; expected one of availability, latency, freshness, job-success, job-on-time, events (did you mean 'availability'?)"]),
    ],
)
def test_each_problem_names_line_and_column(old, new, expected):
    found = problems(VALID.replace(old, new, 1))
    assert len(found) == len(expected), found
    for got, want in zip(found, expected):
        assert got.startswith(want), (got, want)


def test_duplicate_slo_names_point_at_the_second_and_name_the_first():
    text = VALID + "    - name: availability\n      objective: 99\n      sli: {kind: availability}\n"
    assert problems(text) == ["service.yaml:12:13: duplicate name 'availability' in spec.slos (first at line 9)"]


def test_every_problem_is_reported_at_once():
    text = VALID.replace("team: payments", "team: payments\n  tier: 9").replace("99.9", "100").replace("kind: http", "kind: htp")
    found = problems(text)
    assert [f.split(": ")[0] for f in found] == ["service.yaml:6:9", "service.yaml:8:23", "service.yaml:11:18"]


def test_users_promql_is_parsed_at_validation_time():
    text = VALID.replace("{kind: availability}", "{kind: events, errors: 'sum(rate(x_total[{{window}}])', total: 'sum(rate(y_total[{{window}}]))'}")
    found = problems(text)
    assert len(found) == 1 and found[0].startswith("service.yaml:11:35: spec.slos[0].sli.errors")
    assert "is not valid PromQL" in found[0]


def test_a_blueprint_fills_in_and_the_descriptor_wins():
    text = VALID.replace("spec:\n", "spec:\n  blueprint: http-api\n")
    service = load_service_text(text, "service.yaml")
    assert [s.name for s in service.slos] == ["availability"]  # lists replace the blueprint's
    assert service.scaling.min_replicas == 2  # mappings merge


def test_an_unknown_blueprint_gets_a_suggestion():
    found = problems(VALID.replace("spec:\n", "spec:\n  blueprint: http-apl\n"))
    assert found == [found[0]] and found[0].startswith("service.yaml:7:14: unknown blueprint 'http-apl' (did you mean 'http-api'?)")


def test_problems_in_a_users_blueprint_point_into_the_blueprint(tmp_path: Path):
    (tmp_path / "mine.yaml").write_text("summary: mine\nspec:\n  scaling: {min_replicas: -1}\n")
    from opgen.descriptor.load import validate_source
    from opgen.descriptor.source import parse_yaml

    source = parse_yaml(VALID.replace("spec:\n", "spec:\n  blueprint: mine\n").encode(), "service.yaml")
    with pytest.raises(DescriptorError) as caught:
        validate_source(source, (tmp_path,))
    assert str(caught.value.problems[0]).endswith("mine.yaml:3:27: spec.scaling.min_replicas is -1; it must be between 0 and 1000")


def test_oversized_files_are_refused_before_parsing():
    from opgen.descriptor.source import MAX_FILE_BYTES, parse_yaml

    with pytest.raises(DescriptorError) as caught:
        parse_yaml(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1), "service.yaml")
    assert str(caught.value).startswith("service.yaml:1:1: file is 1,000,010 bytes; descriptors are limited to 1,000,000")


def test_merge_keys_work_and_aliased_values_point_at_their_use():
    text = VALID + "    - <<: &x {objective: 99, sli: {kind: availability}}\n      name: other\n      window: 3d\n"
    assert problems(text) == ["service.yaml:14:15: spec.slos[1].window '3d' must be whole days from 7d to 90d (28d and 30d are usual)"]


def test_alert_pairs_that_can_never_fire_are_warned_about_not_refused():
    from opgen.descriptor.load import validate_source
    from opgen.descriptor.source import parse_yaml

    service, warnings = validate_source(parse_yaml(VALID.replace("objective: 99.9", "objective: 90").encode(), "service.yaml"))
    assert service.slos[0].objective_percent == 90
    assert [str(w) for w in warnings if "can never fire" in w.message] == [
        "service.yaml:10:18: with an objective of 90% the page alert over 1h can never fire: it needs an error ratio above 144%"]


def warnings_of(text: str, runbook_base_url: str | None = "https://git.example.com/shop/blob/main/checkout/ops/runbooks") -> list[str]:
    """The warnings about a descriptor, with the runbook base URL a settings file would give it."""
    from opgen.descriptor.load import validate_source
    from opgen.descriptor.source import parse_yaml

    source = parse_yaml(textwrap.dedent(text).encode(), "service.yaml")
    return [str(w) for w in validate_source(source, runbook_base_url=runbook_base_url)[1]]


def test_runbook_links_without_a_base_url_are_warned_about_at_the_name():
    assert warnings_of(VALID) == []
    assert warnings_of(VALID, None) == [
        "service.yaml:4:9: runbook links are repository paths (ops/runbooks/checkout/README.md), which no notification, "
        "dashboard or catalog link can open; set runbook_base_url in an opgen-settings.yaml (at the repository root: "
        "the URL where that folder is browsable) or metadata.links.runbook_base_url"]
    own = VALID.replace("  team: payments\n", "  team: payments\n  links: {runbook_base_url: https://git.example.com/r}\n")
    assert warnings_of(own, None) == []


@pytest.mark.parametrize(("tier", "warned"), [(1, True), (2, True), (3, False), (4, False)])
def test_an_unassigned_team_is_warned_about_on_tiers_1_and_2(tier, warned):
    text = VALID.replace("team: payments", f"team: unassigned\n  tier: {tier}")
    expected = [f"service.yaml:5:9: team 'unassigned' on a tier {tier} service: its alerts are routed to no team and its "
                "catalog entry has no owner; name the owning team"]
    assert warnings_of(text) == (expected if warned else [])


@pytest.mark.parametrize("language", ["java", "other"])
def test_a_language_opgen_writes_no_stub_for_is_warned_about(language):
    """The kit then relies on instrumentation opgen cannot check; the runbook overview lists the contract."""
    text = VALID.replace("spec:\n", f"spec:\n  runtime: {{language: {language}}}\n")
    assert warnings_of(text) == [
        f"service.yaml:7:23: opgen writes no instrumentation for {language} services, so the SLOs, dashboard and "
        "autoscaler rely on metrics opgen cannot check: emit the series the runbook overview lists "
        "(ops/runbooks/checkout/README.md, Instrumentation)"]
    for stubbed in ("python", "go", "node"):
        assert warnings_of(VALID.replace("spec:\n", f"spec:\n  runtime: {{language: {stubbed}}}\n")) == []


def test_gpus_are_refused_outside_kubernetes():
    text = VALID.replace("spec:\n", "spec:\n  runtime: {platform: ecs}\n  resources: {gpu: {count: 1}}\n")
    found = problems(text)
    assert len(found) == 1 and found[0].startswith("service.yaml:8:20: GPUs are supported on kubernetes only")


def test_control_characters_are_refused_in_text():
    found = problems(VALID.replace("team: payments", 'team: payments\n  description: "tab\\tok, nul\\0 not"'))
    assert found == ["service.yaml:6:16: metadata.description contains the control character U+0000; use plain text"]


# --- objectives that cannot work, and fields of docs/alerts.md (warnings: --strict refuses them) ---


def test_an_objective_written_as_a_ratio_asks_whether_a_percentage_was_meant():
    (found,) = [w for w in warnings_of(VALID.replace("objective: 99.9", "objective: 0.999")) if "Did you mean" in w]
    assert found.startswith("service.yaml:10:18: objective 0.999 is a percentage") and found.endswith("Did you mean 99.9?")


def test_a_percent_sign_is_taken_with_a_warning_to_drop_it():
    service = load_service_text(VALID.replace("objective: 99.9", "objective: 99.9%"), "service.yaml")
    assert service.slos[0].objective_percent == Fraction("99.9")
    assert warnings_of(VALID.replace("objective: 99.9", "objective: 99.9%")) == [
        "service.yaml:10:18: spec.slos[0].objective is the string '99.9%'; write 99.9, without the %: it is a percentage already"]


def test_a_budget_below_one_scrape_of_full_outage_is_warned_about():
    """99.9999999 % over 30d allows 2.6 ms of full outage; one scrape interval is 1m."""
    (found,) = warnings_of(VALID.replace("objective: 99.9", "objective: 99.9999999"))
    assert found.startswith("service.yaml:10:18: with an objective of 99.9999999% over 30d the error budget is 2.6ms of full outage")
    assert "99.99% over 30d allows 259s" in found
    assert warnings_of(VALID.replace("objective: 99.9", "objective: 99.99")) == []  # 4.3 minutes


def test_the_tab_error_is_said_in_words_at_its_line():
    found = problems(VALID.replace("  team: payments", "\tteam: payments"))
    assert found == ["service.yaml:5:1: invalid YAML: a tab character; YAML indents with spaces only, so replace the "
                     "tab at the start of this line (or before this value) with spaces"]


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("sli: {kind: availability}", "previous_names: [availability]\n      sli: {kind: availability}",
         "service.yaml:11:24: previous name 'availability' of SLO 'availability' is the name of an SLO of this service"),
        ("spec:\n", "spec:\n  prometheus: {buckets: {grpc: [1s]}}\n",
         "service.yaml:7:26: buckets for grpc, but spec.interfaces declares no grpc interface"),
        ("kind: http, port: 8080}", "kind: grpc, port: 8080, probe: {path: /}}",
         "service.yaml:7:41: probes are for http interfaces"),
    ],
)
def test_history_buckets_and_probes_are_checked(old, new, expected):
    found = problems(VALID.replace(old, new, 1))
    assert len(found) == 1 and found[0].startswith(expected), found


def test_time_based_slis_take_no_bad_event_floor():
    text = VALID.replace("interfaces: [{kind: http, port: 8080}]", "interfaces: [{kind: cron}]").replace(
        "sli: {kind: availability}", "alerting: {min_bad_events: 3}\n      sli: {kind: job-success}")
    (found,) = problems(text)
    assert found.startswith("service.yaml:11:34: min_bad_events does not apply to the job-success SLI")
