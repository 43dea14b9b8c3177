"""Every core for the work that grows with the fleet: parsing descriptors and rendering services.

Both are pure functions of their arguments (renderers never touch the disk), so they run in
worker processes, and their results come back in order. A small sync stays in one process:
starting workers costs more than a few services take.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from opgen.descriptor.blueprints import Blueprints
from opgen.errors import DescriptorError

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS = 32  # below this many services, one process is faster


def workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def in_order(function: Callable[[T], R], items: list[T]) -> Iterator[R]:
    """function(item) for each item, in order; in worker processes when it pays."""
    count = min(workers(), 8)
    if len(items) < MIN_ITEMS or count < 2:
        yield from map(function, items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers start with opgen already imported (spawn would import it again in each)
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    try:
        pool = ProcessPoolExecutor(max_workers=count, mp_context=context)
    except (OSError, NotImplementedError):  # no POSIX semaphores (some containers): one process, as for a small sync
        yield from map(function, items)
        return
    with pool:
        yield from pool.map(function, items, chunksize=max(1, len(items) // (count * 8)))


_blueprints = Blueprints()  # the run's: workers fork with a copy of what it has read so far


def run_blueprints() -> Blueprints:
    """The blueprints of the run that parse_all last started (load, then plan: the same run)."""
    return _blueprints


def parse_all(jobs: list[tuple[Path, str, tuple[Path, ...], bytes, Path]], blueprints: Blueprints) -> Iterator:
    """For each (descriptor, shown, blueprint_dirs, raw, out_dir): load_validated's result, or the
    DescriptorError it raised; `blueprints` is the run's."""
    global _blueprints
    _blueprints = blueprints
    return in_order(_parse, jobs)


def _parse(job: tuple[Path, str, tuple[Path, ...], bytes, Path]):
    from opgen.sync import load

    descriptor, shown, blueprint_dirs, raw, out_dir = job
    try:
        return load.load_validated(descriptor, shown, blueprint_dirs, _blueprints, raw, out_dir)
    except DescriptorError as error:
        return error


def render_all(jobs: list) -> Iterator:
    """For each (sync.run.Loaded, its fleet.Neighbourhood): its artifacts (parsed first if the
    Loaded came from its record)."""
    return in_order(_render, jobs)


def _render(job):
    from opgen.render import RenderContext
    from opgen.sync import run

    item, neighbourhood = job
    return run.render_all(RenderContext(item.with_service(_blueprints).service, item.label, neighbourhood, item.rules_format))
