"""opgen's performance table, measured in one run on this machine.

    python bench/run.py                  # 1,000 services, and 10,000 for the linearity figure
    python bench/run.py --services 100   # a quick run: 100 services (and 1,000)
    python bench/run.py --keep /tmp/fleet --profile   # keep the fleet; cProfile the full sync

Generates a synthetic fleet (mixed blueprints, 1-4 SLOs, 0-6 dependencies forming a DAG), one
folder per service with its service.yaml, and runs the real `opgen` CLI on it as a process.
Not part of the test suite: it takes minutes and its figures depend on the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Per blueprint: interface, and SLOs a descriptor may pick from (in this order).
BLUEPRINTS = {
    "http-api": ("http", [
        {"name": "availability", "objective": 99.9, "sli": {"kind": "availability"}},
        {"name": "latency", "objective": 99, "sli": {"kind": "latency", "threshold": "500ms"}},
        {"name": "fast-reads", "objective": 95, "sli": {"kind": "latency", "threshold": "100ms"}},
        {"name": "orders-created", "objective": 99.5, "sli": {
            "kind": "events",
            "errors": 'sum(rate(orders_failed_total{job="{svc}"}[{{window}}]))',
            "total": 'sum(rate(orders_total{job="{svc}"}[{{window}}]))'}},
    ]),
    "grpc-api": ("grpc", [
        {"name": "availability", "objective": 99.95, "sli": {"kind": "availability"}},
        {"name": "latency", "objective": 99, "sli": {"kind": "latency", "threshold": "250ms"}},
        {"name": "tail-latency", "objective": 99.9, "sli": {"kind": "latency", "threshold": "1s"}},
    ]),
    "queue-worker": ("queue-consumer", [
        {"name": "processing-success", "objective": 99.5, "sli": {"kind": "availability"}},
        {"name": "freshness", "objective": 99, "sli": {"kind": "freshness", "threshold": "60s"}},
        {"name": "processing-time", "objective": 99, "sli": {"kind": "latency", "threshold": "5s"}},
    ]),
    "gpu-inference": ("http", [
        {"name": "latency", "objective": 99, "sli": {"kind": "latency", "threshold": "2500ms"}},
        {"name": "availability", "objective": 99.5, "sli": {"kind": "availability"}},
    ]),
    "cron-job": ("cron", [
        {"name": "runs-succeed", "objective": 99, "sli": {"kind": "job-success"}},
        {"name": "on-time", "objective": 99, "sli": {"kind": "job-on-time", "threshold": "26h"}},
    ]),
}
BLUEPRINT_WEIGHTS = {"http-api": 45, "grpc-api": 20, "queue-worker": 20, "gpu-inference": 5, "cron-job": 10}
INFRA = ["postgres", "mysql", "redis", "kafka", "rabbitmq", "sqs", "s3"]
TEAMS = ["payments", "search", "growth", "platform", "media", "identity", "logistics", "data"]
WINDOWS = ["30d", "28d", "7d"]


def service_name(index: int) -> str:
    return f"svc-{index:05d}"


# Layers, as real service graphs have them: edge services call domain services, which call
# platform services, which call core ones. Shares of the fleet, from the bottom.
LAYERS = (0.10, 0.20, 0.30, 0.40)  # core, platform, domain, edge
NEIGHBOURS = 40  # a service calls services near it in the layer below (its domain), not anywhere


def layer_bounds(count: int) -> list[tuple[int, int]]:
    """[start, end) indexes of each layer, bottom first."""
    bounds, start = [], 0
    for share in LAYERS:
        end = start + max(1, round(share * count))
        bounds.append((start, min(end, count)))
        start = min(end, count)
    bounds[-1] = (bounds[-1][0], count)
    return bounds


def pick_dependency(index: int, count: int, rng: random.Random) -> int | None:
    """A service of a lower layer, near this one's relative position in its own layer (or None
    for a core service): dependencies always point to lower indexes, so the graph is a DAG."""
    bounds = layer_bounds(count)
    layer = next(k for k, (start, end) in enumerate(bounds) if start <= index < end)
    if layer == 0:
        return None
    below = layer - 1 if rng.random() < 0.8 else rng.randrange(layer)
    start, end = bounds[layer]
    low, high = bounds[below]
    if high <= low:
        return None
    centre = low + (index - start) * (high - low) // max(1, end - start)
    return rng.randrange(max(low, centre - NEIGHBOURS // 2), min(high, centre + NEIGHBOURS // 2 + 1))


def descriptor(index: int, count: int, rng: random.Random) -> dict:
    """A realistic descriptor: dependencies on other services point to a lower layer (a DAG)."""
    name = service_name(index)
    blueprint = rng.choices(list(BLUEPRINT_WEIGHTS), weights=list(BLUEPRINT_WEIGHTS.values()))[0]
    interface, candidates = BLUEPRINTS[blueprint]
    window = rng.choice(WINDOWS)
    slos = []
    for slo in candidates[: rng.randint(1, min(4, len(candidates)))]:
        sli = {k: (v.replace("{svc}", name) if isinstance(v, str) else v) for k, v in slo["sli"].items()}
        slos.append({**slo, "window": window, "description": f"{slo['name']} of {name}.", "sli": sli})
    dependencies = []
    for d in range(rng.randint(0, 6)):
        target_index = pick_dependency(index, count, rng) if rng.random() < 0.5 else None
        if target_index is not None:
            target = service_name(target_index)
            if any(dep.get("service") == target for dep in dependencies):
                continue
            dependencies.append({"name": target, "kind": rng.choice(["http", "grpc"]), "service": target,
                                 "critical": rng.random() < 0.6})
        else:
            kind = rng.choice(INFRA)
            dependencies.append({"name": f"{kind}-{d}", "kind": kind, "critical": rng.random() < 0.5})
    if blueprint == "queue-worker" and not any(dep["kind"] in ("kafka", "rabbitmq", "sqs") for dep in dependencies):
        dependencies.append({"name": "broker", "kind": "kafka", "critical": True})
    spec: dict = {
        "blueprint": blueprint,
        "runtime": {"platform": "kubernetes", "namespace": rng.choice(TEAMS), "language": "python"},
        "slos": slos,
        "dependencies": dependencies,
    }
    if interface in ("http", "grpc"):
        peak = rng.choice([50, 200, 1000, 5000])
        per_instance = rng.choice([25, 50, 100])
        spec["traffic"] = {"baseline_rps": peak // 10, "peak_rps": peak, "per_instance_rps": per_instance}
        # Sized for the peak, as a team that read opgen's warning would: 50 % CPU target, 25 % headroom.
        spec["scaling"] = {"min_replicas": 2, "max_replicas": max(4, -(-peak * 5 // (per_instance * 2)))}
    return {
        "apiVersion": "opgen/v1",
        "kind": "Service",
        "metadata": {"name": name, "team": rng.choice(TEAMS), "tier": rng.randint(1, 3),
                     "description": f"Synthetic service {index} ({blueprint})."},
        "spec": spec,
    }


def write_fleet(folder: Path, count: int, seed: int = 6) -> list[Path]:
    """One folder per service, holding its service.yaml (written as YAML data)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    rng = random.Random(seed)
    paths = []
    for index in range(count):
        path = folder / service_name(index) / "service.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        yaml.dump(descriptor(index, count, rng), buffer)
        path.write_text(buffer.getvalue())
        paths.append(path)
    return paths


# Child processes cache their bytecode as a normal Python does, even where the environment sets
# PYTHONDONTWRITEBYTECODE (as CI containers often do), in a folder of the bench's own.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def opgen(*args: str, check_exit: tuple[int, ...] = (0,)) -> float:
    """Seconds of one `opgen` process, the way a person or CI runs it."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "opgen", *args], capture_output=True, text=True, env=CHILD_ENV)
    elapsed = time.perf_counter() - start
    if result.returncode not in check_exit:
        sys.exit(f"opgen {' '.join(args)} exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    print(f"  {elapsed:7.2f} s  opgen {' '.join(args)}", file=sys.stderr, flush=True)  # progress, for long runs
    return elapsed


def generated_files(fleet: Path) -> dict[Path, bytes]:
    """Every file opgen wrote below the fleet (its state folder included: sync writes it too)."""
    return {p: p.read_bytes() for p in sorted(fleet.glob("*/ops/**/*")) if p.is_file() and p.name != "lock"}


def plain_python_write(fleet: Path, files: dict[Path, bytes]) -> float:
    """The floor: the same bytes to the same paths with open().write, folders created as needed."""
    for ops in fleet.glob("*/ops"):
        shutil.rmtree(ops)
    start = time.perf_counter()
    made: set[Path] = set()
    for path, data in files.items():
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with open(path, "wb") as handle:
            handle.write(data)
    return time.perf_counter() - start


def cookiecutter_per_file(work: Path, files_per_service: int, services: int) -> float:
    """Seconds per file for the cookiecutter API rendering a minimal template of the same width."""
    from cookiecutter.main import cookiecutter

    template = work / "cc-template"
    project = template / "{{cookiecutter.name}}"
    project.mkdir(parents=True)
    (template / "cookiecutter.json").write_text('{"name": "svc", "team": "t"}\n')
    for k in range(files_per_service):
        (project / f"file-{k:02d}-{{{{cookiecutter.name}}}}.txt").write_text("{{ cookiecutter.name }} of {{ cookiecutter.team }}\n")
    out = work / "cc-out"
    out.mkdir()
    start = time.perf_counter()
    for index in range(services):
        cookiecutter(str(template), no_input=True, output_dir=str(out), overwrite_if_exists=True,
                     extra_context={"name": service_name(index), "team": "t"})
    elapsed = time.perf_counter() - start
    written = sum(1 for p in out.rglob("*") if p.is_file())
    assert written == services * files_per_service, written
    return elapsed / written


def change_one_descriptor(fleet: Path) -> None:
    path = fleet / service_name(0) / "service.yaml"
    text = path.read_text()
    path.write_text(text.replace("description: Synthetic service 0", "description: Changed synthetic service 0", 1))


def profile_full_sync(fleet: Path, top: int) -> str:
    """cProfile of an in-process full sync (output removed first), cumulative, top entries."""
    from click.testing import CliRunner

    from opgen.cli import main

    for ops in fleet.glob("*/ops"):
        shutil.rmtree(ops)
    profiler = cProfile.Profile()
    profiler.enable()
    result = CliRunner().invoke(main, ["sync", str(fleet)])
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return f"exit {result.exit_code}\n" + out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000, help="fleet size N (default 1000)")
    parser.add_argument("--scale", type=int, default=10, help="the linearity figure syncs N x scale services (default 10)")
    parser.add_argument("--cookiecutter-services", type=int, default=100,
                        help="services cookiecutter renders for its per-file figure (default 100)")
    parser.add_argument("--keep", type=Path, help="build the fleet in this folder and keep it")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the full sync of N services at the end")
    parser.add_argument("--rule-eval", action="store_true",
                        help="then print the rule evaluation table (bench/rule_eval.py: a live Prometheus, about 6 minutes)")
    args = parser.parse_args()
    n = args.services

    work = args.keep or Path(tempfile.mkdtemp(prefix="opgen-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    CHILD_ENV.setdefault("PYTHONPYCACHEPREFIX", str(work / "pycache"))
    # Warm the bytecode caches (Python's and the templates'), as any earlier run on the machine would have.
    opgen("sync", "--check", str(ROOT / "examples" / "checkout"), check_exit=(0, 1))
    try:
        fleet = work / "fleet"
        shutil.rmtree(fleet, ignore_errors=True)
        write_fleet(fleet, n)

        full = opgen("sync", str(fleet))
        files = generated_files(fleet)
        opgen_outputs = [p for p in files if ".opgen" not in p.parts]
        files_per_service = len(opgen_outputs) // n
        noop_check = opgen("sync", "--check", str(fleet))
        change_one_descriptor(fleet)
        one_changed = opgen("sync", str(fleet))
        # A pre-commit hook checks the descriptor that changed; exit 1 (drift) is a result, not an error.
        one_service = opgen("sync", "--check", str(fleet / service_name(n // 2)), check_exit=(0, 1))
        floor = plain_python_write(fleet, files)

        big = work / "fleet-big"
        shutil.rmtree(big, ignore_errors=True)
        write_fleet(big, n * args.scale)
        full_big = opgen("sync", str(big))
        shutil.rmtree(big)

        cc_services = min(n, args.cookiecutter_services)
        cc_per_file = cookiecutter_per_file(work, files_per_service, cc_services)
        opgen_per_file = full / len(opgen_outputs)

        rows = [
            (f"full sync, {n:,} services, empty output", f"{full:.2f} s", "<= 5 s", full <= 5),
            (f"no-op `sync --check`, {n:,} services", f"{noop_check:.2f} s", "<= 0.5 s", noop_check <= 0.5),
            (f"sync after one descriptor changed, {n:,} services", f"{one_changed:.2f} s", "<= 0.5 s", one_changed <= 0.5),
            ("one-service `sync --check` as a process (pre-commit)", f"{one_service:.2f} s", "<= 0.25 s", one_service <= 0.25),
            (f"full sync {n * args.scale:,} / full sync {n:,}", f"{full_big / full:.1f} ({full_big:.1f} s)",
             f"<= {args.scale * 1.1:g} (linear)", full_big / full <= args.scale * 1.1),
            ("full sync vs writing the same bytes with plain Python (the floor)",
             f"{full / floor:.0f}x ({floor:.2f} s for {len(files):,} files)", "<= 10x", full / floor <= 10),
            (f"per file written vs the cookiecutter API ({files_per_service} files per service, {cc_services} services)",
             f"{cc_per_file / opgen_per_file:.1f}x faster ({opgen_per_file * 1e3:.2f} vs {cc_per_file * 1e3:.2f} ms/file)",
             ">= 5x faster", cc_per_file / opgen_per_file >= 5),
        ]
        print(f"opgen bench: {n:,} services, {files_per_service} generated files each; "
              f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
        print()
        print("| figure | measured | target | met |")
        print("| --- | --- | --- | --- |")
        for figure, measured, target, met in rows:
            print(f"| {figure} | {measured} | {target} | {'yes' if met else '**no**'} |")
        if args.profile:
            print()
            print(profile_full_sync(fleet, 40))
        if args.rule_eval:
            print()
            subprocess.run([sys.executable, str(Path(__file__).parent / "rule_eval.py")], check=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
