"""A fleet, not one service: `opgen sync DIR` over tests/fleets/shop (22 descriptors, every
blueprint), the dependency graph of their `dependencies[].service` edges, and the blast radius in
each runbook, checked against a graph computed here from the descriptors' YAML alone."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml_helpers
from markdown_it import MarkdownIt

from conftest import run_opgen
from opgen.descriptor.load import load_validated

FLEETS = Path(__file__).parent / "fleets"
SHOP = FLEETS / "shop"
CYCLE = FLEETS / "cycle"
BLAST_HEADING = "Who depends on it (blast radius)"
MARKDOWN = MarkdownIt("commonmark").enable("table")


# --- the graph, computed independently from the YAML ---------------------------------------------


def declared(fleet: Path) -> dict[str, dict]:
    """name -> its descriptor's data, read with a plain YAML parser."""
    services = {}
    for path in sorted(fleet.glob("*/service.yaml")):
        data = yaml_helpers.load(path)
        services[data["metadata"]["name"]] = data
    return services


def edges(services: dict[str, dict]) -> dict[tuple[str, str], bool]:
    """(dependent, dependency) -> critical, for each dependency naming an opgen service."""
    found: dict[tuple[str, str], bool] = {}
    for name, data in services.items():
        for dep in data["spec"].get("dependencies", []):
            if "service" in dep:
                key = (name, dep["service"])
                found[key] = found.get(key, False) or dep.get("critical", False)
    return found


def closure(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Transitive closure by repeated joining until nothing changes (not the BFS opgen uses)."""
    reach = set(pairs)
    while True:
        more = {(a, d) for a, b in reach for c, d in reach if b == c} - reach
        if not more:
            return reach
        reach |= more


def expected_blast(services: dict[str, dict]) -> dict[str, dict[str, str]]:
    """service -> {dependent: "fails" | "degrades"} among the fleet's services."""
    graph = {k: v for k, v in edges(services).items() if k[1] in services}
    every = closure(set(graph))
    critical = closure({k for k, v in graph.items() if v})
    return {name: {a: "fails" if (a, name) in critical else "degrades" for a, b in every if b == name and a != name}
            for name in services}


# --- reading the runbooks ------------------------------------------------------------------------


def table_after(path: Path, heading: str) -> list[list[tuple[str, str | None]]]:
    """The rows of the first table after the heading `heading`: each cell as (text, link href or None)."""
    tokens = MARKDOWN.parse(path.read_text())
    start = next(i for i, t in enumerate(tokens) if t.type == "inline" and t.content == heading)
    rows, row = [], None
    for token in tokens[start:]:
        if token.type == "heading_open" and rows:
            break
        if token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            href = next((c.attrs["href"] for c in token.children if c.type == "link_open"), None)
            row.append(("".join(c.content for c in token.children if c.type in ("text", "code_inline")), href))
        elif token.type == "tr_close":
            rows.append(row)
            row = None
        elif token.type == "table_close":
            break
    return rows[1:]  # without the header row


def blast_rows(ops: Path, name: str, page: str = "README.md", heading: str = BLAST_HEADING):
    path = ops / "runbooks" / name / page
    if f"### {heading}" not in path.read_text():
        raise AssertionError(f"{path} has no {heading!r} section")
    text = path.read_text()
    if "| Service | When" not in text.split(f"### {heading}", 1)[1].split("\n## ", 1)[0]:
        return path, []
    return path, table_after(path, heading)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """tests/fleets/shop copied and synced once, as one fleet, with the real CLI."""
    root = tmp_path_factory.mktemp("fleet") / "shop"
    shutil.copytree(SHOP, root)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


# --- the fleet itself ----------------------------------------------------------------------------


def test_the_shop_fleet_is_big_and_mixed_with_both_kinds_of_edges_and_one_unknown_target():
    services = declared(SHOP)
    assert len(services) >= 20
    assert {d["spec"]["blueprint"] for d in services.values()} == {"http-api", "grpc-api", "queue-worker", "gpu-inference", "cron-job"}
    graph = edges(services)
    assert True in graph.values() and False in graph.values()
    assert [target for _, target in graph if target not in services] == ["bank-connector"]


# --- blast radius in the runbooks ----------------------------------------------------------------


def test_every_overview_lists_exactly_the_dependents_the_graph_has(shop):
    expected = expected_blast(declared(shop))
    assert any(len(v) >= 5 for v in expected.values()) and any("degrades" in v.values() for v in expected.values())
    for name, dependents in expected.items():
        path, rows = blast_rows(shop / name / "ops", name)
        listed = {row[0][0]: row[1][0] for row in rows}
        assert listed == dependents, path
        if not dependents:
            assert "No service synced with" in path.read_text()


def test_blast_radius_paths_are_real_edges_and_links_resolve(shop):
    services = declared(shop)
    graph = edges(services)
    slo_names = {name: [slo.name for slo in load_validated(shop / name / "service.yaml", name).service.slos] for name in services}
    for name in services:
        path, rows = blast_rows(shop / name / "ops", name)
        for (dependent, href), (impact, _), (through, _), (slos, _) in rows:
            hops = [dependent, name] if through == "direct" else through.split(" → ")
            assert hops[0] == dependent and hops[-1] == name, path
            assert all((a, b) in graph for a, b in zip(hops, hops[1:])), (path, hops)
            if impact == "fails":  # the path shown is the one made of critical edges
                assert all(graph[(a, b)] for a, b in zip(hops, hops[1:])), (path, hops)
            assert href and (path.parent / href).resolve() == (shop / dependent / "ops/runbooks" / dependent / "README.md").resolve()
            assert (path.parent / href).is_file()
            assert slos.split(", ") == slo_names[dependent], path


def test_dependency_pages_say_which_services_and_slos_are_hit(shop):
    """checkout's dependency alerts hit checkout's SLOs, and through it everyone who depends on it."""
    expected = expected_blast(declared(shop))["checkout"]
    path, rows = blast_rows(shop / "checkout" / "ops", "checkout", "DependencyErrorRatioHigh.md", "Who is hit")
    assert {row[0][0]: row[1][0] for row in rows} == expected
    assert "`checkout`'s SLOs: availability, latency." in path.read_text()
    # a service nobody depends on says so on its dependency pages too
    _, rows = blast_rows(shop / "web-frontend" / "ops", "web-frontend", "DependencyLatencyHigh.md", "Who is hit")
    assert rows == []


def test_the_overview_links_the_fleet_services_it_depends_on(shop):
    tokens = MARKDOWN.parse((shop / "checkout/ops/runbooks/checkout/README.md").read_text())
    hrefs = {c.attrs["href"] for t in tokens if t.type == "inline" for c in t.children if c.type == "link_open"}
    assert "../../../../payments/ops/runbooks/payments/README.md" in hrefs
    gateway = (shop / "payment-gateway/ops/runbooks/payment-gateway/README.md").read_text()
    assert "bank-connector (service bank-connector)" in gateway  # unknown: named, not linked


def test_changing_one_dependency_restales_exactly_the_services_whose_blast_radius_changed(shop, tmp_path):
    tree = tmp_path / "shop"
    shutil.copytree(shop, tree)
    before = expected_blast(declared(tree))
    descriptor = tree / "orders" / "service.yaml"
    descriptor.write_text(descriptor.read_text().replace(
        "{name: inventory, kind: grpc, service: inventory, critical: true}",
        "{name: inventory, kind: grpc, service: inventory, critical: false}\n"
        "    - {name: pricing, kind: grpc, service: pricing, critical: true}"))
    after = expected_blast(declared(tree))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"inventory", "pricing"}

    check = run_opgen("sync", "--check", ".", cwd=tree)
    assert check.returncode == 1
    stale = {Path(line.split(": ", 1)[1]).parts[0] for line in check.stdout.splitlines()
             if line.startswith("stale: ")}
    assert stale == changed | {"orders", "ops"}, check.stdout  # ops: the fleet's alert routes (inhibitions follow critical edges)
    for name in changed:
        assert f"stale: {name}/ops/runbooks/{name}/README.md" in check.stdout

    result = run_opgen("sync", ".", cwd=tree)
    assert result.returncode == 0, result.stderr
    for name in changed:
        path, rows = blast_rows(tree / name / "ops", name)
        assert {row[0][0]: row[1][0] for row in rows} == after[name], path
    assert run_opgen("sync", "--check", ".", cwd=tree).returncode == 0


# --- warnings: unknown targets, cycles, duplicates -----------------------------------------------


def test_an_unknown_target_is_a_warning_and_the_sync_goes_on(shop):
    result = run_opgen("validate", ".", cwd=shop)
    assert result.returncode == 0
    assert re.search(r"payment-gateway/service.yaml:\d+:\d+: warning: dependency 'bank-connector' is the service "
                     r"'bank-connector', which no descriptor synced with this one describes", result.stderr)
    graph = [line for line in result.stderr.splitlines() if "warning: dependency" in line]  # the others: on-call, links
    assert len(graph) == 1


def test_a_cycle_is_a_warning_naming_the_services_in_order(tmp_path):
    root = tmp_path / "cycle"
    shutil.copytree(CYCLE, root)
    result = run_opgen("sync", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    assert re.search(r"alpha/service.yaml:\d+:\d+: warning: dependency cycle: alpha -> beta -> gamma -> alpha;", result.stderr)
    assert result.stderr.count("dependency cycle") == 1
    _, rows = blast_rows(root / "alpha" / "ops", "alpha")
    assert {row[0][0]: row[1][0] for row in rows} == {"beta": "fails", "gamma": "fails", "delta": "fails"}


def test_one_service_name_in_two_folders_is_refused_with_both_locations(tmp_path):
    for folder in ("a", "b"):
        shutil.copytree(SHOP / "catalog", tmp_path / folder)
    result = run_opgen("sync", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert re.search(r"b/service.yaml:\d+:\d+: service 'catalog' is also described at a/service.yaml:\d+:\d+; "
                     r"one descriptor per service", result.stderr), result.stderr
    assert not (tmp_path / "a" / "ops").exists()


# --- opgen graph ---------------------------------------------------------------------------------

NODE_ID = r"[A-Za-z_][A-Za-z0-9_]*"


def test_graph_as_text_lists_each_service_and_its_edges(shop):
    result = run_opgen("graph", ".", cwd=shop)
    assert result.returncode == 0, result.stderr
    services = declared(shop)
    graph = edges(services)
    blocks = {}
    for line in result.stdout.splitlines():
        if line and not line.startswith(" ") and "(team " in line:
            current = line.split(" ", 1)[0]
            blocks[current] = set()
        elif line.startswith("  -> "):
            target, note = line[5:].split(None, 1)
            blocks[current].add((target, note.startswith("critical")))
    assert set(blocks) == set(services)
    assert {(s, t, crit) for s, pairs in blocks.items() for t, crit in pairs} == {(s, t, c) for (s, t), c in graph.items()}
    known = sum(1 for _, target in graph if target in services)
    assert f"{len(services)} services, {known} dependencies between them, 1 on unknown services, 0 cycles." in result.stdout


def test_graph_as_dot_has_one_node_per_service_and_styled_edges(shop):
    result = run_opgen("graph", "--format", "dot", ".", cwd=shop)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "digraph fleet {" and lines[-1] == "}"
    labels, found = {}, {}
    for line in lines[1:-1]:
        node = re.fullmatch(rf'  ({NODE_ID}) \[label="([a-z0-9-]+)\\n[^"]*"(?:, style=dashed, color=grey)?\];', line)
        edge = re.fullmatch(rf'  ({NODE_ID}) -> ({NODE_ID}) \[style=(solid|dashed)(?:, penwidth=2, label="[\d.]+%"(?:, color=red)?)?\];', line)
        assert node or edge or line in ("  rankdir=LR;", '  node [shape=box, fontname="sans-serif"];'), line
        if node:
            labels[node[1]] = node[2]
        if edge:
            found[(edge[1], edge[2])] = edge[3] == "solid"
    graph = edges(declared(shop))
    assert sorted(labels.values()) == sorted(set(declared(shop)) | {"bank-connector"})
    assert {(labels[a], labels[b]): crit for (a, b), crit in found.items()} == graph


def test_graph_as_mermaid_is_a_flowchart_with_dotted_non_critical_edges(shop):
    result = run_opgen("graph", "--format", "mermaid", ".", cwd=shop)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "flowchart LR"
    labels, found = {}, {}
    for line in lines[1:]:
        node = re.fullmatch(rf'  ({NODE_ID})\["([a-z0-9-]+)(?: \(no descriptor\)"\]:::unknown|"\])', line)
        edge = re.fullmatch(rf"  ({NODE_ID}) (-->|-\.->|==>\|[\d.]+%\|) ({NODE_ID})", line)  # ==>: bounds a ceiling (test_ceilings)
        assert node or edge or line == "  classDef unknown stroke-dasharray: 5 5" or line.startswith("  linkStyle "), line
        if node:
            assert node[1] not in labels
            labels[node[1]] = node[2]
        if edge:
            found[(edge[1], edge[3])] = edge[2] != "-.->"
    assert {(labels[a], labels[b]): crit for (a, b), crit in found.items()} == edges(declared(shop))


def test_graph_output_is_deterministic(shop):
    first = run_opgen("graph", "--format", "dot", ".", cwd=shop).stdout
    assert run_opgen("graph", "--format", "dot", str(shop), cwd=shop.parent).stdout == first


# --- progress and summary ------------------------------------------------------------------------


def run_on_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """Run opgen with stdout and stderr on a pseudo-terminal; its exit code and all it printed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "opgen", *args], cwd=cwd, stdout=follower, stderr=follower,
                               env={**os.environ, "COLUMNS": "120"})
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    return process.wait(), output.decode()


def test_on_a_terminal_sync_ends_with_a_table_per_service(shop, tmp_path):
    tree = tmp_path / "shop"
    shutil.copytree(shop, tree)
    (tree / "checkout" / "service.yaml").write_text((tree / "checkout" / "service.yaml").read_text().replace(
        "description: \"Takes the cart", "description: \"Now: takes the cart"))
    code, output = run_on_terminal("sync", ".", cwd=tree)
    assert code == 0, output
    assert "rendering" in output  # click's progress bar
    table = output[output.index("service  "):].splitlines()
    assert re.fullmatch(r"service +created +updated +unchanged +conflicts", table[0].strip())
    rows = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in table[1:] if line.strip()}
    assert set(rows) == set(declared(tree))
    assert rows["checkout"][0] == 0 and rows["checkout"][1] > 0 and rows["checkout"][3] == 0
    assert all(row[:2] == [0, 0] for name, row in rows.items() if name != "checkout")


def test_without_a_terminal_sync_prints_plain_lines_only(shop):
    result = run_opgen("sync", ".", cwd=shop)
    assert result.returncode == 0
    assert "rendering" not in result.stdout + result.stderr
    assert "conflicts" not in result.stdout
    assert result.stdout.splitlines()[-1].startswith("opgen: 0 created, 0 updated, ")


# --- where a search for descriptors goes -----------------------------------------------------------------


def test_validate_at_the_repository_root_checks_the_example_and_passes_by_the_test_fleets():
    from conftest import ROOT

    result = run_opgen("validate", "--strict", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["ok: examples/checkout/service.yaml (checkout, 3 SLOs)"]


def test_a_search_passes_by_the_folders_settings_exclude_unless_they_are_named(tmp_path):
    for folder in ("services/a", "services/fixtures/a", "other/b"):
        (tmp_path / folder).mkdir(parents=True)
        name = folder.replace("/", "-")
        (tmp_path / folder / "service.yaml").write_text(f"apiVersion: opgen/v1\nkind: Service\nmetadata: {{name: {name}, team: t}}\nspec: {{}}\n")
    (tmp_path / "services" / "opgen-settings.yaml").write_text("exclude: [fixtures]\n")
    (tmp_path / "opgen-settings.yaml").write_text("exclude: [other]\n")
    found = lambda *paths: re.findall(r"^ok: (\S+)", run_opgen("validate", *paths, cwd=tmp_path).stdout, re.M)  # noqa: E731
    assert found() == ["services/a/service.yaml"]
    assert found("services") == ["services/a/service.yaml"]
    assert found("services/fixtures") == ["services/fixtures/a/service.yaml"]  # named: found
    assert found("other", "services") == ["other/b/service.yaml", "services/a/service.yaml"]
    (tmp_path / "services" / "opgen-settings.yaml").write_text("exclude: fixtures\n")
    bad = run_opgen("validate", cwd=tmp_path / "services")
    assert bad.returncode == 2 and re.search(r"opgen-settings.yaml:1:10: exclude .*list", bad.stderr), bad.stderr


# --- a fleet sync after a sync of one of its services --------------------------------------------------


def test_a_fleet_sync_removes_the_fleet_files_a_one_service_sync_left_in_that_service(shop, tmp_path):
    tree = tmp_path / "shop"
    shutil.copytree(shop, tree)
    assert run_opgen("sync", "checkout", cwd=tree).returncode == 0
    assert run_opgen("sync", "cart", cwd=tree).returncode == 0
    own = tree / "checkout" / "ops" / "alertmanager" / "routes.yml"
    edited = tree / "cart" / "ops" / "alertmanager" / "routes.yml"
    assert own.is_file() and edited.is_file()
    edited.write_text(edited.read_text() + "# kept by hand\n")
    check = run_opgen("sync", "--check", ".", cwd=tree)
    assert check.returncode == 1 and "obsolete: checkout/ops/alertmanager/routes.yml" in check.stdout, check.stdout
    result = run_opgen("sync", ".", cwd=tree)
    assert "deleted checkout/ops/alertmanager/routes.yml" in result.stdout, result.stdout
    assert not own.exists() and edited.is_file()  # a hand-edited one stays, as any file edited by hand
    assert "orphaned cart/ops/alertmanager/routes.yml" in result.stderr
    assert (tree / "ops" / "alertmanager" / "routes.yml").is_file()
    assert "alertmanager/routes.yml" not in (tree / "checkout" / "ops" / ".opgen" / "manifest.json").read_text()
