"""Regeneration never destroys work a human put into a generated file.

The guarantees of `opgen sync`, proved on a real tree (tests/descriptors/ecs-all-deps.yaml, service
`orders`) through the real CLI. The human work is the kind an SRE team adds after launch: notes in
several runbook pages (`<!-- opgen:keep notes -->`), code in the telemetry module's `custom` and
`imports` regions, and one edit outside any region: a hot-fixed alert threshold in the rules file.

- Scenarios: one descriptor change each (an objective, a dependency added then removed, an SLO
  renamed, nothing), the whole tree compared byte for byte before and after, so each test says
  exactly which files sync rewrote, created and deleted, and that every human byte is still there.
- A property: random descriptor changes interleaved with random region edits never lose a region's
  content; it stays in its page, follows a renamed page, or is saved under ops/.opgen/orphans/.
- Crashes: a sync killed at any moment leaves each file old or new, and the next sync finishes.
- Concurrency: two syncs of one tree give the result of one; a held lock times out cleanly.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import TEST_DESCRIPTORS, is_stat_cache, run_opgen
from opgen import conventions as c

DESCRIPTOR = TEST_DESCRIPTORS / "ecs-all-deps.yaml"
ORIGINAL = DESCRIPTOR.read_text()
NO_DEPENDENCIES = ORIGINAL[:ORIGINAL.index("  dependencies:\n")]
FOLDER = "orders"  # tmp_path/orders/service.yaml; the CLI runs from tmp_path, so paths print as orders/ops/...

STATE = "ops/.opgen"
MANIFEST = f"{STATE}/manifest.json"
ORPHANS = f"{STATE}/orphans"
RULES = "ops/prometheus/orders.rules.yml"
RULE_TESTS = "ops/prometheus/orders.rules.test.yml"
DASHBOARD = "ops/grafana/orders.json"
OPENSLO = "ops/slo/orders.openslo.yaml"
CATALOG = "ops/backstage/orders.catalog-info.yaml"  # lists the alert names: changes when they do
TELEMETRY = "ops/otel/orders_telemetry.py"
TERRAFORM = "ops/terraform/orders_autoscaling.tf"
PAGES = "ops/runbooks/orders"
TEMP_FILE = re.compile(r"^\..+\.opgen-tmp$")  # a staged file `.<name>.<token>.opgen-tmp`, or a state file's `.<name>.opgen-tmp`


def page(alert: str) -> str:
    return f"{PAGES}/{alert}.md"


def shown(path: str) -> str:
    """`path` as the CLI prints it."""
    return f"{FOLDER}/{path}"


# The edits of the descriptor.
OBJECTIVE_999 = "{name: availability, objective: 99.9,"
OBJECTIVE_9995 = "{name: availability, objective: 99.95,"
RENAMED_SLO = "{name: success, objective: 99.9,"
ONE_DEPENDENCY = NO_DEPENDENCIES + "  dependencies:\n    - {name: orders-db, kind: postgres, critical: true}\n"

# The human work. Notes with Markdown, HTML, Jinja and shell metacharacters.
NOTES = {
    page("AvailabilityBudgetBurn"): (
        "War story, 2026-03-02: the *connection pool* (`max=20`) ran dry.\n"
        "- [ ] check `pgbouncer` first | then the [dashboard](../../grafana/orders.json)\n"
        "```sh\nkubectl -n shop logs deploy/orders | grep -c 'timeout' # count them\n```\n"),
    page("AvailabilityBudgetExhausted"): "Freeze deploys: ask #commerce, {{ not a template }} {% nor this %} \\ $HOME\n",
    page("ProcessingBudgetExhausted"): "\n  Indented line, <b>html</b> &amp; a trailing blank line follows.\n\n",
    page("SLONoData"): "2026-01-15: the OTel collector was OOM-killed.\n<!-- our own comment -->\n# A heading of ours\n",
}
CODE = {
    "imports": "import decimal  # ours\n",
    "custom": ('def record_refund(amount: "decimal.Decimal") -> None:\n'
               '    """Hand-written: refunds are counted too. {braces} % <!-- -->"""\n'
               "    print(f'refund {amount!r}')\n"),
}
# A 3 AM hot-fix outside any region: CPUNearLimit fires at 95 %, not 90 %. No descriptor change below touches this line.
CPU_LINE = 'aws_ecs_cpuutilization_average{dimension_ClusterName="shop-cluster",dimension_ServiceName="orders"}) / 100 > 0.9\n'
CPU_HOT_FIX = CPU_LINE.replace("> 0.9\n", "> 0.95\n")
# The availability SLO's fast-burn condition: the objective change rewrites these three lines.
# The short window of the 1h page pair: an objective change rewrites its budget, a hot fix its threshold.
BURN_OLD = '          slo:sli_error:ratio_rate5m{service="orders",slo="availability"} / 0.001 > 14.4\n'
BURN_NEW = BURN_OLD.replace("/ 0.001 ", "/ 0.0005 ")
BURN_HOT_FIX = BURN_OLD.replace("> 14.4\n", "> 20\n")


# --- the tree ---------------------------------------------------------------------------------------------

def region_markers(path: str, name: str) -> tuple[str, str]:
    if path.endswith(".py"):
        return f"# opgen:keep {name}\n", "# opgen:end\n"
    return f"<!-- opgen:keep {name} -->\n", "<!-- opgen:end -->\n"


def region_span(text: str, path: str, name: str) -> tuple[list[str], int, int]:
    """The file's lines and the line range of region `name`'s content (the test's own reading of the
    documented marker syntax: whole lines)."""
    start, end = region_markers(path, name)
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line == start]
    assert len(starts) == 1, f"{path}: expected one region {name!r}"
    first = starts[0] + 1
    return lines, first, lines.index(end, first)


def region_of(text: str, path: str, name: str) -> str:
    lines, first, last = region_span(text, path, name)
    return "".join(lines[first:last])


def with_region(text: str, path: str, name: str, content: str) -> str:
    lines, first, last = region_span(text, path, name)
    return "".join(lines[:first]) + content + "".join(lines[last:])


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected exactly one {old!r}"
    return text.replace(old, new)


def changed(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    """Paths created, deleted or rewritten with other bytes."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def visible(files: dict[str, bytes]) -> dict[str, bytes]:
    """The generated files people see: ops/ without opgen's state, the descriptor and temporary files."""
    return {p: b for p, b in files.items()
            if p.startswith("ops/") and not p.startswith(f"{STATE}/") and not TEMP_FILE.match(Path(p).name)}


class Kit:
    """A service folder tmp/orders/ with service.yaml and its ops/, driven through the real CLI."""

    def __init__(self, root: Path):
        self.root = root
        self.folder = root / FOLDER

    def sync(self, *options: str) -> subprocess.CompletedProcess:
        return run_opgen("sync", *options, FOLDER, cwd=self.root)

    def diff(self) -> subprocess.CompletedProcess:
        return run_opgen("diff", FOLDER, cwd=self.root)

    def path(self, relative: str) -> Path:
        return self.folder / relative

    def read(self, relative: str) -> str:
        return self.path(relative).read_text(encoding="utf-8")

    def write(self, relative: str, text: str) -> None:
        self.path(relative).write_text(text, encoding="utf-8")

    def edit(self, relative: str, old: str, new: str) -> None:
        self.write(relative, replace_once(self.read(relative), old, new))

    def describe(self, text: str) -> None:
        self.write("service.yaml", text)

    def region(self, relative: str, name: str = "notes") -> str:
        return region_of(self.read(relative), relative, name)

    def fill(self, relative: str, content: str, name: str = "notes") -> None:
        self.write(relative, with_region(self.read(relative), relative, name, content))

    def tree(self) -> dict[str, bytes]:
        return {p.relative_to(self.folder).as_posix(): p.read_bytes() for p in sorted(self.folder.rglob("*"))
                if p.is_file() and not is_stat_cache(p)}


def new_kit(root: Path, descriptor: str) -> Kit:
    """A freshly synced kit of `descriptor` in root/orders."""
    root.mkdir(parents=True, exist_ok=True)
    kit = Kit(root)
    kit.folder.mkdir()
    kit.describe(descriptor)
    result = kit.sync()
    assert result.returncode == 0, result.stdout + result.stderr
    return kit


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """What opgen generates from a descriptor on a fresh tree, by descriptor text (cached)."""
    cache: dict[str, dict[str, bytes]] = {}

    def output(descriptor: str) -> dict[str, bytes]:
        if descriptor not in cache:
            cache[descriptor] = new_kit(tmp_path_factory.mktemp("fresh"), descriptor).tree()
        return cache[descriptor]

    return output


@pytest.fixture
def kit(tmp_path, generated) -> Kit:
    """The synced kit of ecs-all-deps.yaml in tmp_path/orders (a copy of one synced tree: a sync saved per test)."""
    kit = Kit(tmp_path)
    for relative, content in generated(ORIGINAL).items():
        kit.path(relative).parent.mkdir(parents=True, exist_ok=True)
        kit.path(relative).write_bytes(content)
    return kit


def add_human_work(kit: Kit, notes: dict[str, str] = NOTES, hot_fix: bool = True) -> None:
    for path, content in notes.items():
        kit.fill(path, content)
    for name, content in CODE.items():
        kit.fill(TELEMETRY, content, name)
    if hot_fix:
        kit.edit(RULES, CPU_LINE, CPU_HOT_FIX)


def assert_human_work_kept(kit: Kit, notes: dict[str, str] = NOTES, hot_fix: bool = True) -> None:
    for path, content in notes.items():
        assert kit.region(path) == content, f"{path}: the notes changed"
    for name, content in CODE.items():
        assert kit.region(TELEMETRY, name) == content, f"{TELEMETRY}: region {name} changed"
    if hot_fix:
        assert CPU_HOT_FIX in kit.read(RULES) and CPU_LINE not in kit.read(RULES)


def output(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"


# --- a. an objective changes ---------------------------------------------------------------------------

OBJECTIVE_REWRITES = {DASHBOARD, RULE_TESTS, OPENSLO, page("AvailabilityBudgetBurn"), page("AvailabilityBudgetExhausted"),
                      page("README")}


def test_an_objective_change_rewrites_exactly_its_files_keeps_every_region_and_leaves_the_hot_fix_alone(kit):
    """99.9 -> 99.95 rewrites the dashboard, the rule tests, OpenSLO and the availability pages (notes
    carried over byte for byte); the hot-fixed rules file is a conflict (exit 3), untouched, its diff shown."""
    add_human_work(kit)
    kit.edit("service.yaml", OBJECTIVE_999, OBJECTIVE_9995)
    before = kit.tree()

    result = kit.sync()

    assert result.returncode == 3, output(result)
    assert f"conflict {shown(RULES)}: edited by hand, and opgen has changes for it; left as it is" in result.stderr
    assert f"\n-        expr: max({CPU_HOT_FIX}" in result.stderr  # the diff shows what sync would undo...
    assert "\n+" + BURN_NEW.splitlines()[0] + "\n" in result.stderr  # ...and what it would bring
    after = kit.tree()
    assert changed(before, after) == OBJECTIVE_REWRITES | {MANIFEST}
    assert after[RULES] == before[RULES]
    assert_human_work_kept(kit)
    assert "99.95% over 30d" in kit.read(OPENSLO) and "/ 0.0005 > 14.4" in kit.read(page("AvailabilityBudgetBurn"))
    again = kit.sync()
    assert again.returncode == 3 and kit.tree() == after  # still a conflict, still untouched


def test_merge_applies_a_hot_fix_on_a_line_opgen_did_not_change_and_keeps_both_edits(kit, generated):
    """--merge: the hot-fix (CPU threshold) and opgen's change (the new error budget) land in one
    file, exactly opgen's new output plus the hot-fix; the next sync has nothing new and keeps it."""
    add_human_work(kit)
    kit.edit("service.yaml", OBJECTIVE_999, OBJECTIVE_9995)
    before = kit.tree()

    result = kit.sync("--merge")

    assert result.returncode == 0, output(result)
    assert f"merged your edits into {shown(RULES)}" in result.stdout
    expected = generated(kit.read("service.yaml"))[RULES].decode().replace(CPU_LINE, CPU_HOT_FIX)
    assert kit.read(RULES) == expected
    assert BURN_NEW in expected and CPU_HOT_FIX in expected
    rewritten = OBJECTIVE_REWRITES | {RULES}
    after = kit.tree()
    assert changed(before, after) == rewritten | {MANIFEST}
    assert_human_work_kept(kit)

    again = kit.sync()
    assert again.returncode == 0, output(again)
    assert f"kept {shown(RULES)}: edited by hand, and a sync leaves it as it is" in again.stdout
    assert kit.tree() == after


def test_merge_marks_overlapping_edits_with_diff3_markers_and_a_resolved_file_is_kept(kit, generated):
    """A hot-fix on a line opgen rewrites: --merge writes diff3 markers (your edits / opgen before /
    opgen now) and exits 3; unresolved markers stay a conflict; once a person resolves them, sync
    exits 0 and keeps the file as the person left it."""
    add_human_work(kit, hot_fix=False)
    kit.edit(RULES, BURN_OLD, BURN_HOT_FIX)
    kit.edit("service.yaml", OBJECTIVE_999, OBJECTIVE_9995)

    result = kit.sync("--merge")

    assert result.returncode == 3, output(result)
    assert f"conflict {shown(RULES)}: your edits and opgen's overlap; resolve the <<<<<<< markers" in result.stderr
    markers = ("<<<<<<< your edits\n" + BURN_HOT_FIX + "||||||| opgen before\n" + BURN_OLD + "=======\n" + BURN_NEW
               + ">>>>>>> opgen now\n")
    with_markers = kit.read(RULES)
    new_output = generated(kit.read("service.yaml"))[RULES].decode()
    assert with_markers == replace_once(new_output, BURN_NEW, markers)  # everything else is opgen's new output
    assert_human_work_kept(kit, hot_fix=False)

    assert kit.sync().returncode == 3 and kit.read(RULES) == with_markers  # markers left in: still a conflict
    assert f"edited by hand, and opgen has changes for it: {shown(RULES)}" in kit.sync("--check").stdout

    resolution = BURN_NEW.replace("> 14.4\n", "> 20\n")  # both: new budget, 20
    resolved = replace_once(with_markers, markers, resolution)
    kit.write(RULES, resolved)
    before = kit.tree()
    after_resolving = kit.sync()
    assert after_resolving.returncode == 0, output(after_resolving)
    assert f"kept {shown(RULES)}: edited by hand, and a sync leaves it as it is" in after_resolving.stdout
    assert changed(before, kit.tree()) == {MANIFEST}  # the service's record, held back while in conflict
    check = kit.sync("--check")
    assert check.returncode == 0 and "(1 edited by hand, which sync leaves as they are)" in check.stdout


# --- b. a dependency comes and goes ----------------------------------------------------------------------

DEPENDENCY_PAGES = {page("DependencyErrorRatioHigh"), page("DependencyLatencyHigh")}
DEPENDENCY_REWRITES = {DASHBOARD, TELEMETRY, RULES, RULE_TESTS, CATALOG, page("AvailabilityBudgetBurn"),
                       page("ProcessingBudgetBurn"), page("README")}


def test_a_dependency_added_then_removed_brings_its_pages_panels_and_alerts_and_takes_them_away(tmp_path):
    """Adding orders-db creates its two runbook pages, dashboard row and alerts (the hot-fixed rules
    file merged); removing it deletes them again: the page with notes is deleted and its notes saved
    under ops/.opgen/orphans/ (and sync says so), the page edited outside its regions stays and is
    reported (exit 3). Afterwards every other file is byte for byte what it was before the dependency."""
    kit = new_kit(tmp_path, NO_DEPENDENCIES)
    notes = {p: c for p, c in NOTES.items() if "Exhausted" not in p} | {page("ProcessingBudgetBurn"): "Check the queue.\n"}
    add_human_work(kit, notes)
    kit.describe(ONE_DEPENDENCY)
    without = kit.tree()

    added = kit.sync("--merge")

    assert added.returncode == 0, output(added)
    with_dependency = kit.tree()
    assert changed(without, with_dependency) == (DEPENDENCY_PAGES | DEPENDENCY_REWRITES | {MANIFEST})
    assert 'alert: DependencyErrorRatioHigh' in kit.read(RULES) and 'peer_service="orders-db"' in kit.read(RULES)
    assert '"orders-db' in kit.read(DASHBOARD)
    assert_human_work_kept(kit, notes)

    db_notes = "orders-db fails over in 30 s; wait before paging the DBA.\n"
    kit.fill(page("DependencyErrorRatioHigh"), db_notes)
    hand_edit = "\nEscalate to the DBA on-call: +1 555 0100.\n"
    kit.write(page("DependencyLatencyHigh"), kit.read(page("DependencyLatencyHigh")) + hand_edit)
    edited_latency_page = kit.read(page("DependencyLatencyHigh"))
    kit.describe(NO_DEPENDENCIES)
    before = kit.tree()

    removed = kit.sync("--merge")

    assert removed.returncode == 3, output(removed)
    saved = f"{ORPHANS}/runbooks/orders/DependencyErrorRatioHigh.md.notes"
    assert f"deleted {shown(page('DependencyErrorRatioHigh'))}" in removed.stdout
    assert f"saved keep-region content whose place is gone to {shown(saved)}" in removed.stderr
    assert (f"orphaned {shown(page('DependencyLatencyHigh'))}: no longer generated but edited by hand, left as it is"
            in removed.stderr)
    after = kit.tree()
    assert after[saved] == db_notes.encode()
    assert page("DependencyErrorRatioHigh") not in after
    assert kit.read(page("DependencyLatencyHigh")) == edited_latency_page
    assert changed(before, after) == ({page("DependencyErrorRatioHigh"), saved, MANIFEST}
                                      | DEPENDENCY_REWRITES)
    assert visible(after) == visible(without) | {page("DependencyLatencyHigh"): edited_latency_page.encode()}
    assert_human_work_kept(kit, notes)
    assert "DependencyErrorRatioHigh" not in kit.read(RULES) and "orders-db" not in kit.read(DASHBOARD)


# --- c. an SLO is renamed ----------------------------------------------------------------------------------

def test_renaming_an_slo_moves_the_notes_of_its_pages_to_the_renamed_pages(kit, generated):
    """availability -> success: the notes of AvailabilityBudgetBurn.md and AvailabilityBudgetExhausted.md
    land in SuccessBudgetBurn.md and SuccessBudgetExhausted.md, the old pages are deleted, nothing
    goes to the orphans folder; the hot-fixed rules file is a conflict, untouched."""
    add_human_work(kit)
    kit.edit("service.yaml", OBJECTIVE_999, RENAMED_SLO)
    before = kit.tree()

    result = kit.sync()

    assert result.returncode == 3, output(result)
    moves = {page("AvailabilityBudgetBurn"): page("SuccessBudgetBurn"),
             page("AvailabilityBudgetExhausted"): page("SuccessBudgetExhausted")}
    for old, new in moves.items():
        assert f"deleted {shown(old)} (its keep-regions moved to {shown(new)})" in result.stdout
        assert kit.region(new) == NOTES[old]
        assert not kit.path(old).exists()
        fresh = generated(kit.read("service.yaml"))[new].decode()
        assert kit.read(new) == with_region(fresh, new, "notes", NOTES[old])
    assert not kit.path(ORPHANS).exists()
    rewritten = {DASHBOARD, RULE_TESTS, OPENSLO, CATALOG, page("README"), page("SLONoData"),
                 page("DependencyErrorRatioHigh"), page("DependencyLatencyHigh")}  # they list the SLOs a failing dependency hits
    after = kit.tree()
    assert changed(before, after) == (set(moves) | set(moves.values()) | rewritten | {MANIFEST})
    assert after[RULES] == before[RULES]
    assert_human_work_kept(kit, {moves.get(p, p): c for p, c in NOTES.items()})


# --- d. nothing changes but a hand edit -----------------------------------------------------------------

def test_a_hand_edit_with_nothing_new_from_opgen_is_kept_reported_by_check_and_restored_by_force(kit, generated):
    """No descriptor change: sync keeps the hot-fixed file (exit 0, not one byte written), --check
    exits 0 since a sync leaves it as it is, and says one file is edited by hand (and nothing of the
    notes), --force restores opgen's output and writes FILE.orig with the human version."""
    add_human_work(kit)
    human_rules = kit.read(RULES)
    before = kit.tree()

    result = kit.sync()

    assert result.returncode == 0, output(result)
    assert f"kept {shown(RULES)}: edited by hand, and a sync leaves it as it is" in result.stdout
    assert "0 updated" in result.stdout and "1 kept" in result.stdout
    assert kit.tree() == before
    check = kit.sync("--check")
    assert check.returncode == 0
    assert check.stdout.splitlines() == ["opgen: 18 file(s) in sync (1 edited by hand, which sync leaves as they are)."]

    forced = kit.sync("--force")

    assert forced.returncode == 0, output(forced)
    assert f"overwrote {shown(RULES)} (edited by hand; your version is in {shown(RULES)}.orig)" in forced.stdout
    assert kit.tree()[RULES] == generated(ORIGINAL)[RULES]
    assert kit.read(RULES + ".orig") == human_rules
    assert changed(before, kit.tree()) == {RULES, RULES + ".orig"}
    assert_human_work_kept(kit, hot_fix=False)
    assert kit.sync("--check").returncode == 0


def test_diff_shows_nothing_for_a_hand_edited_file_that_sync_keeps(kit):
    """`opgen diff` shows what `opgen sync` would change; with nothing new from opgen, sync keeps the
    hot-fix, so the diff is empty and exits 0."""
    add_human_work(kit)
    assert kit.sync().returncode == 0  # sync would, and does, keep it

    result = kit.diff()

    assert shown(RULES) not in result.stdout, result.stdout
    assert result.returncode == 0


def test_notes_that_quote_a_conflict_marker_are_still_only_notes(kit):
    """Editing inside a region is never a hand edit, whatever the region holds (short of marker lines)."""
    kit.fill(page("SLONoData"), "If the deploy repo shows\n<<<<<<< HEAD\nresolve that first.\n>>>>>>> main\n")

    result = kit.sync()

    assert result.returncode == 0, output(result)
    assert kit.sync("--check").returncode == 0


# --- e. what sync says it did --------------------------------------------------------------------------

def test_json_lists_every_path_under_what_happened_to_it(kit):
    """One sync --merge --json that does everything at once: the SLO renamed and every dependency
    removed, the rules file hot-fixed (merges), Terraform hot-fixed (nothing new: kept), OpenSLO edited
    on a line opgen rewrites (conflict), a dependency page with notes (deleted, notes orphaned) and one
    edited outside its regions (orphaned file). --check --json first says what would happen."""
    add_human_work(kit, {page("AvailabilityBudgetBurn"): NOTES[page("AvailabilityBudgetBurn")],
                         page("DependencyErrorRatioHigh"): "dep notes\n"})
    kit.write(page("DependencyLatencyHigh"), kit.read(page("DependencyLatencyHigh")) + "\nCall the DBA.\n")
    kit.edit(TERRAFORM, "max_capacity       = 30", "max_capacity       = 40")
    kit.edit(OPENSLO, "99.9% over 30d'", "99.9% over 30 days'")
    kit.describe(replace_once(NO_DEPENDENCIES, OBJECTIVE_999, RENAMED_SLO))
    before = kit.tree()

    def paths(*relative: str) -> list[str]:
        return sorted(shown(p) for p in relative)

    expected = {
        "created": paths(page("SuccessBudgetBurn"), page("SuccessBudgetExhausted")),
        "updated": paths(CATALOG, DASHBOARD, TELEMETRY, RULE_TESTS, page("ProcessingBudgetBurn"), page("README"), page("SLONoData")),
        "unchanged": paths("ops/alertmanager/routes.yml", page("CPUNearLimit"), page("MemoryNearLimit"), page("ProcessingBudgetExhausted")),
        "kept": paths(TERRAFORM),
        "merged": paths(RULES),
        "deleted": paths(page("AvailabilityBudgetBurn"), page("AvailabilityBudgetExhausted"), page("DependencyErrorRatioHigh")),
        "conflicts": paths(OPENSLO),
        "orphaned_files": paths(page("DependencyLatencyHigh")),
        "orphaned_regions": paths(f"{ORPHANS}/runbooks/orders/DependencyErrorRatioHigh.md.notes"),
        "backups": [],
    }

    check = kit.sync("--check", "--json")
    assert check.returncode == 1
    would = json.loads(check.stdout)
    expected |= {"changed_meanwhile": [], "renamed_services": {}}
    assert would == expected | {"check": True, "merged": [], "conflicts": paths(OPENSLO, RULES),
                                "orphaned_regions": [shown(page("DependencyErrorRatioHigh")) + "#notes"]}
    assert kit.tree() == before

    result = kit.sync("--merge", "--json")

    assert result.returncode == 3, output(result)
    assert json.loads(result.stdout) == expected | {"check": False}
    assert kit.read(f"{ORPHANS}/runbooks/orders/DependencyErrorRatioHigh.md.notes") == "dep notes\n"
    assert kit.region(page("SuccessBudgetBurn")) == NOTES[page("AvailabilityBudgetBurn")]
    assert "<<<<<<< your edits\n" in kit.read(OPENSLO) and "99.9% over 30 days'" in kit.read(OPENSLO)
    assert CPU_HOT_FIX in kit.read(RULES) and "max_capacity       = 40" in kit.read(TERRAFORM)


def test_diff_prints_a_unified_diff_of_what_sync_would_change_and_writes_nothing(kit):
    add_human_work(kit, hot_fix=False)
    kit.edit("service.yaml", OBJECTIVE_999, OBJECTIVE_9995)
    before = kit.tree()

    result = kit.diff()

    assert result.returncode == 1, output(result)
    headers = re.findall(r"^--- (\S+) \(on disk\)\n\+\+\+ \1 \(from the descriptor\)$", result.stdout, re.MULTILINE)
    assert sorted(headers) == sorted(shown(p) for p in OBJECTIVE_REWRITES | {RULES})
    assert "\n-" + BURN_OLD.splitlines()[0] + "\n" in result.stdout and "\n+" + BURN_NEW.splitlines()[0] + "\n" in result.stdout
    assert kit.tree() == before  # not a byte written, not even the lock

    assert kit.sync().returncode == 0
    after = kit.diff()
    assert after.returncode == 0 and after.stdout == ""


# --- 2. the property: region content is never lost ------------------------------------------------------

SLO_NAMES = ("availability", "success", "requests")
OBJECTIVES = ("99", "99.5", "99.9", "99.95")
DEPENDENCIES = {
    "orders-db": "{name: orders-db, kind: postgres, critical: true}",
    "sessions": "{name: sessions, kind: redis}",
    "payments": "{name: payments, kind: http, service: payments, critical: true}",
}
SLO_PAGE_SUFFIXES = ("BudgetBurn.md", "BudgetExhausted.md")


@dataclass(frozen=True)
class Shape:
    """The parts of the descriptor the property changes."""
    slo: str = "availability"
    objective: str = "99.9"
    tier: int = 2
    dependencies: frozenset[str] = frozenset({"orders-db"})

    def descriptor(self) -> str:
        text = replace_once(NO_DEPENDENCIES, OBJECTIVE_999, f"{{name: {self.slo}, objective: {self.objective},")
        text = replace_once(text, "  tier: 2\n", f"  tier: {self.tier}\n")
        if self.dependencies:
            text += "  dependencies:\n" + "".join(f"    - {DEPENDENCIES[d]}\n" for d in sorted(self.dependencies))
        return text


descriptor_changes = st.one_of(
    st.tuples(st.just("objective"), st.sampled_from(OBJECTIVES)),
    st.tuples(st.just("toggle dependency"), st.sampled_from(sorted(DEPENDENCIES))),
    st.tuples(st.just("rename slo"), st.sampled_from(SLO_NAMES)),
    st.tuples(st.just("tier"), st.integers(1, 4)),
)


def changed_shape(shape: Shape, change: tuple) -> Shape:
    kind, value = change
    if kind == "objective":
        return replace(shape, objective=value)
    if kind == "toggle dependency":
        return replace(shape, dependencies=shape.dependencies ^ {value})
    if kind == "rename slo":
        return replace(shape, slo=value)
    return replace(shape, tier=value)


MARKER_LINE = re.compile(r"^\s*(<!--\s*opgen:(keep\s+\S+|end)\s*-->|#\s*opgen:(keep\s+\S+|end))\s*$")
CONFLICT_LINE = re.compile(r"^(<<<<<<<|>>>>>>>) ")  # covered by test_notes_that_quote_a_conflict_marker_are_still_only_notes
METACHARACTERS = ["*", "_", "`", "```", "# ", "## ", "<!--", "-->", "<b>", "</b>", "[x](y.md)", "|", "\\", "$", "{{ x }}",
                  "{% if %}", "{#", '"""', "'''", "\t", "    ", "\n", "- ", "> ", "%s", "${HOME}", "import os", "def f():",
                  "opgen", "opgen:keep", "opgen:end", "keep", "=======", "|||||||", "é", "→", "🚨"]
ALPHABET = [c for c in string.printable if c not in "\r\x0b\x0c"] + ["é", "ß", "→", "🚨", "中"]
region_texts = st.lists(st.one_of(st.sampled_from(METACHARACTERS), st.text(st.sampled_from(ALPHABET), max_size=30)),
                        max_size=6).map("".join).filter(
    lambda text: not any(MARKER_LINE.match(line) or CONFLICT_LINE.match(line) for line in text.split("\n")))


def in_process_sync(folder: Path):
    """What `opgen sync FOLDER` does (cli.py), without a new interpreter: load, plan, apply."""
    from opgen.sync.run import apply, load_services, plan

    report = plan(load_services([folder]))
    apply(report)
    return report


def camel(slo: str) -> str:
    return slo[:1].upper() + slo[1:]


@pytest.fixture(scope="module")
def property_template(tmp_path_factory) -> Path:
    """A synced tree of Shape()'s descriptor, copied by each example."""
    root = tmp_path_factory.mktemp("property")
    return new_kit(root, Shape().descriptor()).folder


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_region_content_is_never_lost_whatever_the_descriptor_changes(property_template, data):
    """Random descriptor changes (objective, a dependency toggled, the SLO renamed, tier), each after
    random region edits (appended to the notes of a random runbook page or to the telemetry module's
    custom region), each followed by a sync: after every step, every piece of region content ever
    written is still in its page's region, in the page that replaced it after a rename, or in the
    ops/.opgen/orphans/ file of its page. Region edits are never taken for hand edits."""
    from opgen.sync import plan as actions
    from opgen.sync.run import load_services, plan

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / FOLDER
        shutil.copytree(property_template, folder)
        kit = Kit(Path(temporary))
        shape = Shape()
        where: dict[str, str] = {}  # every snippet written -> the page (or TELEMETRY) that should hold it
        for step in range(data.draw(st.integers(1, 4), label="steps")):
            for _ in range(data.draw(st.integers(0, 2), label="region edits")):
                pages = sorted(f"{PAGES}/{md.name}" for md in (folder / PAGES).glob("*.md") if md.name != "README.md")
                target = data.draw(st.sampled_from([TELEMETRY, *pages]), label="region")
                snippet = f"[note {len(where)}] {data.draw(region_texts, label='text')}\n"
                name = "custom" if target == TELEMETRY else "notes"
                kit.fill(target, kit.region(target, name) + snippet, name)
                where[snippet] = target
            change = data.draw(descriptor_changes, label="change")
            old_slo, shape = shape.slo, changed_shape(shape, change)
            kit.describe(shape.descriptor())

            report = in_process_sync(folder)

            hand_edits = [ch.path for _, ch in report.changes
                          if ch.action in (actions.CONFLICT, actions.KEPT, actions.ORPHANED, actions.MERGED)]
            assert hand_edits == [], f"region edits taken for hand edits: {hand_edits}"
            for snippet, path in where.items():
                name = Path(path).name
                if old_slo != shape.slo and name.startswith(camel(old_slo)) and name.endswith(SLO_PAGE_SUFFIXES):
                    path = where[snippet] = f"{PAGES}/{camel(shape.slo)}{name.removeprefix(camel(old_slo))}"
                    event("notes followed a renamed page")
                if path.startswith(f"{ORPHANS}/"):
                    assert snippet in kit.read(path), f"step {step}: {snippet!r} lost from {path}"
                elif kit.path(path).exists():
                    region = kit.region(path, "custom" if path == TELEMETRY else "notes")
                    assert snippet in region, f"step {step}: {snippet!r} lost from {path}"
                else:
                    saved = f"{ORPHANS}/{path.removeprefix('ops/')}.notes"
                    assert kit.path(saved).exists() and snippet in kit.read(saved), f"step {step}: {snippet!r} of {path} lost"
                    where[snippet] = saved
                    event("notes saved to the orphans folder")
        assert plan(load_services([folder])).drifted == []  # and --check is clean


# --- 3. crashes -----------------------------------------------------------------------------------------

CRASH_A = ORIGINAL
CRASH_B = replace_once(replace_once(NO_DEPENDENCIES, OBJECTIVE_999, OBJECTIVE_9995), "  tier: 2\n", "  tier: 1\n")
CRASH_NOTES = {page("AvailabilityBudgetBurn"): NOTES[page("AvailabilityBudgetBurn")], page("SLONoData"): NOTES[page("SLONoData")]}


def temporary_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.opgen-tmp") if TEMP_FILE.match(p.name))


def test_a_sync_killed_at_any_moment_leaves_every_file_old_or_new_and_the_next_sync_finishes(tmp_path, capsys):
    """SIGKILL `opgen sync` after a random delay, 30 times, alternating between two descriptors that
    differ in every generated file (tier, objective, dependencies: rewrites, creates and deletes), on
    a tree with notes and custom code. After each kill every file under ops/ (outside .opgen/) holds
    its old bytes or its new bytes (or is absent, if one version has no such file); the next sync
    exits 0, sweeps the temporary files the kill left, and leaves exactly the new tree; --check is
    then clean. A third of the kills come after a random delay anywhere in the run; the rest after a
    random delay from the moment the sync starts writing (watched), within its write phase (measured
    first), so that many kills land between two writes."""
    from opgen.sync.run import load_services, plan

    kit = new_kit(tmp_path, CRASH_A)
    for path, content in CRASH_NOTES.items():
        kit.fill(path, content)
    kit.fill(TELEMETRY, CODE["custom"], "custom")
    assert kit.sync().returncode == 0
    expected = {CRASH_A: visible(kit.tree())}

    def timed_sync(descriptor: str) -> tuple[float, float, float]:
        """Seconds from the start of a sync to its first write, its last write (the manifest), its end."""
        kit.describe(descriptor)
        old = kit.tree()
        start = time.time()
        result = kit.sync()
        end = time.time() - start
        assert result.returncode == 0, output(result)
        first = min(kit.path(p).stat().st_mtime for p in changed(old, kit.tree()) if kit.path(p).exists())
        return first - start, kit.path(MANIFEST).stat().st_mtime - start, end

    timed_sync(CRASH_B)
    expected[CRASH_B] = visible(kit.tree())
    assert len(changed(expected[CRASH_A], expected[CRASH_B])) >= 16
    first_write, last_write, duration = timed_sync(CRASH_A)
    assert visible(kit.tree()) == expected[CRASH_A]

    def state(files: dict[str, bytes]) -> dict[str, bytes]:
        return {p: b for p, b in files.items() if not TEMP_FILE.match(Path(p).name)}

    write_phase = max(0.02, last_write - first_write)

    def wait_for_the_first_write(process: subprocess.Popen, files: list[Path]) -> None:
        mtimes = {f: f.stat().st_mtime_ns for f in files}
        while process.poll() is None:
            try:
                if any(f.stat().st_mtime_ns != m for f, m in mtimes.items()):
                    return
            except FileNotFoundError:
                return
            time.sleep(0.001)

    rng = random.Random(20260315)
    outcomes = {"before any write": 0, "between two writes": 0, "after every write": 0, "after it ended": 0}
    swept = 0
    rounds, old = 0, CRASH_A
    while rounds < 20:  # a count, not a time budget: a loaded CI machine runs the same kills, slower
        new = CRASH_B if old == CRASH_A else CRASH_A
        kit.describe(new)
        before = state(kit.tree())
        in_write_phase = rounds % 3 != 0
        delay = rng.uniform(0, write_phase * 1.2) if in_write_phase else rng.uniform(0, duration)
        process = subprocess.Popen([sys.executable, "-m", "opgen", "sync", FOLDER], cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if in_write_phase:
            wait_for_the_first_write(process, [kit.path(p) for p in before])
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()

        killed = kit.tree()
        files = visible(killed)
        for path in files.keys() | expected[old].keys() | expected[new].keys():
            assert files.get(path) in {expected[old].get(path), expected[new].get(path)}, (
                f"round {rounds} (killed {delay:.3f}s after {'its first write' if in_write_phase else 'its start'}): {path} is neither its old nor its new version"
                f"{' (it is absent)' if path not in files else ''}")
        temporary = temporary_files(kit.folder)

        result = kit.sync()

        assert result.returncode == 0, f"round {rounds}, after a kill ({delay:.3f}s):\n{output(result)}"
        assert visible(kit.tree()) == expected[new]
        assert temporary_files(kit.folder) == [], "the next sync leaves the temporary files of the killed one"
        assert plan(load_services([kit.folder])).drifted == [], f"round {rounds}: --check is not clean"
        swept += len(temporary)
        outcome = ("after it ended" if process.returncode == 0 else "before any write" if state(killed) == before
                   else "after every write" if state(killed) == state(kit.tree()) else "between two writes")
        outcomes[outcome] += 1
        rounds, old = rounds + 1, new

    assert outcomes["between two writes"] >= 1, f"no kill landed between two writes: {outcomes}"
    check = kit.sync("--check")
    assert check.returncode == 0, output(check)
    with capsys.disabled():
        print(f"\n[crash test] {rounds} kills: {outcomes}; temporary files left by kills and swept by the next sync: {swept}")


# A kill at each write boundary in turn, for the guarantees a random kill finds only by luck.

class Killed(BaseException):
    """A kill at a write boundary."""


class CrashAt:
    """Sync's writes, renames of staged files and deletes, with a crash instead of the `step`-th
    (from 0): that one and every later one never happen. Atomic writes make write boundaries the only states a kill can leave
    (the SIGKILL test above checks that), so every state a killed sync can leave is one of these."""

    def __init__(self, step: int):
        import opgen.sync.run as run
        import opgen.sync.write as write_module

        self.step, self.count = step, 0
        real_write, real_rename, real_unlink = run.atomic_write, write_module._rename, Path.unlink

        def write(path, text, **options):
            self.tick()
            real_write(path, text, **options)

        def rename(temp, path):  # a batch's staged file put in place
            self.tick()
            real_rename(temp, path)

        def unlink(path, missing_ok=False):
            self.tick()
            real_unlink(path, missing_ok=missing_ok)

        self.patches = [mock.patch.object(run, "atomic_write", write), mock.patch.object(write_module, "_rename", rename),
                        mock.patch.object(Path, "unlink", unlink)]

    def tick(self) -> None:
        if self.count == self.step:
            raise Killed
        self.count += 1

    def __enter__(self):
        for patch in self.patches:
            patch.start()
        return self

    def __exit__(self, kind, *_):
        for patch in reversed(self.patches):
            patch.stop()
        return kind is Killed


def killed_syncs(tmp_path: Path, before: str, after: str, notes: dict[str, str]):
    """A synced tree of `before` with `notes`, its descriptor changed to `after`, and a sync to `after`
    killed at each write boundary in turn: yields (boundary, kit) with the tree the kill left."""
    from opgen.sync.run import apply, load_services, plan

    kit = new_kit(tmp_path / "crash", before)
    for path, content in notes.items():
        kit.fill(path, content)
    kit.describe(after)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(kit.folder, snapshot)
    report = plan(load_services([kit.folder]))
    with CrashAt(-1) as counting:
        apply(report)
    assert counting.count > 5
    for step in range(counting.count):
        shutil.rmtree(kit.folder)
        shutil.copytree(snapshot, kit.folder)
        report = plan(load_services([kit.folder]))  # of these very files: sync replaces only what it read
        with CrashAt(step):
            apply(report)
        yield step, kit


def test_a_sync_killed_during_an_slo_rename_loses_no_notes(tmp_path):
    """Kill the availability -> success sync at every write boundary, then sync again: the notes of
    AvailabilityBudgetBurn.md are in SuccessBudgetBurn.md (or saved under the orphans folder)."""
    note = NOTES[page("AvailabilityBudgetBurn")]
    lost = []
    for step, kit in killed_syncs(tmp_path, ORIGINAL, replace_once(ORIGINAL, OBJECTIVE_999, RENAMED_SLO),
                                  {page("AvailabilityBudgetBurn"): note}):
        in_process_sync(kit.folder)
        holders = {p for p, content in kit.tree().items() if note.encode() in content}
        if page("SuccessBudgetBurn") not in holders and not any(p.startswith(f"{ORPHANS}/") for p in holders):
            lost.append(step)
    assert lost == [], f"the notes are lost after a kill at write boundaries {lost}"


def test_files_a_killed_sync_wrote_are_not_taken_for_hand_edits_when_the_descriptor_changes_again(tmp_path, generated):
    """Kill the 99.9 -> 99.95 sync at every write boundary, change the descriptor back, sync: no
    conflicts, and the tree is what opgen generates from 99.9 (with the notes)."""
    notes = {page("AvailabilityBudgetBurn"): NOTES[page("AvailabilityBudgetBurn")]}
    expected = {p: with_region(c.decode(), p, "notes", notes[p]).encode() if p in notes else c
                for p, c in visible(generated(ORIGINAL)).items()}
    false_hand_edits = {}
    for step, kit in killed_syncs(tmp_path, ORIGINAL, replace_once(ORIGINAL, OBJECTIVE_999, OBJECTIVE_9995), notes):
        kit.describe(ORIGINAL)
        report = in_process_sync(kit.folder)
        edited = sorted(ch.path for _, ch in report.changes if ch.action not in ("create", "update", "unchanged", "delete"))
        if edited or visible(kit.tree()) != expected:
            false_hand_edits[step] = edited
    assert false_hand_edits == {}, f"kill point -> files sync took for hand edits: {false_hand_edits}"


def test_after_a_killed_sync_a_hot_fixed_stale_file_is_still_a_conflict(tmp_path, generated):
    """Kill the 99.9 -> 99.95 sync at every write boundary; hot-fix each file the kill left at 99.9 (a
    line added outside any region); sync: every such file is a conflict (opgen has something new
    for a hand-edited file), none is silently kept."""
    old, new = visible(generated(ORIGINAL)), visible(generated(replace_once(ORIGINAL, OBJECTIVE_999, OBJECTIVE_9995)))
    hidden = {}
    for step, kit in killed_syncs(tmp_path, ORIGINAL, replace_once(ORIGINAL, OBJECTIVE_999, OBJECTIVE_9995), {}):
        stale = sorted(p for p, content in visible(kit.tree()).items() if content == old[p] != new[p])
        for path in stale:
            kit.write(path, kit.read(path) + "hot-fix\n")
        report = in_process_sync(kit.folder)
        actions = {ch.path: ch.action for _, ch in report.changes}
        kept = [p for p in stale if actions[p.removeprefix("ops/")] != "conflict"]
        if kept:
            hidden[step] = kept
    assert hidden == {}, f"kill point -> stale hand-edited files sync kept without a conflict: {hidden}"


# --- 4. two syncs at once, and a held lock -------------------------------------------------------------

def fleet(root: Path) -> Path:
    """A folder of nine services that share one ops/ (a sync of it takes over a second)."""
    root.mkdir()
    for descriptor in sorted(TEST_DESCRIPTORS.glob("*.yaml")) + [TEST_DESCRIPTORS.parents[1] / "examples/checkout/service.yaml"]:
        name = descriptor.stem if descriptor.stem != "service" else "checkout"
        shutil.copy(descriptor, root / f"{name}.opgen.yaml")
    return root


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not is_stat_cache(p)}


def test_two_syncs_of_one_tree_at_once_give_the_result_of_one(tmp_path):
    """Both exit 0, one writes everything and the other then finds it all unchanged (the lock makes
    them take turns), the tree is byte for byte a single sync's, and --check is clean."""
    single, twice = fleet(tmp_path / "single"), fleet(tmp_path / "twice")
    command = [sys.executable, "-m", "opgen", "sync", "."]
    processes = [subprocess.Popen(command, cwd=twice, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    results = [process.communicate(timeout=120) + (process.returncode,) for process in processes]
    assert run_opgen("sync", ".", cwd=single).returncode == 0

    assert [code for _, _, code in results] == [0, 0], results
    summaries = sorted(out.splitlines()[-1] for out, _, _ in results)
    count = len([p for p in files_of(single) if p.startswith("ops/") and not p.startswith(f"{STATE}/")])
    assert summaries == [f"opgen: 0 created, 0 updated, {count} unchanged, 0 kept, 0 merged, 0 deleted, 0 in conflict.",
                         f"opgen: {count} created, 0 updated, 0 unchanged, 0 kept, 0 merged, 0 deleted, 0 in conflict."]
    assert files_of(twice) == files_of(single)
    check = run_opgen("sync", "--check", ".", cwd=twice)
    assert check.returncode == 0, output(check)


def test_a_sync_that_cannot_get_the_lock_gives_up_naming_it_and_writes_nothing(kit):
    """Another sync holds ops/.opgen/lock: `sync --lock-timeout 1` waits a second, exits 2 with a
    message naming the lock, and writes nothing; once the lock is free, the same sync goes through."""
    from filelock import FileLock

    kit.edit("service.yaml", OBJECTIVE_999, OBJECTIVE_9995)  # so that a sync would write
    before = kit.tree()
    with FileLock(str(kit.path(f"{STATE}/lock"))):
        start = time.monotonic()
        result = kit.sync("--lock-timeout", "1")
        waited = time.monotonic() - start
        assert kit.tree() == before

    assert result.returncode == 2, output(result)
    assert waited >= 1
    problems = [line for line in result.stderr.splitlines() if ": warning: " not in line]  # the descriptor's warnings come first
    assert problems[0].startswith(f"opgen: another opgen sync has held {shown(STATE)}/lock for 1s;"), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert kit.sync().returncode == 0
