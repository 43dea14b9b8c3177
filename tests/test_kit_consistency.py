"""The artifacts agree with each other: every SLO is the same SLO (objective and window) in the
rules, in OpenSLO, on the dashboard and in the runbook, read back with real parsers.

(Alerts versus runbooks and the metric names versus the scraped instrumentation are proven in
test_runbooks.py and test_instrumentation.py.)"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from markdown_it import MarkdownIt
from ruamel.yaml import YAML

from conftest import EXAMPLES, TEST_DESCRIPTORS, recorded_objectives, run_opgen, service_folder
from opgen.descriptor.load import load_service

DESCRIPTORS = sorted(TEST_DESCRIPTORS.glob("*.yaml")) + [EXAMPLES / "checkout" / "service.yaml"]


def rules_view(ops, name):
    """slo -> (objective, window) from the recording rules."""
    groups = YAML(typ="safe").load((ops / f"prometheus/{name}.rules.yml").read_text())["groups"]
    view = {}
    for rule in (r for g in groups for r in g["rules"] if "record" in r):
        slo = rule["labels"].get("slo")
        for each, value in recorded_objectives([rule]).items():  # one rule per service, a series per SLO
            view.setdefault(each, {})["objective"] = Fraction(value)
        if rule["record"].startswith("slo:period_burn_rate"):
            window = rule["expr"].split("ratio_rate", 1)[1].split("{", 1)[0]
            view.setdefault(slo, {})["window"] = window
    return {slo: (v["objective"], v["window"]) for slo, v in view.items()}


def openslo_view(ops, name):
    docs = [d for d in YAML(typ="safe").load_all((ops / f"slo/{name}.openslo.yaml").read_text()) if d]
    return {d["metadata"]["labels"]["slo"]: (Fraction(str(d["spec"]["objectives"][0]["target"])), d["spec"]["timeWindow"][0]["duration"])
            for d in docs if d["kind"] == "SLO"}


def dashboard_view(ops, name):
    """From the "<slo>: SLI over <window>" stat: its title and the objective it turns green at."""
    dashboard = json.loads((ops / f"grafana/{name}.json").read_text())
    view = {}
    for panel in dashboard["panels"]:
        if ": SLI over " in panel["title"]:
            slo, window = panel["title"].split(": SLI over ")
            green = [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["color"] == "green"]
            view[slo] = (Fraction(str(green[0])), window)
    return view


def runbook_view(ops, name):
    """From the SLO table of the runbook overview, parsed as Markdown."""
    tokens = MarkdownIt("commonmark").enable("table").parse((ops / f"runbooks/{name}/README.md").read_text())
    rows, row, in_slo_section, heading = [], None, False, False
    for token in tokens:
        if token.type == "heading_open":
            heading = True
        elif token.type == "inline" and heading:
            in_slo_section, heading = token.content == "SLOs", False
        elif in_slo_section and token.type == "tr_open":
            row = []
        elif in_slo_section and token.type == "inline" and row is not None:
            row.append(token.children[0].content if token.children else "")
        elif in_slo_section and token.type == "tr_close":
            rows.append(row)
            row = None
    header, *body = rows
    slo, objective, window = header.index("SLO"), header.index("Objective"), header.index("Window")
    return {r[slo]: (Fraction(r[objective].removesuffix(" %")) / 100, r[window]) for r in body}


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda p: p.parent.name if p.name == "service.yaml" else p.stem)
def test_every_slo_is_the_same_slo_everywhere(tmp_path, descriptor):
    folder = service_folder(tmp_path, descriptor)
    assert run_opgen("sync", folder.name, cwd=tmp_path).returncode == 0
    service = load_service(folder / "service.yaml")
    ops = folder / "ops"
    expected = {s.name: (s.objective, s.window) for s in service.slos}
    assert rules_view(ops, service.name) == expected
    assert openslo_view(ops, service.name) == expected
    assert dashboard_view(ops, service.name) == expected
    if service.slos:
        assert runbook_view(ops, service.name) == expected
