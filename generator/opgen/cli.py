"""The `opgen` command: thin click commands that call the library, print, and set the exit code.

Exit codes: 0 fine; 1 `--check` found drift; 2 bad input (nothing written); 3 sync left
hand-edited files alone (conflicts to resolve). Heavy modules are imported inside commands.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from opgen import __version__

EXIT_DRIFT, EXIT_BAD_INPUT, EXIT_CONFLICT = 1, 2, 3


def _print_warnings(loaded) -> None:
    for item in loaded:
        for warning in item.warnings:
            click.echo(f"{warning.position}: warning: {warning.message}", err=True)


def _fail_on_problems(error) -> None:
    for problem in sorted(error.problems):
        click.echo(f"{problem}", err=True)
    count = len(error.problems)
    click.echo(f"opgen: {count} problem{'s' if count != 1 else ''}; nothing was written.", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opgen")
def main() -> None:
    """Turn a service descriptor (service.yaml) into its operational kit: SLO rules and alerts
    with promtool tests, and keep them in sync as the descriptor changes."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check descriptors and print every problem as FILE:LINE:COL: message.

    PATHS are descriptor files or folders searched for service.yaml and *.opgen.yaml
    (default: the current folder). Exit code 2 when anything is wrong.
    """
    from opgen.errors import DescriptorError
    from opgen.sync.run import load_services

    try:
        loaded = load_services(list(paths) or [Path(".")])
    except DescriptorError as error:
        _fail_on_problems(error)
    _print_warnings(loaded)
    for item in loaded:
        click.echo(f"ok: {item.descriptor} ({item.service.name}, {len(item.service.slos)} SLOs)")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: ops/ beside each descriptor).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing files that are missing, stale or edited by hand.")
@click.option("--merge", is_flag=True, help="Three-way merge hand-edited files with the new output; diff3 markers where edits overlap.")
@click.option("--force", is_flag=True, help="Overwrite hand-edited files, keeping each human version as FILE.orig.")
@click.option("--diff/--no-diff", "show_diff", default=True, show_default=True, help="Show a unified diff for each conflict.")
@click.option("--json", "as_json", is_flag=True, help="Print what happened as JSON, for portals and bots.")
@click.option("--lock-timeout", default=60.0, show_default=True, help="Seconds to wait for another sync of the same folder.")
def sync(paths: tuple[Path, ...], out: Path | None, check: bool, merge: bool, force: bool, show_diff: bool,
         as_json: bool, lock_timeout: float) -> None:
    """Generate every artifact of each descriptor into ops/ beside it.

    PATHS are descriptor files or folders searched for service.yaml and *.opgen.yaml
    (default: the current folder). Content between opgen:keep and opgen:end markers is carried
    over; files edited by hand elsewhere are never overwritten without --merge or --force.
    Exit codes: 0 done, 1 drift (--check), 2 bad input or lock timeout, 3 conflicts to resolve.
    """
    from opgen.errors import DescriptorError
    from opgen.sync import plan as p
    from opgen.sync.run import LockTimeout, apply, load_services, locked, output_folders, plan
    from opgen.sync.write import OutsideOutputError

    try:
        loaded = load_services(list(paths) or [Path(".")], out)
    except DescriptorError as error:
        _fail_on_problems(error)
    _print_warnings(loaded)

    if check:
        report = _plan_or_exit(plan, loaded)
        _report(report, as_json, check=True)
        sys.exit(EXIT_DRIFT if report.drifted else 0)

    try:
        with locked(output_folders(loaded), lock_timeout):
            report = plan(loaded, merge=merge)
            apply(report, force=force)
    except (LockTimeout, OutsideOutputError) as error:
        click.echo(f"opgen: {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    _report(report, as_json, check=False, force=force, show_diff=show_diff)
    if any(ch.action in (p.CONFLICT, p.ORPHANED) for _, ch in report.changes) and not force:
        sys.exit(EXIT_CONFLICT)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: ops/ beside each descriptor).")
def diff(paths: tuple[Path, ...], out: Path | None) -> None:
    """Show, as a unified diff, what `opgen sync` would change; write nothing.

    Exit code 0 when sync would change nothing, 1 when it would.
    """
    from opgen.errors import DescriptorError
    from opgen.sync.run import load_services, plan, unified_diff

    try:
        loaded = load_services(list(paths) or [Path(".")], out)
    except DescriptorError as error:
        _fail_on_problems(error)
    from opgen.sync import plan as p

    report = _plan_or_exit(plan, loaded)
    shown = [(o, ch) for o, ch in report.drifted if ch.action != p.KEPT]  # sync leaves kept files as they are
    for out_dir, change in shown:
        if change.action == p.CONFLICT:
            click.echo(f"# {out_dir / change.path} is edited by hand: sync will not apply this without --merge or --force")
        click.echo(unified_diff(change, str(out_dir / change.path)), nl=False)
    sys.exit(EXIT_DRIFT if shown else 0)


def _plan_or_exit(plan, loaded):
    from opgen.sync.write import OutsideOutputError

    try:
        return plan(loaded)
    except OutsideOutputError as error:
        click.echo(f"opgen: {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _report(report, as_json: bool, check: bool, force: bool = False, show_diff: bool = False) -> None:
    """What sync did (or, with --check, would do): lines for people, or JSON for programs."""
    from opgen.sync import plan as p
    from opgen.sync.run import unified_diff

    if as_json:
        import json

        click.echo(json.dumps(report.as_json(check=check), indent=2))
        return
    if check:
        labels = {p.CREATE: "missing", p.UPDATE: "stale", p.CONFLICT: "edited by hand, and opgen has changes for it",
                  p.KEPT: "edited by hand", p.DELETE: "obsolete", p.ORPHANED: "obsolete, edited by hand"}
        for out_dir, change in report.drifted:
            note = f" ({len(change.orphans)} keep-region(s) would move to the orphans folder)" if change.orphans else ""
            click.echo(f"{labels[change.action]}: {out_dir / change.path}{note}")
        if report.drifted:
            click.echo(f"opgen: {len(report.drifted)} file(s) out of sync; run `opgen sync`.", err=True)
        else:
            click.echo(f"opgen: {len(report.changes)} file(s) in sync.")
        return
    verbs = {p.CREATE: "created", p.UPDATE: "updated", p.DELETE: "deleted", p.MERGED: "merged your edits into"}
    for out_dir, change in report.changes:
        shown = out_dir / change.path
        if change.action in verbs:
            moved = f" (its keep-regions moved to {out_dir / change.regions_moved_to})" if change.regions_moved_to else ""
            click.echo(f"{verbs[change.action]} {shown}{moved}")
        elif change.action in (p.CONFLICT, p.KEPT) and force:
            click.echo(f"overwrote {shown} (edited by hand; your version is in {shown}.orig)")
        elif change.action == p.KEPT:
            click.echo(f"kept {shown}: edited by hand, and opgen has nothing new for it")
        elif change.action == p.ORPHANED and force:
            click.echo(f"deleted {shown} (no longer generated; your edited version is in {shown}.orig)")
        elif change.action == p.CONFLICT and change.merged_text:
            click.echo(f"conflict {shown}: your edits and opgen's overlap; resolve the <<<<<<< markers", err=True)
        elif change.action == p.CONFLICT:
            click.echo(f"conflict {shown}: edited by hand, left as it is", err=True)
            if show_diff and change.new_text is not None:
                click.echo(unified_diff(change, str(shown)), err=True, nl=False)
        elif change.action == p.ORPHANED:
            click.echo(f"orphaned {shown}: no longer generated but edited by hand, left as it is", err=True)
    for saved in report.orphans:
        click.echo(f"saved keep-region content whose place is gone to {saved}", err=True)
    summary = ", ".join(f"{report.count(a)} {word}" for a, word in (
        (p.CREATE, "created"), (p.UPDATE, "updated"), (p.UNCHANGED, "unchanged"), (p.KEPT, "kept"), (p.MERGED, "merged"),
        (p.DELETE, "deleted"), (p.CONFLICT, "in conflict")))
    click.echo(f"opgen: {summary}.")
    if any(ch.action in (p.CONFLICT, p.ORPHANED) for _, ch in report.changes) and not force:
        click.echo("opgen: hand-edited files were left alone; move the edits into the descriptor or a keep-region, "
                   "merge them with `opgen sync --merge`, or overwrite them with `opgen sync --force` (keeps FILE.orig).",
                   err=True)


@main.command()
def schema() -> None:
    """Print the descriptor's JSON Schema, for editors to validate and complete service.yaml."""
    import json

    from opgen.descriptor.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
def blueprints() -> None:
    """List the blueprints a descriptor can name in spec.blueprint."""
    from opgen.descriptor.blueprints import available_blueprints, load_blueprint
    from opgen.errors import DescriptorError

    for name, path in available_blueprints().items():
        try:
            summary = load_blueprint(path).data["summary"]
        except DescriptorError as error:
            summary = f"(invalid: {error.problems[0]})"
        click.echo(f"{name:<16} {summary}")


@main.command("new-service")
@click.argument("name")
@click.option("--blueprint", default="http-api", show_default=True, help="Preset to start from (see `opgen blueprints`).")
@click.option("--team", help="Owning team, e.g. payments.")
@click.option("--tier", type=int, help="Criticality, 1 (most critical) to 4.")
@click.option("--platform", type=click.Choice(["kubernetes", "ecs", "lambda"]), help="Where it runs.")
@click.option("--namespace", help="Kubernetes namespace or ECS cluster.")
@click.option("--baseline-rps", type=float, help="Typical requests per second.")
@click.option("--peak-rps", type=float, help="Highest expected requests per second.")
@click.option("--objective", "objectives", multiple=True, metavar="SLO=PERCENT", help="Objective of a blueprint SLO, e.g. availability=99.95 (repeatable).")
@click.option("--no-input", is_flag=True, help="Ask nothing; take flags and blueprint defaults.")
def new_service(name: str, blueprint: str, team, tier, platform, namespace, baseline_rps, peak_rps, objectives, no_input: bool) -> None:
    """Create NAME/service.yaml from a blueprint, then generate its ops/ folder."""
    from opgen.errors import DescriptorError
    from opgen.scaffold import Answers, parse_objectives, scaffold

    answers = Answers(name=name, blueprint=blueprint, team=team, tier=tier, platform=platform, namespace=namespace,
                      baseline_rps=baseline_rps, peak_rps=peak_rps)
    try:
        answers.objectives = parse_objectives(objectives)
        folder = scaffold(answers, Path("."), ask=None if no_input else _prompt)
    except DescriptorError as error:
        _fail_on_problems(error)
    click.echo(f"created {folder / 'service.yaml'}")
    from opgen.sync.run import apply, load_services, plan

    report = plan(load_services([folder / "service.yaml"]))
    apply(report)
    for out_dir, change in report.changes:
        click.echo(f"created {out_dir / change.path}")
    click.echo(f"Next: edit {folder / 'service.yaml'}, then run `opgen sync {folder}`.")


def _prompt(question: str, default, kind, check) -> object:
    """Ask until the answer passes `check` (which returns a problem text or None)."""
    while True:
        answer = click.prompt(question, default=default, type=kind)
        problem = check(answer)
        if problem is None:
            return answer
        click.echo(f"  {problem}", err=True)
