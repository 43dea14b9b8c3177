"""The `opgen` command: thin click commands that call the library, print, and set the exit code.

Exit codes: 0 fine; 1 `--check` found drift; 2 bad input (nothing written); 3 sync left
hand-edited files alone (conflicts to resolve). The live commands (report, gate, backtest, audit):
1 gate blocks or audit found a failure; 4 Prometheus gave no answer (gate: cannot decide). Heavy
modules are imported inside commands.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from opgen import __version__

EXIT_DRIFT, EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_NO_ANSWER = 1, 2, 3, 4


def _print_warnings(loaded, as_errors: bool = False) -> int:
    """Print every warning of `loaded` (as errors with `as_errors`, for --strict); how many there were."""
    from opgen.descriptor.load import naming_the_descriptor

    count = 0
    for item in loaded:
        for warning in item.warnings + item.graph_warnings + _rename_warnings(item):
            if item.name_position is not None:
                warning = naming_the_descriptor(warning, item.name_position.file)
            click.echo(f"{warning.position}: {'error' if as_errors else 'warning'}: {warning.message}", err=True)
            count += 1
    for warning in loaded[0].journeys.warnings if loaded and loaded[0].journeys else ():  # the same on every service: once
        click.echo(f"{warning.position}: {'error' if as_errors else 'warning'}: {warning.message}", err=True)
        count += 1
    return count


def _rename_warnings(item) -> tuple:
    """Renamed SLOs without previous_names, against the SLO names of the service's last sync."""
    from opgen.descriptor.renames import rename_warnings
    from opgen.sync.manifest import read_manifest

    record = read_manifest(item.out_dir).services.get(item.name)
    if item.service is None or record is None or item.name_position is None:
        return ()
    synced = tuple(str(name) for name in record.facts.get("slos", ()))
    return tuple(rename_warnings(item.service, item.descriptor, item.name_position.file, synced))


def _fail_on_problems(error) -> None:
    for problem in sorted(error.problems):
        click.echo(f"{problem}", err=True)
    count = len(error.problems)
    click.echo(f"opgen: {count} problem{'s' if count != 1 else ''}; nothing was written.", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _with_rule_budgets(loaded, only_limited: bool = False) -> tuple[list, list]:
    """`loaded` with each service's rule budget (from its manifest record when its inputs are as
    recorded: no descriptor parsed), and the tenants of the ruler(s) that load the rules
    (opgen.rule_budget). With `only_limited`, no budgets and no tenants when no limit applies."""
    from dataclasses import replace

    from opgen.descriptor.blueprints import Blueprints, ruler_setting
    from opgen.errors import DescriptorError
    from opgen.rule_budget import journey_budget, service_budget, tenants

    blueprints = Blueprints()
    try:
        ruler = ruler_setting(loaded[0].fleet_dir or loaded[0].out_dir, blueprints.settings)
    except DescriptorError as error:
        _fail_on_problems(error)
    if only_limited and ruler is None and all(item.rules_format != "mimir" for item in loaded):
        return loaded, []
    loaded = [item if item.rule_budget else replace(item, rule_budget=service_budget(
        item.with_service(blueprints).service, item.rules_format)) for item in loaded]
    journeys = loaded[0].journeys
    budgets = [journey_budget(j, journeys.rules_format(j.name)) for j in journeys.documents] if journeys else []
    return loaded, tenants([item.rule_budget for item in loaded] + budgets, ruler)


def _fail_unless_rules_fit(loaded) -> list:
    """`loaded` with the rule budgets the records keep; exit 2, before anything is written, when
    the rules exceed a limit of their ruler."""
    from opgen.rule_budget import options

    loaded, found = _with_rule_budgets(loaded, only_limited=True)
    over = [tenant for tenant in found if tenant.problems()]
    if not over:
        return loaded
    for tenant in over:
        for problem in tenant.problems():
            click.echo(f"opgen: {problem}", err=True)
    click.echo("Options:", err=True)
    for line in options(over):
        click.echo(f"  - {line}", err=True)
    click.echo("opgen: the rules do not fit the ruler's limits (`opgen rules-stats` shows the budget); nothing was written.",
               err=True)
    sys.exit(EXIT_BAD_INPUT)


def _format_option(command):
    from opgen.conventions import RULES_FORMATS

    return click.option(
        "--format", "rules_format", type=click.Choice(RULES_FORMATS), default=None,
        help="How rules are wrapped, overriding rules_format in opgen-settings.yaml (default: prometheus). "
             "CI's `sync --check` must see the same choice.",
    )(command)


def _blueprints_option(command):
    return click.option(
        "--blueprints", "blueprint_dirs", multiple=True, type=click.Path(path_type=Path), metavar="DIR",
        help="A folder of your own blueprints (repeatable); they shadow opgen's of the same name. "
             "opgen-settings.yaml files in the descriptor's folder or above can list folders too.",
    )(command)


class _Commands(click.Group):
    """opgen's commands: a path that cannot be read or written as opgen needs (opgen.errors.FileError)
    is a message naming it and exit 2, never a traceback."""

    def invoke(self, ctx):
        from opgen.errors import FileError

        try:
            return super().invoke(ctx)
        except FileError as error:
            click.echo(f"opgen: {error}", err=True)
            sys.exit(EXIT_BAD_INPUT)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opgen")
def main() -> None:
    """Turn a service descriptor (service.yaml) into its operational kit: SLO rules and alerts
    with promtool tests, and keep them in sync as the descriptor changes."""
    if sys.stdout is None:  # started with standard output closed: nothing could say what happened
        click.echo("opgen: standard output is closed; run opgen with it open (or redirected to a file)", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _seconds(ctx, param, value: float) -> float:
    """A finite, non-negative number of seconds (nan would make the lock wait forever)."""
    import math

    if not math.isfinite(value) or value < 0:
        raise click.BadParameter(f"{value} is not a number of seconds; give 0 or more, e.g. 60")
    return value


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 2), for CI.")
@_blueprints_option
def validate(paths: tuple[Path, ...], strict: bool, blueprint_dirs: tuple[Path, ...]) -> None:
    """Check descriptors and print every problem as FILE:LINE:COL: message.

    PATHS are descriptor files or folders searched for service.yaml and *.opgen.yaml
    (default: the current folder). Exit code 2 when anything is wrong (with --strict, also when
    anything is only warned about).
    """
    from opgen.errors import DescriptorError
    from opgen.sync.run import load_services

    try:
        loaded = load_services(list(paths) or [Path(".")], blueprint_dirs=blueprint_dirs, reuse=False)
    except DescriptorError as error:
        _fail_on_problems(error)
    warned = _print_warnings(loaded, as_errors=strict)
    if strict and warned:
        click.echo(f"opgen: {warned} warning{'s' if warned != 1 else ''} treated as errors (--strict).", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for item in loaded:
        click.echo(f"ok: {item.descriptor} ({item.service.name}, {len(item.service.slos)} SLOs)")
    for journey in loaded[0].journeys.resolved() if loaded and loaded[0].journeys else ():
        click.echo(f"ok: {journey.journey.file} (journey {journey.journey.name}, {len(journey.steps)} steps)")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: ops/ beside each descriptor).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing files that are missing, stale or edited by hand.")
@click.option("--merge", is_flag=True, help="Three-way merge hand-edited files with the new output; diff3 markers where edits overlap.")
@click.option("--force", is_flag=True, help="Overwrite hand-edited files, keeping each human version as FILE.orig.")
@click.option("--diff/--no-diff", "show_diff", default=True, show_default=True, help="Show a unified diff for each conflict.")
@click.option("--json", "as_json", is_flag=True, help="Print what happened as JSON, for portals and bots.")
@click.option("--lock-timeout", default=60.0, show_default=True, callback=_seconds,
              help="Seconds to wait for another sync of the same folder.")
@_format_option
@_blueprints_option
def sync(paths: tuple[Path, ...], out: Path | None, check: bool, merge: bool, force: bool, show_diff: bool,
         as_json: bool, lock_timeout: float, rules_format: str | None, blueprint_dirs: tuple[Path, ...]) -> None:
    """Generate every artifact of each descriptor into ops/ beside it.

    PATHS are descriptor files or folders searched for service.yaml and *.opgen.yaml
    (default: the current folder). Content between opgen:keep and opgen:end markers is carried
    over; files edited by hand elsewhere are never overwritten without --merge or --force.
    Exit codes: 0 done, 1 drift (--check), 2 bad input or lock timeout, 3 conflicts to resolve.
    """
    from opgen.errors import DescriptorError
    from opgen.sync import plan as p
    from opgen.sync.run import apply, load_services, locked, output_folders, plan

    try:
        loaded = load_services(list(paths) or [Path(".")], out, blueprint_dirs, rules_format)
    except DescriptorError as error:
        _fail_on_problems(error)
    _print_warnings(loaded)
    loaded = _fail_unless_rules_fit(loaded)

    on_terminal = not as_json and _is_terminal()
    if check:
        with _progress(loaded, on_terminal) as rendered_one:
            report = plan(loaded, rendered_one=rendered_one)
        _report(report, as_json, check=True)
        sys.exit(EXIT_DRIFT if report.drifted else 0)

    with locked(output_folders(loaded), lock_timeout):
        with _progress(loaded, on_terminal) as rendered_one:
            report = plan(loaded, merge=merge, rendered_one=rendered_one)
        apply(report, force=force)
    _report(report, as_json, check=False, force=force, show_diff=show_diff)
    if on_terminal and len(loaded) > 1:
        click.echo(_service_table(report))
    left = any(ch.action in (p.CONFLICT, p.ORPHANED) for _, ch in report.changes) and not force
    if left or report.changed_meanwhile:
        sys.exit(EXIT_CONFLICT)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: ops/ beside each descriptor).")
@_format_option
@_blueprints_option
def diff(paths: tuple[Path, ...], out: Path | None, rules_format: str | None, blueprint_dirs: tuple[Path, ...]) -> None:
    """Show, as a unified diff, what `opgen sync` would change; write nothing.

    Exit code 0 when sync would change nothing, 1 when it would.
    """
    from opgen.errors import DescriptorError
    from opgen.sync.run import load_services, plan, unified_diff

    try:
        loaded = load_services(list(paths) or [Path(".")], out, blueprint_dirs, rules_format)
    except DescriptorError as error:
        _fail_on_problems(error)
    loaded = _fail_unless_rules_fit(loaded)
    from opgen.sync import plan as p

    report = plan(loaded)
    for out_dir, change in report.drifted:  # kept files are in sync: sync leaves them as they are
        if change.action == p.CONFLICT:
            click.echo(f"# {out_dir / change.path}: {change.why}; sync will not apply this without --merge or --force")
        click.echo(unified_diff(change, str(out_dir / change.path)), nl=False)
    sys.exit(EXIT_DRIFT if report.drifted else 0)


def _is_terminal() -> bool:
    return sys.stdout.isatty()


class _progress:
    """A progress bar on stderr while a fleet renders (or is queried), when it is a terminal; nothing otherwise."""

    def __init__(self, loaded, on_terminal: bool, label: str = "rendering") -> None:
        self.bar = click.progressbar(length=len(loaded), label=label, file=sys.stderr,
                                     item_show_func=lambda name: name) if on_terminal and len(loaded) > 1 else None

    def __enter__(self):
        if self.bar is None:
            return None
        self.bar.__enter__()
        return lambda name: self.bar.update(1, name)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _service_table(report) -> str:
    """Per service: how many of its files were created, updated, left unchanged, or are in conflict."""
    from opgen.sync import plan as p

    columns = (("created", (p.CREATE,)), ("updated", (p.UPDATE, p.MERGED, p.DELETE)), ("unchanged", (p.UNCHANGED, p.KEPT)),
               ("conflicts", (p.CONFLICT, p.ORPHANED)))
    counts: dict[str, list[int]] = {}
    from opgen.conventions import FLEET_OWNER

    for _, change in report.changes:
        if change.service == FLEET_OWNER:  # the fleet's own files: the summary line counts them
            continue
        row = counts.setdefault(change.service, [0] * len(columns))
        for i, (_, actions) in enumerate(columns):
            row[i] += change.action in actions
    width = max([len("service")] + [len(name) for name in counts])
    lines = [f"{'service':<{width}}  " + "  ".join(f"{title:>9}" for title, _ in columns)]
    lines += [f"{name:<{width}}  " + "  ".join(f"{n:>9}" for n in row) for name, row in sorted(counts.items())]
    return "\n".join(lines)


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
                  p.MERGED: "edited by hand, and opgen has changes for it", p.DELETE: "obsolete",
                  p.ORPHANED: "obsolete, edited by hand"}
        for out_dir, change in report.drifted:
            note = f" ({len(change.orphans)} keep-region(s) would move to the orphans folder)" if change.orphans else ""
            click.echo(f"{labels[change.action]}: {out_dir / change.path}{note}")
        if report.drifted:
            click.echo(f"opgen: {len(report.drifted)} file(s) out of sync; run `opgen sync`.", err=True)
        else:
            kept = report.count(p.KEPT)
            click.echo(f"opgen: {len(report.changes)} file(s) in sync"
                       + (f" ({kept} edited by hand, which sync leaves as they are)." if kept else "."))
        return
    verbs = {p.CREATE: "created", p.UPDATE: "updated", p.DELETE: "deleted", p.MERGED: "merged your edits into"}
    overwritten = 0
    for out_dir, change in report.changes:
        shown = out_dir / change.path
        if shown in report.changed_meanwhile:
            click.echo(f"left {shown}: it changed while opgen was syncing (a save?); it counts as edited by hand now",
                       err=True)
        elif change.action in verbs:
            moved = f" (its keep-regions moved to {out_dir / change.regions_moved_to})" if change.regions_moved_to else ""
            click.echo(f"{verbs[change.action]} {shown}{moved}")
        elif change.action in (p.CONFLICT, p.KEPT) and force:
            overwritten += 1
            click.echo(f"overwrote {shown} (edited by hand; your version is in {_backup_of(report, shown)})")
        elif change.action == p.KEPT:
            click.echo(f"kept {shown}: edited by hand, and a sync leaves it as it is")
        elif change.action == p.ORPHANED and force:
            click.echo(f"deleted {shown} (no longer generated; your edited version is in {_backup_of(report, shown)})")
        elif change.action == p.CONFLICT and change.merged_text:
            click.echo(f"conflict {shown}: your edits and opgen's overlap; resolve the <<<<<<< markers", err=True)
        elif change.action == p.CONFLICT:
            click.echo(f"conflict {shown}: {change.why}; left as it is", err=True)
            if show_diff and change.new_text is not None:
                click.echo(unified_diff(change, str(shown)), err=True, nl=False)
        elif change.action == p.ORPHANED:
            click.echo(f"orphaned {shown}: no longer generated but edited by hand, left as it is", err=True)
    for names in report.renamed.values():
        for old, new in sorted(names.items()):
            click.echo(f"renamed service {old} to {new}: its old files go, their keep-regions move to the new ones")
    for saved in report.orphans:
        click.echo(f"saved keep-region content whose place is gone to {saved}", err=True)
    left = 0 if force else report.count(p.CONFLICT)
    counts = [(report.count(p.CREATE), "created"), (report.count(p.UPDATE), "updated"), (report.count(p.UNCHANGED), "unchanged"),
              (0 if force else report.count(p.KEPT), "kept"), (report.count(p.MERGED), "merged"), (report.count(p.DELETE), "deleted")]
    counts += [(overwritten, "overwritten")] if force else []
    counts += [(left, "in conflict")]
    counts += [(len(report.changed_meanwhile), "changed meanwhile")] if report.changed_meanwhile else []
    summary = ", ".join(f"{count} {word}" for count, word in counts)
    click.echo(f"opgen: {summary}.")
    if (any(ch.action in (p.CONFLICT, p.ORPHANED) for _, ch in report.changes) and not force) or report.changed_meanwhile:
        click.echo("opgen: hand-edited files were left alone; move the edits into the descriptor or a keep-region, "
                   "merge them with `opgen sync --merge`, or overwrite them with `opgen sync --force` (keeps FILE.orig).",
                   err=True)


def _backup_of(report, shown: Path) -> Path:
    """The backup --force made of `shown` (FILE.orig, or FILE.orig.N when that one was taken)."""
    return next((b for b in report.backups if b.parent == shown.parent and b.name.startswith(shown.name + ".orig")),
                shown.with_name(shown.name + ".orig"))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "mermaid"]), default="text", show_default=True,
              help="text for a terminal, dot for Graphviz, mermaid for Markdown that renders diagrams.")
@_blueprints_option
def graph(paths: tuple[Path, ...], fmt: str, blueprint_dirs: tuple[Path, ...]) -> None:
    """Print the dependency graph of a fleet: an edge for each `dependencies[].service`.

    PATHS are descriptor files or folders searched for service.yaml and *.opgen.yaml (default:
    the current folder). Critical edges are solid, the others dashed. Unknown services and
    cycles are warnings on stderr. Exit code 2 when a descriptor is invalid.
    """
    from opgen.errors import DescriptorError
    from opgen.fleet import render_graph
    from opgen.sync.run import fleet_of, load_services

    try:
        loaded = load_services(list(paths) or [Path(".")], blueprint_dirs=blueprint_dirs)
    except DescriptorError as error:
        _fail_on_problems(error)
    _print_warnings(loaded)
    click.echo(render_graph(fleet_of(loaded), fmt), nl=False)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def verify(paths: tuple[Path, ...]) -> None:
    """Check a generated kit with the real tools that are installed: promtool (rules and their
    tests), the PromQL parser (dashboard queries), jsonschema (OpenSLO), python-hcl2 (Terraform),
    markdown-it-py (runbook links), a fresh interpreter (the instrumentation module) and amtool
    (Alertmanager routes). PATH is an ops/ folder, a service folder or descriptor beside one, or a
    folder holding a fleet (its fleet folder and every service's kit are checked); default: the
    current folder.

    One line per check and file. Exit code 1 when a check fails, 2 when PATH holds no kit; a tool
    that is not installed is reported as `skip` with how to install it.
    """
    from opgen import verify as checks

    failed = False
    for path in paths or (Path("."),):
        kits = checks.find_kits(path)
        if not kits:
            click.echo(f"opgen: no generated kit at {path} (an ops/ folder with .opgen/manifest.json); "
                       f"run `opgen sync` first.", err=True)
            sys.exit(2)
        for kit in kits:
            click.echo(f"verifying {kit}")
            for result in checks.verify(kit):
                click.echo(checks.format_result(result))
                failed = failed or result.status == checks.FAIL
    sys.exit(1 if failed else 0)


@main.command("rules-stats")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the budget as JSON.")
@_format_option
@_blueprints_option
def rules_stats(paths: tuple[Path, ...], as_json: bool, rules_format: str | None, blueprint_dirs: tuple[Path, ...]) -> None:
    """Show the rule budget: per service and per ruler tenant, the rule groups, rules and recorded
    series, against the ruler's limits (opgen-settings.yaml `ruler`; Mimir's defaults for mimir).

    Exit code 0 when every tenant fits, 1 when one exceeds a limit (sync would refuse it), 2 on bad input.
    """
    import json

    from opgen.errors import DescriptorError
    from opgen.rule_budget import options
    from opgen.sync.run import load_services

    try:
        loaded = load_services(list(paths) or [Path(".")], blueprint_dirs=blueprint_dirs, rules_format=rules_format)
    except DescriptorError as error:
        _fail_on_problems(error)
    found = _with_rule_budgets(loaded)[1]
    over = [tenant for tenant in found if tenant.problems()]
    if as_json:
        click.echo(json.dumps({"fits": not over, "tenants": [tenant.as_json() for tenant in found],
                               "options": options(over)}, indent=2))
    else:
        from opgen.rule_budget import text_report

        click.echo(text_report(found), nl=False)
        for line in options(over):
            click.echo(f"option: {line}")
    sys.exit(EXIT_DRIFT if over else 0)


@main.command()
def schema() -> None:
    """Print the descriptor's JSON Schema, for editors to validate and complete service.yaml."""
    import json

    from opgen.descriptor.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
@_blueprints_option
def blueprints(blueprint_dirs: tuple[Path, ...]) -> None:
    """List the blueprints a descriptor in the current folder can name in spec.blueprint, and
    where each comes from: opgen's own, or a folder of yours (given with --blueprints or listed in
    an opgen-settings.yaml here or above), which shadows opgen's of the same name.

    Exit code 2 when a blueprint or settings file is invalid (its problems are printed).
    """
    from opgen.descriptor.blueprints import (
        blueprint_folders, blueprint_name_problem, builtin_blueprint_dir, list_blueprints, load_blueprint,
    )
    from opgen.errors import DescriptorError, Position, Problem
    from opgen.paths import display_path

    try:
        entries = list_blueprints(blueprint_folders(Path("."), blueprint_dirs))
    except DescriptorError as error:
        _fail_on_problems(error)
    problems: list = []
    for entry in entries:
        try:
            summary = load_blueprint(entry.path).data["summary"]
        except DescriptorError as error:
            summary, problems = "(invalid: see below)", problems + error.problems
        name_problem = blueprint_name_problem(entry.name)
        if name_problem:
            problems.append(Problem(Position(display_path(entry.path), 0, 0), name_problem))
        origin = "built-in" if entry.builtin else f"from {display_path(entry.path)}"
        shadowed = ", ".join("the built-in" if path.parent == builtin_blueprint_dir() else display_path(path) for path in entry.shadows)
        click.echo(f"{entry.name:<16} {summary} [{origin}{'; shadows ' + shadowed if shadowed else ''}]")
    if problems:
        _fail_on_problems(DescriptorError(problems))


def _question_options(command):
    """One option per new-service question (opgen.questions.QUESTIONS), all read as text by opgen."""
    from opgen.questions import QUESTIONS

    for question in reversed(QUESTIONS):
        command = click.option(question.flag, question.key, metavar=question.metavar, help=question.help,
                               multiple=question.repeatable)(command)
    return command


@main.command("new-service")
@click.argument("name")
@_question_options
@click.option("--no-input", is_flag=True, help="Ask nothing; take the flags, and the blueprint's defaults for the rest.")
@_blueprints_option
def new_service(name: str, no_input: bool, blueprint_dirs: tuple[Path, ...], **answers) -> None:
    """Create NAME/service.yaml from a blueprint, then generate its ops/ folder.

    Asks the operational questions (where it runs, traffic and spikiness, cost, GPUs, on-call,
    dependencies, objectives) with the blueprint's defaults, and asks again on a bad answer;
    each is also a flag, for --no-input. Refuses an existing NAME folder.
    """
    from opgen.errors import DescriptorError
    from opgen.scaffold import answers_from_flags, create_service

    try:
        created = create_service(answers_from_flags(name, answers), Path("."), None if no_input else _ClickPrompter(),
                                 blueprint_dirs)
    except DescriptorError as error:
        _fail_on_problems(error)
    descriptor = created.folder / "service.yaml"
    click.echo(f"created {descriptor}")
    _print_warnings(created.loaded)
    for out_dir, change in created.report.changes:
        click.echo(f"created {out_dir / change.path}")
    flags = "".join(f" --blueprints {folder}" for folder in blueprint_dirs)
    click.echo(f"Next: edit {descriptor}, then run `opgen sync{flags} {created.folder}`.")


class _ClickPrompter:
    """Asks on the terminal until the answer passes its check (opgen.scaffold.Prompter)."""

    def ask(self, question, default, read, choices=None):
        from opgen.scaffold import BadAnswer

        kind = click.Choice(choices) if choices else None
        while True:
            text = click.prompt(question, default=default, type=kind, show_default=bool(default), show_choices=bool(choices))
            try:
                return read(text)
            except BadAnswer as problem:
                click.echo(f"  {problem}", err=True)

    def confirm(self, question, default):
        return click.confirm(question, default=default)


# --- live commands: the descriptor against a Prometheus (opgen.live, docs/live.md) -------------------


def _live_options(command):
    """--prometheus, --timeout and --blueprints; credentials come from the environment (docs/live.md)."""
    command = click.option("--timeout", default=30.0, show_default=True, metavar="SECONDS",
                           type=click.FloatRange(min=0, min_open=True),
                           help="Seconds to wait for each answer (each request is tried 3 times).")(command)
    command = click.option("--prometheus", "prometheus_url", required=True, metavar="URL",
                           help="Base URL of a Prometheus HTTP API (Prometheus, Thanos, Mimir: http://host:9090, "
                                "https://mimir/prometheus). Credentials and headers come from OPGEN_PROMETHEUS_* "
                                "variables (docs/live.md), never from here.")(command)
    return _blueprints_option(command)


def _at_option(command):
    return click.option("--at", "at_text", metavar="TIME", help="Judge at TIME, RFC 3339 or Unix seconds (default: now).")(command)


def _live_services(paths: tuple[Path, ...], blueprint_dirs: tuple[Path, ...]) -> list:
    """The services of PATHS (default: the current folder), each parsed; bad descriptors exit 2."""
    from opgen.errors import DescriptorError
    from opgen.sync.run import load_services

    try:
        loaded = load_services(list(paths) or [Path(".")], blueprint_dirs=blueprint_dirs, reuse=False)
    except DescriptorError as error:
        _fail_on_problems(error)
    _print_warnings(loaded)
    return [item.service for item in loaded]


def _connect(url: str, timeout: float):
    from opgen.live.client import Prometheus, SettingsError

    try:
        return Prometheus.from_environment(url, timeout)
    except SettingsError as error:
        _bad_input(str(error))


def _time(text: str | None, flag: str) -> float:
    import time

    from opgen.live.times import parse_time

    if text is None:
        return time.time()
    try:
        return parse_time(text, flag)
    except ValueError as error:
        _bad_input(str(error))


def _bad_input(message: str):
    click.echo(f"opgen: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _no_answer(error) -> None:
    click.echo(f"opgen: {error}", err=True)
    sys.exit(EXIT_NO_ANSWER)


def _figures(prometheus, services: list, at: float, judged=None) -> list:
    """(service, figures of each of its SLOs, or of those `judged(service)` names), with a progress
    bar on a terminal for fleets."""
    from opgen.live.budget import slo_figures

    result = []
    with _progress(services, sys.stderr.isatty(), "querying") as queried_one:
        for service in services:
            slos = [slo for slo in service.slos if judged is None or slo.name in judged(service)]
            result.append((service, tuple(slo_figures(prometheus, service, slo, at) for slo in slos)))
            if queried_one:
                queried_one(service.name)
    return result


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_live_options
@_at_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]), default="text", show_default=True,
              help="text for a terminal, json for programs, markdown for a pull request, html for a review page.")
def report(paths: tuple[Path, ...], prometheus_url: str, timeout: float, blueprint_dirs: tuple[Path, ...],
           at_text: str | None, fmt: str) -> None:
    """Report each SLO's SLI and error budget over its window, from the raw series at --at.

    PATHS are descriptor files or folders (default: the current folder). Per SLO: objective,
    window, SLI (good / total, request-weighted), budget spent and left, burn rate over 1h and 1d,
    time to exhaustion at the 1h rate, status (ok, burning, exhausted, no-data) and the data seen.
    Exit codes: 0 done, 2 bad input, 4 Prometheus gave no answer.
    """
    from opgen.live.client import PrometheusError
    from opgen.live.report import Report, formatted

    services = _live_services(paths, blueprint_dirs)
    prometheus = _connect(prometheus_url, timeout)
    at = _time(at_text, "--at")
    try:
        result = Report(prometheus.url, at, tuple(_figures(prometheus, services, at)))
    except PrometheusError as error:
        _no_answer(error)
    click.echo(formatted(result, fmt), nl=False)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_live_options
@_at_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def gate(paths: tuple[Path, ...], prometheus_url: str, timeout: float, blueprint_dirs: tuple[Path, ...],
         at_text: str | None, fmt: str) -> None:
    """Decide whether a deploy may go, by each service's spec.error_budget_policy.

    Blocks when an SLO has spent block_at of its window's error budget (100 % by default), warns
    from warn_at (by tier). Exit codes: 0 allow (or warn), 1 block, 2 bad input, 4 cannot decide
    (Prometheus unreachable, or no data): the caller chooses whether 4 blocks.
    """
    import json

    from opgen.live import gate as g
    from opgen.live.client import PrometheusError
    from opgen.live.times import format_time

    services = _live_services(paths, blueprint_dirs)
    prometheus = _connect(prometheus_url, timeout)
    at = _time(at_text, "--at")
    try:
        judged = _figures(prometheus, services, at, lambda service: service.error_budget_policy.slos)
        verdicts = [g.judge(service, list(figures)) for service, figures in judged]
    except PrometheusError as error:
        if fmt == "json":
            click.echo(json.dumps({"decision": g.UNDECIDED, "exit_code": EXIT_NO_ANSWER, "at": format_time(at),
                                   "error": str(error), "services": []}, indent=2))
        click.echo(f"opgen: {error}: cannot decide (exit {EXIT_NO_ANSWER})", err=True)
        sys.exit(EXIT_NO_ANSWER)
    decision = g.worst(v.decision for v in verdicts)
    code = g.EXIT_CODES[decision]
    if fmt == "json":
        click.echo(json.dumps({"decision": decision, "exit_code": code, "at": format_time(at),
                               "services": [v.as_json() for v in verdicts]}, indent=2))
    else:
        for verdict in verdicts:
            for slo in verdict.verdicts:
                click.echo(f"{slo.decision}: {slo.reason}")
            if not verdict.verdicts:
                click.echo(f"allow: {verdict.service.name}: its error-budget policy judges no SLO")
        click.echo(f"opgen gate: {decision} (exit {code})")
    sys.exit(code)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_live_options
@click.option("--since", "since_text", required=True, metavar="DURATION", help="How far back to start, like 30d or 12h.")
@click.option("--until", "until_text", metavar="TIME", help="Where to stop, RFC 3339 or Unix seconds (default: now).")
@click.option("--eval-interval", "interval_text", default="1m", show_default=True, metavar="DURATION",
              help="Prometheus' evaluation_interval, for rule groups that set none.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def backtest(paths: tuple[Path, ...], prometheus_url: str, timeout: float, blueprint_dirs: tuple[Path, ...],
             since_text: str, until_text: str | None, interval_text: str, fmt: str) -> None:
    """List every firing the generated alerts would have had over the past, as if loaded then.

    Recording rules are computed from the raw series, so the alerts see history from before
    --since. Per firing: alert, severity, labels, start and end; then per alert the pages,
    tickets and time spent firing. Exit codes: 0 done, 2 bad input, 4 Prometheus gave no answer.
    """
    import json

    from opgen.live import backtest as b
    from opgen.live.client import PrometheusError
    from opgen.live.expand import CannotExpand
    from opgen.slo.durations import parse_duration

    services = _live_services(paths, blueprint_dirs)
    prometheus = _connect(prometheus_url, timeout)
    until = _time(until_text, "--until")
    durations = []
    for flag, text in (("--since", since_text), ("--eval-interval", interval_text)):
        try:
            durations.append(parse_duration(text))
        except ValueError as error:
            _bad_input(f"{flag} {text!r} {error}")
    since, interval = until - float(durations[0]), durations[1]
    firings = []
    try:
        with _progress(services, sys.stderr.isatty(), "evaluating") as evaluated_one:
            for service in services:
                firings += b.backtest(prometheus, service, since, until, interval)
                if evaluated_one:
                    evaluated_one(service.name)
    except PrometheusError as error:
        _no_answer(error)
    except CannotExpand as error:
        _bad_input(f"cannot backtest {error}")
    result = b.Backtest(prometheus.url, since, until, interval, tuple(sorted(firings, key=lambda f: (f.start, f.alert))))
    click.echo(json.dumps(result.as_json(), indent=2) if fmt == "json" else result.text(), nl=fmt == "json")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_live_options
@_at_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def audit(paths: tuple[Path, ...], prometheus_url: str, timeout: float, blueprint_dirs: tuple[Path, ...],
          at_text: str | None, fmt: str) -> None:
    """Check what the descriptors declare against what Prometheus observes.

    The generated rule groups are loaded and healthy; scrape targets are up; every selector the
    rules, dashboard and autoscaler read matches series; every SLO threshold is a bucket `le`;
    declared dependencies show in client metrics, and undeclared peers are listed. One line per
    check. Exit codes: 0 all fine, 1 a check failed, 2 bad input, 4 Prometheus gave no answer.
    """
    import json

    from opgen.live import audit as a
    from opgen.live.client import PrometheusError
    from opgen.live.times import format_time

    services = _live_services(paths, blueprint_dirs)
    prometheus = _connect(prometheus_url, timeout)
    at = _time(at_text, "--at")
    findings = []
    try:
        loaded_groups = prometheus.rule_groups()
        with _progress(services, sys.stderr.isatty(), "auditing") as audited_one:
            for service in services:
                findings += a.audit(prometheus, service, at, loaded_groups)
                if audited_one:
                    audited_one(service.name)
    except PrometheusError as error:
        _no_answer(error)
    failed = sum(f.status == a.FAIL for f in findings)
    if fmt == "json":
        click.echo(json.dumps({"at": format_time(at), "failed": failed, "findings": [f.as_json() for f in findings]}, indent=2))
    else:
        for finding in findings:
            click.echo(finding.line())
        click.echo(f"opgen audit: {len(findings)} checks, {failed} failed")
    sys.exit(1 if failed else 0)
