"""Regeneration you can trust with a team's work (issue 12): each case a hostile review of sync
found, as a scenario through the real CLI on a real tree.

- Human work that used to be lost: marker lines from descriptor text, two SLO pages renamed into
  one, a save during a sync, a second --force, hidden temporary files of others.
- Writes and deletes outside the tree: symlinks in opgen's state folder.
- Crashes that are clear errors: exit 2, the path named, no traceback, nothing written.
- `--check` that never says clean when a sync would change something, and conflicts that are
  never forgotten; an edit that a sync would leave as it is counts as in sync.
- A renamed service leaves one kit, not two.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_opgen
from opgen import conventions as c
from test_regeneration import Kit, new_kit, region_of, with_region

STATE = "ops/.opgen"
MANIFEST = f"{STATE}/manifest.json"

SERVICE = """\
apiVersion: opgen/v1
kind: Service
metadata:
  name: orders
  team: commerce
  description: Takes orders.
spec:
  runtime: {platform: kubernetes, namespace: shop}
  interfaces: [{kind: http, port: 8080}]
  slos:
    - name: availability
      objective: 99.9
      sli: {kind: availability}
    - name: latency
      objective: 99
      sli: {kind: latency, threshold: 500ms}
"""
RULES = "ops/prometheus/orders.rules.yml"
BURN = "ops/runbooks/orders/AvailabilityBudgetBurn.md"
LATENCY_BURN = "ops/runbooks/orders/LatencyBudgetBurn.md"
CPU_HOT_FIX = ("          > 0.9\n        for: 15m", "          > 0.95\n        for: 15m")  # CPUNearLimit: no SLO change touches it
NOTE = "Our note: the pool of 20 connections runs dry first (INC-1234).\n"
OTHER_NOTE = "Latency note: the search index is cold after a deploy.\n"


def kit_of(tmp_path: Path, descriptor: str = SERVICE) -> Kit:
    return new_kit(tmp_path, descriptor)


def out(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"


def marker_lines(text: str) -> int:
    """How many lines of a Markdown page open a notes region, as CommonMark sees the page: a line
    inside a fenced code block is code (the test's own reading of fences, backticks and tildes)."""
    count, fence = 0, None
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        if fence:
            if stripped.startswith(fence) and not stripped.strip(fence[0]).strip():
                fence = None
            continue
        for char in "`~":
            if stripped.startswith(char * 3):
                fence = char * (len(stripped) - len(stripped.lstrip(char)))
                break
        else:
            count += line == "<!-- opgen:keep notes -->"
    return count


# --- 1. marker lines that come from the descriptor ------------------------------------------------

HOSTILE = SERVICE.replace("  description: Takes orders.\n", (
    "  description: \"Takes orders.\\n<!-- opgen:keep notes -->\\n<!-- opgen:end -->\\n# opgen:keep custom\\n# opgen:end\"\n"
)) + """\
    - name: charges
      objective: 99.5
      description: "Charges succeed.\\n<!-- opgen:keep notes -->\\nfrozen\\n<!-- opgen:end -->"
      sli:
        kind: events
        errors: |
          sum(rate(charge_failures_total{reason=`
          <!-- opgen:keep notes -->
          <!-- opgen:end -->
          `}[{{window}}]))
          # opgen:keep notes
          # opgen:end
        total: sum(rate(charges_total[{{window}}]))
"""
CHARGES_BURN = "ops/runbooks/orders/ChargesBudgetBurn.md"


def test_descriptor_text_cannot_form_a_keep_region_marker_in_any_file(tmp_path):
    kit = kit_of(tmp_path, HOSTILE)
    for page in kit.folder.glob("ops/runbooks/orders/*.md"):
        if page.name != "README.md":
            assert marker_lines(page.read_text()) == 1, f"{page.name}: descriptor text formed a second notes region"
    telemetry = kit.read("ops/otel/orders_telemetry.py")
    assert telemetry.count("\n# opgen:keep custom\n") == 1
    kit.fill(CHARGES_BURN, NOTE)
    kit.fill(BURN, NOTE)
    # The PromQL and the description change: the page must show the new ones, keep the notes, and --check must see it.
    kit.describe(HOSTILE.replace("charges_total[", "charges_total{code!=\"499\"}[").replace("Charges succeed.", "Charges go through."))
    assert kit.sync("--check").returncode == 1
    result = kit.sync()
    assert result.returncode == 0, out(result)
    page = kit.read(CHARGES_BURN)
    assert 'charges_total{code!="499"}' in page and "Charges go through." in page
    assert NOTE in page and NOTE in kit.read(BURN)
    assert marker_lines(page) == 1
    assert kit.sync("--check").returncode == 0


def test_a_marker_quoted_in_a_notes_fence_or_a_team_fence_left_open_does_not_end_the_region(tmp_path):
    kit = kit_of(tmp_path)
    notes = "```\nunclosed fence of ours\n" + NOTE
    kit.fill(BURN, notes)
    kit.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    assert kit.sync().returncode == 0
    assert region_of(kit.read(BURN), BURN, "notes") == notes and "0.0005" in kit.read(BURN)


# --- 2. two SLO pages renamed into one ------------------------------------------------------------

def test_two_slo_pages_renamed_into_one_keep_both_notes(tmp_path):
    kit = kit_of(tmp_path)
    kit.fill(BURN, NOTE)
    kit.fill(LATENCY_BURN, OTHER_NOTE)
    kit.describe(SERVICE[:SERVICE.index("    - name: availability")] + (
        "    - name: success\n      objective: 99.9\n      sli: {kind: availability}\n"))
    result = kit.sync()
    assert result.returncode == 0, out(result)
    everything = "".join(p.read_text() for p in kit.folder.rglob("*") if p.is_file())
    assert NOTE in everything and OTHER_NOTE in everything, out(result)
    success = region_of(kit.read("ops/runbooks/orders/SuccessBudgetBurn.md"), "x.md", "notes")
    assert not (NOTE in success and OTHER_NOTE in success)
    orphans = "".join(p.read_text() for p in (kit.folder / STATE / "orphans").rglob("*") if p.is_file())
    assert NOTE in orphans + success and OTHER_NOTE in orphans + success
    assert "orphans" in result.stderr  # sync says where the notes went


# --- 3. a save during a sync ------------------------------------------------------------------------

def test_a_save_during_a_sync_is_left_reported_and_exits_3(tmp_path, monkeypatch):
    """An editor saves the runbook page after sync read it and before sync renames its new version
    in (here: while the staged files are flushed to disk, the moment before the renames)."""
    from click.testing import CliRunner

    from opgen import cli
    from opgen.sync import write

    kit = kit_of(tmp_path)
    kit.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    saved = kit.read(BURN) + "Saved by an editor during the sync.\n"
    real_flush = write._flush_to_disk
    saves: list = []

    def flush_while_an_editor_saves():
        if not saves:
            saves.append(1)
            kit.write(BURN, saved)
        real_flush()

    monkeypatch.setattr(write, "_flush_to_disk", flush_while_an_editor_saves)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.main, ["sync", "orders"])
    assert saves, "the sync flushed nothing"
    assert kit.read(BURN) == saved, result.output
    assert result.exit_code == 3, result.output
    assert "changed while opgen was syncing" in result.output
    assert "0.0005" in kit.read(RULES)  # the other files were written
    monkeypatch.setattr(write, "_flush_to_disk", real_flush)
    # The save is a hand edit from now on: not taken for opgen's output, and opgen's change for it still pending.
    assert kit.sync("--check").returncode == 1
    merged = kit.sync("--merge")
    assert merged.returncode == 0 and "Saved by an editor" in kit.read(BURN) and "0.0005" in kit.read(BURN), out(merged)


# --- 4. a second --force ----------------------------------------------------------------------------

def test_a_second_force_never_overwrites_the_first_backup(tmp_path):
    kit = kit_of(tmp_path)
    first = kit.read(RULES) + "# first edit\n"
    kit.write(RULES, first)
    kit.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    assert kit.sync("--force").returncode == 0
    second = kit.read(RULES) + "# second edit\n"
    kit.write(RULES, second)
    kit.describe(SERVICE)
    result = kit.sync("--force")
    assert result.returncode == 0, out(result)
    backups = sorted(p.read_text() for p in kit.path("ops/prometheus").glob("orders.rules.yml.orig*"))
    assert first in backups and second in backups, result.stdout
    assert "overwrote" in result.stdout and "1 overwritten, 0 in conflict." in result.stdout, result.stdout


# --- 5. temporary files of others --------------------------------------------------------------------

def test_sync_deletes_no_hidden_temp_file_it_did_not_create(tmp_path):
    kit = kit_of(tmp_path)
    theirs = [kit.path("ops/.bashrc.tmp"), kit.path("ops/runbooks/orders/.draft.md.tmp"), kit.path(f"{STATE}/.mine.tmp")]
    for path in theirs:
        path.write_text("someone else's\n")
    kit.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    assert kit.sync().returncode == 0
    assert all(p.read_text() == "someone else's\n" for p in theirs)


# --- writes and deletes outside the tree -------------------------------------------------------------

@pytest.mark.parametrize("link", [STATE, f"{STATE}/base", f"{STATE}/orphans", MANIFEST, f"{STATE}/lock",
                                  f"{STATE}/pending.json", f"{STATE}/stat-cache.json"])
def test_symlinks_in_the_state_folder_never_lead_a_sync_outside_the_tree(tmp_path, link):
    kit = kit_of(tmp_path / "repo")
    kit.fill(BURN, NOTE)
    outside = tmp_path / "victim"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me\n")
    target = kit.path(link)
    if target.is_dir():
        shutil.copytree(target, outside, dirs_exist_ok=True)
        shutil.rmtree(target)
    elif target.exists():
        shutil.copy(target, outside / "copied")
        target.unlink()
    before = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(outside if link in (STATE, f"{STATE}/base", f"{STATE}/orphans") else outside / "copied")
    # A change that writes pages, deletes one (an SLO removed, its notes orphaned) and rewrites the state.
    kit.describe(SERVICE[:SERVICE.index("    - name: availability")] + (
        "    - name: latency\n      objective: 99\n      sli: {kind: latency, threshold: 500ms}\n"))
    result = kit.sync()
    after = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    assert after == before, out(result)
    assert result.returncode == 2 and "Traceback" not in result.stderr, out(result)
    assert "symlink" in result.stderr or "outside" in result.stderr


# --- crashes that must be clear errors -----------------------------------------------------------------

def assert_clear_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, out(result)
    assert "Traceback" not in result.stderr, out(result)
    for text in expected:
        assert text in result.stderr, out(result)


@pytest.mark.parametrize("edit, where", [
    (("spec:\n", "spec:\n  traffic: {baseline_rps: 10, peak_rps: 1e30, per_instance_rps: 20}\n"), "service.yaml:8:"),
    (("team: commerce", "team: commerce\n  tier: " + "9" * 5000), "service.yaml:6:"),
])
def test_absurd_numbers_are_refused_by_validate_and_sync(tmp_path, edit, where):
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "service.yaml").write_text(SERVICE.replace(*edit))
    for command in ("validate", "sync"):
        result = run_opgen(command, "orders", cwd=tmp_path)
        assert_clear_error(result, where)
    assert not (folder / "ops").exists()


def test_a_file_where_opgen_needs_a_folder_is_a_clear_error(tmp_path):
    kit = kit_of(tmp_path)
    shutil.rmtree(kit.path("ops/runbooks"))
    kit.path("ops/runbooks").write_text("not a folder\n")
    kit.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    assert_clear_error(kit.sync(), "ops/runbooks")
    assert kit.path("ops/runbooks").read_text() == "not a folder\n"
    (tmp_path / "afile").write_text("x\n")
    assert_clear_error(run_opgen("sync", "--out", "afile", "orders", cwd=tmp_path), "afile")


def test_a_state_folder_that_is_a_file_is_a_clear_error(tmp_path):
    kit = kit_of(tmp_path)
    shutil.rmtree(kit.path(STATE))
    kit.path(STATE).write_text("not a folder\n")
    assert_clear_error(kit.sync(), ".opgen")


@pytest.mark.parametrize("content", ["[1, 2]", '{"version": 2, "files": {"a": Infinity}}', "[" * 100_000 + "]" * 100_000,
                                     '{"version": 2, "files": []}', "\xff\xfe"])
def test_a_corrupt_manifest_is_a_clear_error_and_nothing_is_written(tmp_path, content):
    kit = kit_of(tmp_path)
    kit.path(MANIFEST).write_text(content, encoding="latin-1")
    kit.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    before = kit.tree()
    for options in ((), ("--check",)):
        assert_clear_error(kit.sync(*options), "manifest.json")
    assert kit.tree() == before


def test_a_manifest_from_a_newer_opgen_is_refused_naming_it(tmp_path):
    kit = kit_of(tmp_path)
    data = json.loads(kit.read(MANIFEST))
    data.update(version=99, opgen="9.9.9")
    kit.write(MANIFEST, json.dumps(data))
    assert_clear_error(kit.sync(), "manifest.json", "9.9.9")


@pytest.mark.parametrize("special", ["zero", "fifo"])
@pytest.mark.parametrize("which", ["service.yaml", MANIFEST])
def test_special_files_are_refused_without_blocking(tmp_path, special, which):
    kit = kit_of(tmp_path)
    path = kit.path(which)
    path.unlink()
    if special == "zero":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    result = subprocess.run(["timeout", "20", *run_args("sync", "orders")], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 124, "opgen blocked on a special file"
    assert_clear_error(result, which.split("/")[-1])


def run_args(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "opgen", *args]


def test_lock_timeout_must_be_a_number_of_seconds(tmp_path):
    kit = kit_of(tmp_path)
    for value in ("nan", "inf", "-1"):
        assert_clear_error(kit.sync("--lock-timeout", value), "--lock-timeout")


def test_a_closed_stdout_is_a_clear_error(tmp_path):
    kit = kit_of(tmp_path)
    result = subprocess.run(run_args("sync", "--check", "orders"), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, close_fds=True, preexec_fn=lambda: os.close(1))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert kit.folder.exists()


def test_a_symlink_loop_as_path_is_a_clear_error(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert_clear_error(run_opgen("sync", "loop", cwd=tmp_path), "loop")
    assert_clear_error(run_opgen("validate", "loop", cwd=tmp_path), "loop")


# --- --check, conflicts that are never forgotten, edits a sync leaves alone ---------------------------

def test_conflicts_without_a_manifest_entry_stay_reported_until_resolved(tmp_path):
    kit = kit_of(tmp_path)
    kit.path(MANIFEST).unlink()  # adopting an existing ops/, or a deleted manifest
    kit.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    assert kit.sync().returncode == 3
    for _ in range(2):
        assert kit.sync().returncode == 3
        assert kit.sync("--check").returncode == 1
        assert kit.diff().returncode == 1
    assert "0.001" in kit.read(RULES)
    forced = kit.sync("--force")
    assert forced.returncode == 0 and "0.0005" in kit.read(RULES), out(forced)
    assert kit.sync("--check").returncode == 0


def test_a_kept_edit_is_in_sync_and_a_merged_one_too(tmp_path):
    kit = kit_of(tmp_path)
    hot_fix = kit.read(RULES).replace(*CPU_HOT_FIX, 1)
    assert hot_fix != kit.read(RULES)
    kit.write(RULES, hot_fix)
    assert kit.sync().returncode == 0  # kept: opgen has nothing new for the file
    assert kit.sync("--check").returncode == 0, "a sync leaves the file as it is: it is in sync"
    kit.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    assert kit.sync("--check").returncode == 1
    assert kit.sync("--merge").returncode == 0
    assert "> 0.95" in kit.read(RULES) and "0.0005" in kit.read(RULES)
    check = kit.sync("--check")
    assert check.returncode == 0, out(check)
    assert kit.sync().returncode == 0 and "> 0.95" in kit.read(RULES)


def test_force_says_what_it_did(tmp_path):
    kit = kit_of(tmp_path)
    kit.write(RULES, kit.read(RULES) + "# ours\n")
    kit.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    result = kit.sync("--force")
    assert result.returncode == 0
    assert "overwrote" in result.stdout and "1 overwritten, 0 in conflict." in result.stdout, result.stdout


def test_verify_fails_a_file_that_still_holds_conflict_markers(tmp_path):
    kit = kit_of(tmp_path)
    kit.write(BURN, kit.read(BURN).replace("## Meaning", "<<<<<<< your edits\n## Meaning\n=======\n## Means\n>>>>>>> opgen now", 1))
    result = run_opgen("verify", "orders", cwd=tmp_path)
    assert result.returncode == 1 and "conflict markers" in result.stdout, out(result)


# --- a renamed service ---------------------------------------------------------------------------------

def test_renaming_a_service_moves_its_kit_and_carries_the_notes(tmp_path):
    kit = kit_of(tmp_path)
    kit.fill(BURN, NOTE)
    kit.describe(SERVICE.replace("name: orders", "name: purchases"))
    result = kit.sync()
    assert result.returncode == 0, out(result)
    names = {p.relative_to(kit.folder).as_posix() for p in kit.path("ops").rglob("*") if p.is_file()
             and ".opgen" not in p.parts}
    assert not any("orders" in n for n in names), sorted(names)
    assert region_of(kit.read("ops/runbooks/purchases/AvailabilityBudgetBurn.md"), "x.md", "notes") == NOTE
    assert kit.sync("--check").returncode == 0


def test_renaming_a_service_reports_its_edited_files_and_never_leaves_two_kits(tmp_path):
    kit = kit_of(tmp_path)
    kit.write(RULES, kit.read(RULES) + "# ours\n")
    kit.describe(SERVICE.replace("name: orders", "name: purchases"))
    result = kit.sync()
    assert result.returncode == 3 and "orders.rules.yml" in result.stderr, out(result)
    assert kit.path(RULES).exists()  # edited: left for a person
    assert not kit.path(BURN).exists()  # unedited: gone with the old name
    forced = kit.sync("--force")
    assert forced.returncode == 0 and not kit.path(RULES).exists(), out(forced)
    assert kit.path(RULES + ".orig").exists()


# --- validation gaps --------------------------------------------------------------------------------------

@pytest.mark.parametrize("errors, problem", [
    ("sum(rate(failures_total[{{window}}])) or vector(1)", "vector"),
    ('sum(rate(failures_total{path="/{{window}}"}[{{window}}]))', "{{window}}"),
])
def test_events_promql_that_breaks_the_generated_tests_is_refused(tmp_path, errors, problem):
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "service.yaml").write_text(SERVICE + (
        "    - name: charges\n      objective: 99\n      sli:\n        kind: events\n"
        f"        errors: '{errors}'\n        total: 'sum(rate(charges_total[{{{{window}}}}]))'\n"))
    result = run_opgen("validate", "orders", cwd=tmp_path)
    assert_clear_error(result, "service.yaml:21:", problem)


# --- the base store: out of the reviewer's way --------------------------------------------------------

def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_no_second_copy_of_the_kit_and_a_one_line_change_touches_only_what_changed(tmp_path):
    kit = kit_of(tmp_path / "kit")
    assert not kit.path(f"{STATE}/base").exists()
    before = kit.tree()
    changed_descriptor = SERVICE.replace("description: Takes orders.", "description: Takes and tracks orders.")
    kit.describe(changed_descriptor)
    assert kit.sync().returncode == 0
    after = kit.tree()
    touched = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    fresh = kit_of(tmp_path / "fresh", changed_descriptor).tree()
    content_changed = {p for p in fresh if p.startswith("ops/") and p != MANIFEST and fresh[p] != before.get(p)}
    assert content_changed and touched == content_changed | {MANIFEST, "service.yaml"}, sorted(touched)
    assert not any(p.startswith(f"{STATE}/base") for p in after)


@pytest.mark.parametrize("pristine_committed", [True, False])
def test_a_fresh_clone_still_merges_three_way(tmp_path, pristine_committed):
    repo = tmp_path / "repo"
    kit = kit_of(repo)
    git("init", "-q", cwd=repo)
    git("config", "user.email", "sre@example.com", cwd=repo)
    git("config", "user.name", "SRE", cwd=repo)
    if pristine_committed:
        git("add", "-A", cwd=repo)
        git("commit", "-qm", "generated", cwd=repo)
    kit.write(RULES, kit.read(RULES).replace(*CPU_HOT_FIX, 1))
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "hot-fix", cwd=repo)
    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone), cwd=tmp_path)
    cloned = Kit(clone)
    cloned.describe(SERVICE.replace("objective: 99.9", "objective: 99.95"))
    result = cloned.sync("--merge")
    assert result.returncode == 0, out(result)
    assert "> 0.95" in cloned.read(RULES) and "0.0005" in cloned.read(RULES)


# --- the Jinja2 bytecode cache: never from a folder someone else can change --------------------------

def sync_with_environment(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    folder = tmp_path / "orders"
    if not folder.exists():
        folder.mkdir()
        (folder / "service.yaml").write_text(SERVICE)
    env = {k: v for k, v in os.environ.items() if k not in ("OPGEN_CACHE_DIR", "XDG_CACHE_HOME", "HOME")}
    result = subprocess.run(run_args("sync", "--out", str(tmp_path / "out" / str(len(list(tmp_path.glob("out/*"))))), "orders"),
                            cwd=tmp_path, capture_output=True, text=True, env=env | environment)
    assert result.returncode == 0, out(result)
    return result


def cached_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_a_symlinked_cache_folder_is_not_used_even_when_it_is_ours(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    (xdg / "opgen").symlink_to(victim)
    sync_with_environment(tmp_path, XDG_CACHE_HOME=str(xdg), HOME=str(tmp_path))
    assert cached_files(victim) == []


def test_a_cache_folder_others_can_write_is_not_used(tmp_path):
    xdg = tmp_path / "xdg"
    (xdg / "opgen").mkdir(parents=True)
    (xdg / "opgen").chmod(0o777)
    sync_with_environment(tmp_path, XDG_CACHE_HOME=str(xdg), HOME=str(tmp_path))
    assert cached_files(xdg) == []
    private = tmp_path / "private"
    sync_with_environment(tmp_path, XDG_CACHE_HOME=str(private), HOME=str(tmp_path))
    assert cached_files(private), "a private folder of ours is used (the test above can fail)"


def test_no_cache_without_a_home_or_with_a_relative_cache_folder(tmp_path):
    before = set(tmp_path.iterdir())
    sync_with_environment(tmp_path, XDG_CACHE_HOME="relative-cache", HOME=str(tmp_path / "home-unused"))
    assert not (tmp_path / "relative-cache").exists() and not (tmp_path / "home-unused").exists()
    root_cache = Path("/.cache/opgen")
    existed = root_cache.exists()
    sync_with_environment(tmp_path, HOME="")
    assert root_cache.exists() == existed
    assert {p.name for p in set(tmp_path.iterdir()) - before} <= {"orders", "out"}


# --- the property: every byte a person wrote survives, and --check agrees with sync --------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_regeneration import region_texts  # noqa: E402

PROPERTY_SERVICE = HOSTILE.replace("name: orders", "name: NAME").replace("    - name: availability\n", "    - name: SLO\n")
MARKERISH = ["", "\n<!-- opgen:keep notes -->\n<!-- opgen:end -->\n", "\n# opgen:keep custom\n# opgen:end\n",
             "\n```\n<!-- opgen:keep notes -->\n", "\n<<<<<<< your edits\n"]


def property_descriptor(name: str, slo: str, objective: str, extra: str) -> str:
    text = PROPERTY_SERVICE.replace("name: NAME", f"name: {name}").replace("    - name: SLO\n", f"    - name: {slo}\n")
    text = text.replace("objective: 99.9\n", f"objective: {objective}\n", 1)
    return text.replace('  description: "Takes orders.', '  description: "Takes orders.' + extra.replace("\n", "\\n"), 1)


@settings(max_examples=8, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_byte_a_person_wrote_survives_and_check_agrees_with_sync(tmp_path_factory, data):
    """Random steps on a kit whose descriptor text holds marker-like lines: people append text inside
    keep-regions and lines outside them (hand edits) in random files; the descriptor changes (the
    objective, the SLO's name, the service's name, marker-like text in the description); then a sync,
    plain, --merge or --force. Before each sync, --check is clean exactly when the sync (but --force,
    which also replaces the hand edits a sync keeps) then changes no file; after it, every piece of text a person wrote is in some file of the kit: in place, in a
    renamed page, in the orphans folder, or in a backup."""
    from opgen.sync import plan as actions
    from opgen.sync.run import apply, load_services, plan

    root = tmp_path_factory.mktemp("property")
    state = {"name": "orders", "slo": "availability", "objective": "99.9", "extra": ""}
    kit = new_kit(root, property_descriptor(**state))
    written: list[str] = []
    for step in range(data.draw(st.integers(1, 4), label="steps")):
        files = sorted(p for p in kit.folder.glob("ops/**/*") if p.is_file() and ".opgen" not in p.parts
                       and p.suffix in (".md", ".py", ".yml") and ".orig" not in p.name)
        for _ in range(data.draw(st.integers(0, 3), label="edits")):
            target = data.draw(st.sampled_from(files), label="file")
            text = f"[human {len(written)}] {data.draw(region_texts, label='text')}".replace("\n", " ")
            relative = target.relative_to(kit.folder).as_posix()
            inside = target.suffix in (".md", ".py") and target.name != "README.md" and data.draw(st.booleans(), label="inside")
            if inside:
                name = "custom" if target.suffix == ".py" else "notes"
                kit.write(relative, with_region(kit.read(relative), relative, name,
                                                region_of(kit.read(relative), relative, name) + text + "\n"))
            else:
                kit.write(relative, kit.read(relative) + ("# " if target.suffix != ".md" else "") + text + "\n")
            written.append(text)
        change = data.draw(st.sampled_from(["objective", "slo", "name", "extra", "none"]), label="change")
        if change == "objective":
            state["objective"] = data.draw(st.sampled_from(["99.9", "99.95", "99.5"]))
        elif change == "slo":
            state["slo"] = data.draw(st.sampled_from(["availability", "success", "served"]))
        elif change == "name":
            state["name"] = data.draw(st.sampled_from(["orders", "purchases", "order-api"]))
        elif change == "extra":
            state["extra"] = data.draw(st.sampled_from(MARKERISH))
        kit.describe(property_descriptor(**state))
        mode = data.draw(st.sampled_from(["plain", "merge", "force"]), label="mode")

        check = plan(load_services([kit.folder]))
        before = kit.tree()
        report = plan(load_services([kit.folder]), merge=mode == "merge")
        apply(report, force=mode == "force")
        after = kit.tree()
        visible_change = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)
                          and not p.startswith(STATE)}
        left = [ch for _, ch in report.changes if ch.action in (actions.CONFLICT, actions.ORPHANED)]
        if not check.drifted:
            if mode != "force":  # --force also overwrites edits a sync keeps: that is what it is for
                assert not visible_change, f"step {step}: --check was clean, and sync changed {sorted(visible_change)}"
        else:
            assert visible_change or (left and mode != "force"), f"step {step}: --check was not clean, and sync did nothing"
        everything = "\n".join(content.decode("utf-8", "replace") for content in after.values())
        lost = [text for text in written if text not in everything]
        assert not lost, f"step {step} ({change}, {mode}): lost {lost}"
