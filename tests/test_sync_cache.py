"""The sync's cache: each service's record in its manifest (the hash of what its files are made
from, sync/inputs.py) and the stat cache (sync/stat_cache.py). An unchanged service is neither
parsed nor rendered; whatever changes (a descriptor, a dependency, a blueprint, a setting, opgen
itself), an incremental sync writes exactly the bytes a sync from scratch writes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import is_stat_cache
from opgen import conventions as c
from opgen.cli import main

SHOP = Path(__file__).parent / "fleets" / "shop"
JOURNEY_STEPS = {"web-frontend", "cart", "checkout", "payments"}  # journeys/checkout.opgen.yaml


class Counting:
    """Which services a sync parsed and rendered (the real functions, counted)."""

    def __init__(self, monkeypatch) -> None:
        import opgen.sync.load as load_module
        import opgen.sync.run as run

        self.parsed: list[str] = []
        self.rendered: list[str] = []
        real_load, real_render = load_module.load_validated, run.render_all

        def load(path, *args, **kwargs):
            self.parsed.append(path.parent.name)
            return real_load(path, *args, **kwargs)

        def render(context):
            self.rendered.append(context.service.name)
            return real_render(context)

        monkeypatch.setattr(load_module, "load_validated", load)
        monkeypatch.setattr(run, "render_all", render)

    def reset(self) -> None:
        self.parsed, self.rendered = [], []


def sync(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["sync", *args, str(root)], catch_exceptions=False)
    return result.exit_code, result.output


def tree(root: Path) -> dict[str, bytes]:
    """Every file opgen keeps below `root` (descriptors aside), with its bytes; not the per-machine stat cache and lock."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "ops" in p.relative_to(root).parts and not is_stat_cache(p) and p.name != "lock"}


def from_scratch(root: Path, tmp_path: Path) -> dict[str, bytes]:
    """The same descriptors (and settings, blueprints) synced into a fresh copy with no output."""
    fresh = tmp_path / f"scratch-{len(list(tmp_path.glob('scratch-*')))}" / root.name
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns("ops"))
    code, output = sync(fresh)
    assert code == 0, output
    return tree(fresh)


@pytest.fixture
def shop(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    monkeypatch.chdir(root)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_an_unchanged_fleet_is_neither_parsed_nor_rendered_and_prints_the_same(shop, monkeypatch):
    counting = Counting(monkeypatch)
    code, first = sync(shop)
    assert code == 0, first
    assert len(counting.rendered) == 22 and len(counting.parsed) == 22
    counting.reset()
    code, check = sync(shop, "--check")
    assert (code, counting.parsed, counting.rendered) == (0, [], []), check
    code, again = sync(shop)
    assert (code, counting.parsed, counting.rendered) == (0, [], []), again
    warnings = lambda out: sorted(line for line in out.splitlines() if ": warning: " in line)  # noqa: E731
    assert warnings(again) == warnings(first) and warnings(first), "warnings come from the record as they came from the descriptor"


def test_one_changed_description_parses_and_renders_that_service_alone(shop, monkeypatch, tmp_path):
    counting = Counting(monkeypatch)
    assert sync(shop)[0] == 0
    counting.reset()
    edit(shop / "orders" / "service.yaml", "Orders and their state.", "Orders, and every state they go through.")
    code, output = sync(shop)
    assert code == 0, output
    assert (counting.parsed, counting.rendered) == (["orders"], ["orders"])
    assert tree(shop) == from_scratch(shop, tmp_path)


def test_a_changed_journey_parses_its_steps_and_renders_no_service(shop, monkeypatch, tmp_path):
    """The journey's files read its steps' SLOs: its steps are parsed, nothing else, and no service's
    files are rendered; the result is what a sync from scratch writes."""
    counting = Counting(monkeypatch)
    assert sync(shop)[0] == 0
    counting.reset()
    edit(shop / "journeys" / "checkout.opgen.yaml", "objective: 99.5", "objective: 99.4")
    code, output = sync(shop, "--check")
    assert code == 1 and "journeys/checkout.rules.yml" in output, output
    assert (sorted(counting.parsed), counting.rendered) == (sorted(JOURNEY_STEPS), [])
    counting.reset()
    code, output = sync(shop)
    assert code == 0, output
    assert (sorted(counting.parsed), counting.rendered) == (sorted(JOURNEY_STEPS), [])
    assert tree(shop) == from_scratch(shop, tmp_path)
    counting.reset()
    code, again = sync(shop, "--check")
    assert (code, counting.parsed, counting.rendered) == (0, [], []), again


def test_a_new_critical_dependency_renders_the_services_whose_blast_radius_it_changes(shop, monkeypatch, tmp_path):
    counting = Counting(monkeypatch)
    assert sync(shop)[0] == 0
    counting.reset()
    edit(shop / "sitemap-builder" / "service.yaml", "dependencies:\n",
         "dependencies:\n    - {name: reviews, kind: http, service: reviews, critical: true}\n")
    code, output = sync(shop)
    assert code == 0, output
    # Rendered: sitemap-builder, and those it now depends on, directly or not (their blast radius grew).
    assert {"sitemap-builder", "reviews"} <= set(counting.rendered) < set(os.listdir(SHOP))
    # Parsed: those, and the steps of the checkout journey, since the fleet files (whose routes read
    # the new edge) are rendered again with the journey's, which read the steps' SLOs.
    assert sorted(counting.parsed) == sorted(set(counting.rendered) | JOURNEY_STEPS)
    assert tree(shop) == from_scratch(shop, tmp_path)


def test_a_user_blueprint_counts_by_its_bytes_and_a_setting_by_what_it_decides(shop, monkeypatch, tmp_path):
    counting = Counting(monkeypatch)
    assert sync(shop)[0] == 0
    http_api = [p.parent.name for p in SHOP.glob("*/service.yaml") if "blueprint: http-api" in p.read_text()]
    assert http_api
    # The same bytes in a folder of the user's own: nothing to render.
    (shop / "blueprints").mkdir()
    builtin = Path(__file__).resolve().parents[1] / "blueprints" / "http-api.yaml"
    shutil.copy(builtin, shop / "blueprints" / "http-api.yaml")
    (shop / "opgen-settings.yaml").write_text("blueprints: [blueprints]\n")
    counting.reset()
    assert sync(shop)[0] == 0
    assert counting.rendered == []
    # A changed default: exactly the services of that blueprint.
    edit(shop / "blueprints" / "http-api.yaml", "max_replicas: 10", "max_replicas: 12")
    counting.reset()
    code, output = sync(shop)
    assert code == 0, output
    assert sorted(counting.rendered) == sorted(http_api)
    assert tree(shop) == from_scratch(shop, tmp_path)
    # A rules format for the whole fleet: every service gets its PrometheusRule.
    (shop / "opgen-settings.yaml").write_text("blueprints: [blueprints]\nrules_format: prometheus-operator\n")
    counting.reset()
    assert sync(shop)[0] == 0
    assert len(counting.rendered) == 22
    assert tree(shop) == from_scratch(shop, tmp_path)


def test_another_opgen_renders_everything_again(shop, monkeypatch):
    import opgen.sync.inputs as inputs

    counting = Counting(monkeypatch)
    assert sync(shop)[0] == 0
    monkeypatch.setattr(inputs, "opgen_fingerprint", lambda: "the next release")
    counting.reset()
    assert sync(shop, "--check")[0] == 0
    assert len(counting.rendered) == 22


def test_a_hand_edit_that_keeps_size_and_mtime_is_still_found(shop, monkeypatch):
    assert sync(shop)[0] == 0
    rules = shop / "orders" / "ops" / "prometheus" / "orders.rules.yml"
    before = rules.stat()
    text = rules.read_text()
    rules.write_text(text.replace("severity: page", "severity: PAGE", 1))
    os.utime(rules, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert rules.stat().st_size == before.st_size and rules.stat().st_mtime_ns == before.st_mtime_ns
    code, output = sync(shop, "--check")
    # Found: opgen has nothing new for it, so a sync leaves it (in sync), and says one file is edited by hand.
    assert code == 0 and "1 edited by hand" in output, output
    code, output = sync(shop, "--json")
    assert code == 0 and json.loads(output[output.index("{"):])["kept"] == [str(rules)], output


def test_a_deleted_file_is_missing_and_written_again(shop, monkeypatch, tmp_path):
    assert sync(shop)[0] == 0
    page = shop / "cart" / "ops" / "runbooks" / "cart" / "README.md"
    page.unlink()
    code, output = sync(shop, "--check")
    assert code == 1 and "cart/ops/runbooks/cart/README.md" in output, output
    assert sync(shop)[0] == 0
    assert tree(shop) == from_scratch(shop, tmp_path)


def test_a_file_changed_in_the_tick_the_stat_cache_was_written_is_read_again(tmp_path, monkeypatch):
    import opgen.sync.stat_cache as stat_cache
    from opgen.sync.manifest import content_hash

    page = tmp_path / "page.md"
    page.write_text("hello\n")
    cache = stat_cache.StatCache(tmp_path / "cache.json")
    cache.record(str(page), content_hash("hello\n", "page.md"))
    cache.save()
    reads = []
    real = stat_cache.content_hash
    monkeypatch.setattr(stat_cache, "content_hash", lambda text, path: reads.append(text) or real(text, path))
    older = page.stat().st_mtime_ns - 1_000_000_000
    os.utime(page, ns=(older, older))  # known from before the cache: its stat is trusted... once recorded
    cache = stat_cache.StatCache(tmp_path / "cache.json")
    assert cache.matches(str(page), content_hash("hello\n", "page.md")) and reads == ["hello\n"]  # the stat changed: read
    cache.save()
    cache = stat_cache.StatCache(tmp_path / "cache.json")
    reads.clear()
    assert cache.matches(str(page), content_hash("hello\n", "page.md")) and reads == []  # older than the cache: not read
    same_tick = (tmp_path / "cache.json").stat().st_mtime_ns
    os.utime(page, ns=(same_tick, same_tick))
    cache.record(str(page), content_hash("hello\n", "page.md"))
    cache.save()
    os.utime(tmp_path / "cache.json", ns=(same_tick, same_tick))
    cache = stat_cache.StatCache(tmp_path / "cache.json")
    assert cache.matches(str(page), content_hash("hello\n", "page.md")) and reads == ["hello\n"]  # racily clean: read


EDITS = [  # (descriptor folder, old, new): each kind of input a service's files depend on
    ("payments", "tier: 1", "tier: 2"),  # facts the graph shows
    ("catalog", "team: discovery", "team: merchandising"),  # alert routing
    ("inventory", "blueprint: grpc-api", "blueprint: grpc-api\n  dependencies:\n    - {name: stock-db, kind: postgres, critical: true}"),
    ("web-frontend", "critical: true", "critical: false"),  # blast radius: fails becomes degrades
    ("orders", "blueprint: grpc-api", "blueprint: http-api"),  # another blueprint: some files go, others come
    ("sitemap-builder", "service: search", "service: search-v2"),  # an unknown target
]


def test_after_any_sequence_of_edits_an_incremental_sync_writes_what_a_sync_from_scratch_writes(shop, tmp_path):
    assert sync(shop)[0] == 0
    for folder, old, new in EDITS:
        edit(shop / folder / "service.yaml", old, new)
        code, output = sync(shop)
        assert code == 0, output
        assert tree(shop) == from_scratch(shop, tmp_path), f"after editing {folder}: {new!r}"
    shutil.rmtree(shop / "reviews")  # a service leaves the fleet: its dependents' pages change
    assert sync(shop)[0] == 0
    expected = from_scratch(shop, tmp_path)
    assert {k: v for k, v in tree(shop).items() if not k.startswith("reviews/")} == expected


def test_a_manifest_without_records_is_read_and_rewritten_with_them(shop, monkeypatch):
    import json

    counting = Counting(monkeypatch)
    assert sync(shop)[0] == 0
    manifest = shop / "cart" / "ops" / c.MANIFEST_PATH
    data = json.loads(manifest.read_text())
    data["version"] = 1
    del data["services"]
    manifest.write_text(json.dumps(data))
    counting.reset()
    assert sync(shop, "--check")[0] == 0
    assert counting.rendered == ["cart"]
    assert sync(shop)[0] == 0
    assert "services" in json.loads(manifest.read_text())


def test_a_clone_elsewhere_needs_no_rendering_and_warns_the_same(shop, monkeypatch, tmp_path):
    """Records hold no absolute path: CI's fresh clone, at another depth, checks from hashes."""
    edit(shop / "cart" / "service.yaml", "blueprint: ",
         "resources: {gpu: {count: 1, hourly_cost_usd: 2}}\n  cost: {monthly_budget_usd: 100}\n  blueprint: ")
    edit(shop / "cart" / "service.yaml", "tier: 1", "tier: 2")  # the tier 2 floor is the blueprint's minimum
    code, first = sync(shop)
    assert code == 0, first
    # A warning inside a built-in blueprint: the minimum comes from the grpc-api blueprint's scaling.min_replicas.
    assert "blueprints/grpc-api.yaml" in first and "the minimum of 2 pods costs 2920 USD a month" in first
    assert "(for cart/service.yaml, which takes this value from its blueprint" in first  # ... that says whose it is
    clone = tmp_path / "ci" / "runner" / "work" / "shop"
    shutil.copytree(shop, clone)
    monkeypatch.chdir(clone)
    counting = Counting(monkeypatch)
    code, check = sync(clone, "--check")
    assert (code, counting.parsed, counting.rendered) == (0, [], []), check
    assert [line for line in check.splitlines() if "warning" in line] == [line for line in first.splitlines() if "warning" in line]


def test_a_checkout_and_a_wheel_of_the_same_opgen_have_the_same_fingerprint(tmp_path):
    """Records written by a developer's editable install hold in CI, which installs the wheel."""
    from opgen import resources
    from opgen.sync.inputs import fingerprint_of, opgen_fingerprint

    package = Path(__file__).resolve().parents[1] / "generator" / "opgen"
    wheel = tmp_path / "site-packages" / "opgen"  # the wheel's layout: data inside the package
    shutil.copytree(package, wheel, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("templates", "blueprints", "schemas"):
        shutil.copytree(resources.data_path(name), wheel / "_data" / name)
    installed = fingerprint_of(wheel, wheel / "_data" / "templates", wheel / "_data" / "blueprints")
    assert installed == opgen_fingerprint()
    (wheel / "_data" / "templates" / "runbooks" / "README.md.j2").write_text("changed\n")
    assert fingerprint_of(wheel, wheel / "_data" / "templates", wheel / "_data" / "blueprints") != installed


def test_parsing_and_rendering_in_worker_processes_write_what_one_process_writes(shop, monkeypatch, tmp_path):
    """A fleet of 32 services or more is parsed and rendered in forked workers (sync/parallel.py);
    here the shop fleet is made to take that path, and its bytes must be those of one process."""
    import concurrent.futures

    import opgen.sync.parallel as parallel

    pools = []

    class CountedPool(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", CountedPool)
    monkeypatch.setattr(parallel, "MIN_ITEMS", 2)
    monkeypatch.setattr(parallel, "workers", lambda: 2)
    code, output = sync(shop)
    assert code == 0, output
    assert len(pools) == 2, "descriptors parsed, then services rendered, each in a pool"
    monkeypatch.setattr(parallel, "MIN_ITEMS", 10_000)
    assert tree(shop) == from_scratch(shop, tmp_path)


def test_without_process_pools_a_sync_runs_in_one_process(shop, monkeypatch, tmp_path):
    import concurrent.futures

    import opgen.sync.parallel as parallel

    def no_semaphores(*args, **kwargs):
        raise OSError(38, "Function not implemented")  # a container without /dev/shm

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_semaphores)
    monkeypatch.setattr(parallel, "MIN_ITEMS", 2)
    monkeypatch.setattr(parallel, "workers", lambda: 2)
    code, output = sync(shop)
    assert code == 0, output
    monkeypatch.setattr(parallel, "MIN_ITEMS", 10_000)
    assert tree(shop) == from_scratch(shop, tmp_path)
