"""Hostile text in every free-text field of a valid descriptor breaks no artifact.

Hypothesis writes descriptors (as YAML data, so the hostile text is a YAML string, not YAML
syntax) whose descriptions, selector label values and events PromQL string literals hold quotes,
backslashes, newlines, template syntax of every output language, HTML and Markdown, and
Unicode. For each, every artifact must parse with its real parser, the rules must pass
`promtool check rules`, and the hostile text must come out as the same text: escaped, never
executed, never breaking structure.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import re
import subprocess
from pathlib import Path

import hcl2
import promql_parser
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from markdown_it import MarkdownIt
from ruamel.yaml import YAML

from opgen import conventions as c
from opgen.descriptor.load import load_service_text
from opgen.render import RenderContext, render_all
from opgen.sync.regions import regions

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "openslo-v1.schema.json").read_text())

# Pieces that mean something to one of the output languages or to a human reader.
HOSTILE_PIECES = [
    '"', "'", "\\", "\\n", "\n", "\t", "{{", "}}", "{{ .Values }}", "{{ $value }}", "{% if %}", "${", "${var.x}", "%{",
    "%{ if true }", "$labels", "</script>", "<script>alert(1)</script>", "<!-- opgen:keep notes -->",
    "<!-- opgen:end -->", "# opgen:keep x", "-->", "*", "_", "`", "```", "~~~", "[link](http://evil)", "![i](x)",
    "|", "#", "# heading", "> quote", "- item", "1. item", "---", "<", ">", "&amp;", "&", "\u00e9", "\u4e2d\u6587",
    "\U0001f525", "\u202e", "\u200b", ":", ": x", "- ", "? ", "!!python/object", "&anchor", "*alias", "@", "%",
    "\r\n", "=~", "\x85",
    # whole marker lines (render_all refuses a file whose keep-regions are not those its renderer declares)
    "\n<!-- opgen:keep notes -->\n", "\n<!-- opgen:end -->\n", "\n# opgen:keep custom\n", "\n# opgen:end\n",
    "\n// opgen:keep custom\n", "\n```\n", "\n~~~~\n",
]
# Free text the descriptor accepts: no control characters but tab and newlines (generated, not filtered,
# so hypothesis never discards most of its draws).
free_text = st.text(st.one_of(st.characters(exclude_categories=("Cc", "Cs")), st.sampled_from("\t\n\r")), min_size=1, max_size=5)
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), free_text), min_size=1, max_size=12).map("".join)


def acceptable(text: str) -> bool:
    """What the descriptor accepts in free text: no control characters but tab and newlines."""
    return not any((ord(ch) < 32 and ch not in "\n\r\t") or 127 <= ord(ch) < 160 for ch in text)


descriptions = hostile_text.filter(acceptable).map(lambda t: t[:500])
ONE_LINE_PIECES = [piece for piece in HOSTILE_PIECES if acceptable(piece) and not set(piece) & set("{}\n\r\x85")]
one_line_text = st.text(st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="{}"), min_size=1, max_size=5)
label_values = st.lists(st.one_of(st.sampled_from(ONE_LINE_PIECES), one_line_text), min_size=1, max_size=12).map(
    "".join).map(lambda t: t[:100])


def promql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def descriptor(description: str, slo_description: str, label_value: str, events_value: str) -> str:
    data = {
        "apiVersion": "opgen/v1",
        "kind": "Service",
        "metadata": {"name": "hostile", "team": "red-team", "description": description},
        "spec": {
            "interfaces": [{"kind": "http", "port": 8080}],
            "prometheus": {"selector": f"job={promql_string(label_value)}"},
            "traffic": {"baseline_rps": 10, "peak_rps": 50, "per_instance_rps": 20},
            "slos": [
                {"name": "availability", "objective": 99.9, "description": slo_description, "sli": {"kind": "availability"}},
                {"name": "custom", "objective": 99, "description": description, "sli": {
                    "kind": "events",
                    "errors": f"sum(rate(app_failures_total{{reason={promql_string(events_value)}}}[{{{{window}}}}]))",
                    "total": "sum(rate(app_events_total[{{window}}]))",
                }},
            ],
            "dependencies": [{"name": "orders-db", "kind": "postgres", "critical": True}],
        },
    }
    stream = io.StringIO()
    yaml = YAML()
    yaml.width = 4096
    yaml.dump(data, stream)
    return stream.getvalue()


def plain(text: str) -> str:
    return " ".join(text.split())


def markdown_text(tokens) -> str:
    """The text a reader sees: every text and code span, in order."""
    parts = []
    for token in tokens:
        if token.children:
            parts.append(markdown_text(token.children))
        elif token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def yaml_load_all(text: str) -> list:
    return [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]


# No shrinking: each example renders a whole kit and runs promtool, so shrinking a failure takes
# minutes; the failing example is printed as found.
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.generate])
@given(description=descriptions, slo_description=descriptions, label_value=label_values, events_value=label_values)
def test_hostile_text_stays_text_in_every_artifact(tmp_path_factory, promtool, description, slo_description,
                                                   label_value, events_value):
    text = descriptor(description, slo_description, label_value, events_value)
    service = load_service_text(text, "service.yaml")
    artifacts = {a.path: a.text for a in render_all(RenderContext(service, "service.yaml"))}

    # Rules: YAML, promtool-valid, and the selector's label value is back as it was.
    rules_text = artifacts[c.rules_path("hostile")]
    rules = YAML(typ="safe", pure=True).load(rules_text)
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "hostile.rules.yml").write_text(rules_text, encoding="utf-8")
    checked = subprocess.run([promtool, "check", "rules", str(folder / "hostile.rules.yml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    first = promql_parser.parse(rules["groups"][0]["rules"][0]["expr"])  # availability total: sum(rate(...[5m]))
    matchers = {m.name: m.value for m in first.expr.args[0].vector_selector.matchers.matchers}
    assert matchers["job"] == label_value

    # Dashboard: JSON, every query PromQL, descriptions as given.
    dashboard = json.loads(artifacts[c.dashboard_path("hostile")])
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            promql_parser.parse(target["expr"].replace("$__rate_interval", "5m"))

    # OpenSLO: schema-valid YAML carrying the descriptions unchanged.
    documents = yaml_load_all(artifacts[c.openslo_path("hostile")])
    validator = Draft202012Validator(SCHEMA)
    assert [e.message for d in documents for e in validator.iter_errors(d)] == []
    slo_descriptions = {d["metadata"]["name"]: d["spec"].get("description") for d in documents if d["kind"] == "SLO"}
    assert any(plain(slo_description) == plain(v or "") for v in slo_descriptions.values()) or not slo_description.strip()

    # Terraform: parses.
    hcl2.loads(artifacts[c.terraform_path("hostile")])

    # Python stub: parses, and its description constant is the text itself.
    module = ast.parse(artifacts[c.telemetry_path("hostile")])
    constants = {node.targets[0].id: node.value for node in module.body
                 if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    assert ast.literal_eval(constants["SERVICE_DESCRIPTION"]) == description

    # Go and Node.js stubs of the same service: the description constant is the text itself (their
    # string literals escape only what JSON also escapes), and the text forms no keep-region marker.
    for language, constant in (("go", "const ServiceDescription = "), ("node", "const SERVICE_DESCRIPTION = ")):
        stub = stub_text(service, language)
        (literal,) = [line.removeprefix(constant).removesuffix(";") for line in stub.splitlines() if line.startswith(constant)]
        assert json.loads(literal) == description
        assert set(regions(stub, c.telemetry_path(service.name, language))) == {"imports", "custom"}

    # Runbooks: Markdown whose visible text holds the descriptions, with no HTML of their making.
    parser = MarkdownIt("commonmark")
    overview = parser.parse(artifacts[c.runbook_overview_path("hostile")])
    if description.strip():
        assert plain(description) in plain(markdown_text(overview))
    for path, page in artifacts.items():
        if path.endswith(".md"):
            for token in _walk(parser.parse(page)):
                if token.type in ("html_block", "html_inline"):
                    assert OUR_HTML.fullmatch(token.content), (path, token.content)

    # Backstage: YAML with the description unchanged.
    (catalog,) = yaml_load_all(artifacts[c.catalog_info_path("hostile")])
    assert plain(catalog["metadata"].get("description", "")) == plain(description)


def stub_text(service, language: str) -> str:
    """The instrumentation stub of the service, were it written in `language`."""
    artifacts = render_all(RenderContext(dataclasses.replace(service, language=language), "service.yaml"))
    (text,) = [a.text for a in artifacts if a.path == c.telemetry_path(service.name, language)]
    return text


# The only HTML in a runbook is opgen's own comments: the generated header and keep-region markers.
OUR_HTML = re.compile(r"<!-- (opgen:keep [a-z0-9-]+|opgen:end|Generated by opgen from service\.yaml\. [^<>]*) -->\s*")


def _walk(tokens):
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


@pytest.mark.parametrize("value", ["{{ 7 * 7 }}", "{% for x in range(3) %}x{% endfor %}", "{{ ''.__class__ }}"])
def test_template_syntax_in_a_description_is_never_evaluated(value):
    text = descriptor(value, value, "checkout", "timeout")
    service = load_service_text(text, "service.yaml")
    artifacts = render_all(RenderContext(service, "service.yaml"))
    everything = "\n".join(a.text for a in artifacts)
    assert "49" not in everything.replace("0.49", "")
    assert "xxx" not in everything
    assert "<class" not in everything
