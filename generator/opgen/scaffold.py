"""A new service: its descriptor from a blueprint and the answers to the operational questions
(where it runs, how much traffic and how spiky, what it may cost, GPUs, who is on call, what it
depends on, its objectives), then its ops/ kit. Behind `opgen new-service`, the cookiecutter
template's hooks and the Backstage template.

Every answer arrives as text (a flag, a prompt, a portal form field) and is read by one function
per question that checks it with the descriptor's own field declarations, so every route accepts
and refuses the same answers with the same messages. The descriptor is built as commented YAML
data (never text-templated) and validated by the loader every descriptor goes through before
anything is written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol

from jinja2 import pass_context
from jinja2.ext import Extension

from opgen.capacity import HOURS_PER_MONTH
from opgen.descriptor import spec
from opgen.descriptor.blueprints import (
    SETTINGS, SETTINGS_FILE, available_blueprints, blueprint_folders, load_blueprint, runbook_base_url_setting,
)
from opgen.descriptor.fields import Kind, Number, check_value
from opgen.descriptor.load import load_service_text
from opgen.errors import DescriptorError, Position, Problem
from opgen.questions import (  # re-exported: the hooks and tests read them here
    DEFAULT_BASELINE_RPS, DEFAULT_BLUEPRINT, DEFAULT_SPIKINESS, DEFAULT_TEAM, DEFAULT_TIER, FLAGS, QUESTIONS, Question,
)
from opgen.slo.numbers import format_number, to_fraction
from opgen.sync.write import atomic_write

NO_DEPENDENCIES = "none"
COMMENT_COLUMN = 30
TIERS = ("1", "2", "3", "4")
UNITS = {"http": "requests", "grpc": "calls", "queue-consumer": "messages"}
REPLICA_WORDS = {"kubernetes": "pod", "ecs": "task", "lambda": "execution environment"}


@dataclass
class Answers:
    """The answers as given, as text; None for a question not answered (its default applies, or,
    interactively, it is asked)."""

    name: str
    blueprint: str | None = None
    team: str | None = None
    tier: str | None = None
    platform: str | None = None
    namespace: str | None = None
    baseline_rps: str | None = None
    peak_rps: str | None = None
    per_instance_rps: str | None = None
    gpus: str | None = None
    gpu_model: str | None = None
    gpu_hourly_cost_usd: str | None = None
    monthly_budget_usd: str | None = None
    slack: str | None = None
    pagerduty_service_id: str | None = None
    dependencies: str | None = None
    objectives: str | None = None
    runbook_base_url: str | None = None


def answers_from_text(values: Mapping[str, object]) -> Answers:
    """Answers from a portal form or cookiecutter: an empty answer means opgen's default, as an
    omitted flag does. Other keys (cookiecutter's own `_template` and so on) are ignored."""
    return Answers(name=str(values.get("name", "")), **{q.key: _text(values.get(q.key)) for q in QUESTIONS})


def answers_from_flags(name: str, values: Mapping[str, object]) -> Answers:
    """Answers from `opgen new-service` options; repeated options join as one comma-separated answer."""
    def joined(value):
        return ",".join(value) if isinstance(value, (tuple, list)) else value

    return Answers(name=name, **{q.key: _text(joined(values.get(q.key))) for q in QUESTIONS})


def _text(value: object) -> str | None:
    return None if value is None else (str(value).strip() or None)


class Prompter(Protocol):
    """How new-service asks (click in the CLI). `read` turns the answer's text into its value or
    raises BadAnswer, whose message is shown before asking again; `choices`, when given, are
    the only answers offered."""

    def ask(self, question: str, default: str, read: Callable[[str], Any], choices: list[str] | None = None) -> Any: ...

    def confirm(self, question: str, default: bool) -> bool: ...


class BadAnswer(ValueError):
    """An answer its check refused; the message says why, without naming the flag."""


# --- entry points ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    folder: Path
    loaded: list  # [sync.run.Loaded]: the new service, with its warnings
    report: Any  # sync.run.Report: what sync wrote


def create_service(answers: Answers, parent: Path, prompter: Prompter | None = None,
                   blueprint_dirs: tuple[Path, ...] = ()) -> Created:
    """parent/NAME/service.yaml, then its ops/ as `opgen sync` generates it."""
    from opgen.sync.run import apply, load_services, plan

    folder = scaffold(answers, parent, prompter, blueprint_dirs)
    loaded = load_services([folder / "service.yaml"], blueprint_dirs=blueprint_dirs)
    report = plan(loaded)
    apply(report)
    return Created(folder, loaded, report)


def without_machine_state(created: Created) -> Created:
    """Drop what only this machine can use from a service a template made (a portal publishes it
    elsewhere; cruft diffs two renders of it): the stat cache, which names files by inode and time.
    The next `opgen sync` builds it again."""
    from opgen import conventions as c

    (created.folder / c.OPS_DIR / c.STAT_CACHE_PATH).unlink(missing_ok=True)
    return created


def scaffold(answers: Answers, parent: Path, prompter: Prompter | None = None,
             blueprint_dirs: tuple[Path, ...] = ()) -> Path:
    """Create parent/NAME/service.yaml; refuses an existing folder before asking anything.
    `blueprint_dirs` are `--blueprints` folders; settings files above parent/NAME add theirs."""
    folder = _service_folder(answers, parent)
    if folder.exists():
        raise DescriptorError([Problem(Position(str(folder), 0, 0), "already exists; opgen new-service never overwrites a folder")])
    text = build_descriptor(answers, prompter, blueprint_folders(folder, blueprint_dirs))
    settings = settings_text(answers, prompter, folder)
    atomic_write(folder / "service.yaml", text)
    if settings is not None:
        atomic_write(folder / SETTINGS_FILE, settings)
    return folder


def check_answers(answers: Answers, parent: Path = Path("."), blueprint_dirs: tuple[Path, ...] = ()) -> None:
    """Validate answers exactly as new-service does for a service in parent/NAME, writing nothing
    (a portal's pre-check; whether the folder exists is the portal's business)."""
    folder = _service_folder(answers, parent)
    build_descriptor(answers, None, blueprint_folders(folder, blueprint_dirs))
    settings_text(answers, None, folder)


def settings_text(answers: Answers, prompter: Prompter | None, folder: Path) -> str | None:
    """NAME/opgen-settings.yaml with the runbook base URL, when one is given, or asked because no
    settings file above NAME sets it (a fleet's root settings already say where its services are
    browsable); None when there is nothing to write."""
    ask = _Interview(answers, prompter)
    if ask.given("runbook_base_url") is None and runbook_base_url_setting(folder):
        return None
    url = ask.text("runbook_base_url", f"Where will {folder.name}/ be browsable, like "
                   f"https://github.com/acme/{folder.name}/blob/main (runbook links start there; empty: none)", "",
                   _optional(_read_field(SETTINGS, "runbook_base_url")))
    if url is None:
        return None
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    settings = CommentedMap(runbook_base_url=url)
    settings.yaml_add_eol_comment("# where this folder is browsable: every runbook link starts here", "runbook_base_url",
                                  column=len("runbook_base_url: ") + len(url) + 2)
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096
    buffer = io.StringIO()
    buffer.write("# opgen settings for the descriptors in this folder and below (docs/fleet.md).\n")
    yaml.dump(settings, buffer)
    return buffer.getvalue()


def _service_folder(answers: Answers, parent: Path) -> Path:
    problem = check_value(spec.METADATA.field_named("name").kind, answers.name, "NAME")
    if problem:
        raise DescriptorError([Problem(Position("NAME", 0, 0), problem)])
    return parent / answers.name


# --- the interview ---------------------------------------------------------------------------


class _Interview:
    """Each answer from the text given, else asked (with a prompter), else the default; a bad
    given answer is a DescriptorError at its flag."""

    def __init__(self, answers: Answers, prompter: Prompter | None) -> None:
        self.answers, self.prompter = answers, prompter

    def given(self, key: str) -> str | None:
        return getattr(self.answers, key)

    def text(self, key: str, question: str, default: str, read: Callable[[str], Any]) -> Any:
        given = self.given(key)
        if given is not None:
            return self.read_given(key, given, read)
        if self.prompter is None:
            return read(default)
        return self.prompter.ask(question, default, read)

    def choose(self, key: str, question: str, choices: list[str], default: str, read: Callable[[str], Any]) -> Any:
        given = self.given(key)
        if given is not None:
            return self.read_given(key, given, read)
        if self.prompter is None:
            return read(default)
        return self.prompter.ask(question, default, read, choices)

    def confirm(self, question: str, default: bool) -> bool:
        return self.prompter.confirm(question, default) if self.prompter else default

    def read_given(self, key: str, text: str, read: Callable[[str], Any]) -> Any:
        try:
            return read(text)
        except BadAnswer as problem:
            raise DescriptorError([Problem(Position(FLAGS[key], 0, 0), str(problem))]) from None

    def refuse(self, keys: Iterable[str], reason: str) -> None:
        """Questions that do not apply: a given answer is an error rather than silently dropped."""
        problems = [Problem(Position(FLAGS[k], 0, 0), reason) for k in keys if self.given(k) is not None]
        if problems:
            raise DescriptorError(problems)


@dataclass(frozen=True)
class _Blueprint:
    """What the questions need to know of the chosen blueprint."""

    name: str
    spec: dict[str, Any]

    @property
    def interface_kinds(self) -> list[str]:
        return [i["kind"] for i in self.spec.get("interfaces", [])]

    @property
    def is_cron_job(self) -> bool:
        return bool(self.interface_kinds) and all(kind == "cron" for kind in self.interface_kinds)

    @property
    def unit(self) -> str:
        return next((UNITS[k] for k in self.interface_kinds if k in UNITS), "requests")

    @property
    def gpu(self) -> dict[str, Any] | None:
        return self.spec.get("resources", {}).get("gpu")


def build_descriptor(answers: Answers, prompter: Prompter | None = None, blueprint_dirs: tuple[Path, ...] = ()) -> str:
    """The text of NAME/service.yaml from a blueprint and the answers (asking for the others when
    a prompter is given), validated by the same loader as every descriptor. `blueprint_dirs` are
    all the user blueprint folders."""
    ask = _Interview(answers, prompter)
    blueprints = available_blueprints(blueprint_dirs)
    blueprint = _Blueprint(*ask.choose("blueprint", "Blueprint", list(blueprints), _default_blueprint(blueprints),
                                       _read_blueprint(blueprints)))
    team = ask.text("team", "Owning team (lower-case words joined by '-', like payments)", DEFAULT_TEAM,
                    _read_field(spec.METADATA, "team"))
    tier = ask.choose("tier", "Tier: 1 (most critical) to 4", list(TIERS), DEFAULT_TIER, _read_number(spec.METADATA, "tier"))
    platform = ask.choose("platform", "Platform", list(spec.PLATFORMS), blueprint.spec.get("runtime", {}).get("platform", "kubernetes"),
                          _read_platform(blueprint))
    namespace = ask.text("namespace", {"kubernetes": "Kubernetes namespace", "ecs": "ECS cluster"}.get(
        platform, "Namespace: the group of services it belongs to"), answers.name, _read_field(spec.RUNTIME, "namespace"))
    traffic = _ask_traffic(ask, blueprint, platform)
    gpu = _ask_gpu(ask, blueprint, platform)
    budget = ask.text("monthly_budget_usd", "Monthly cost budget in US dollars" + _gpu_cost_hint(gpu) + " (empty: none)", "",
                      _optional(_read_number(spec.COST, "monthly_budget_usd")))
    slack = ask.text("slack", "Slack channel for tickets and questions, like #payments-oncall (empty: none)", "",
                     _optional(_read_field(spec.ONCALL, "slack")))
    pagerduty = ask.text("pagerduty_service_id", "PagerDuty service id that pages go to, like PABC123 (empty: none)", "",
                         _optional(_read_field(spec.ONCALL, "pagerduty_service_id")))
    dependencies = _ask_dependencies(ask, blueprint)
    slos = _ask_objectives(ask, blueprint)

    descriptor = Descriptor(
        name=answers.name, blueprint=blueprint.name, team=team, tier=tier, platform=platform, namespace=namespace,
        unit=blueprint.unit, traffic=traffic, gpu=gpu, monthly_budget_usd=budget, slack=slack,
        pagerduty_service_id=pagerduty, dependencies=dependencies, slos=slos,
    )
    text = descriptor_text(descriptor)
    load_service_text(text, f"{answers.name}/service.yaml", blueprint_dirs)  # the same validation as every descriptor
    return text


def _default_blueprint(blueprints: dict[str, Path]) -> str:
    return DEFAULT_BLUEPRINT if DEFAULT_BLUEPRINT in blueprints else next(iter(blueprints), DEFAULT_BLUEPRINT)


def _ask_traffic(ask: _Interview, blueprint: _Blueprint, platform: str) -> dict[str, Any]:
    keys = ("baseline_rps", "peak_rps", "per_instance_rps")
    if blueprint.is_cron_job:
        ask.refuse(keys, f"the {blueprint.name} blueprint is a cron job, which serves no requests; leave it out")
        return {}
    unit, replica = blueprint.unit, REPLICA_WORDS[platform]
    baseline = ask.text("baseline_rps", f"Typical {unit} per second", str(DEFAULT_BASELINE_RPS),
                        _read_number(spec.TRAFFIC, "baseline_rps"))
    peak = ask.text(
        "peak_rps",
        f"Peak {unit} per second. Peak / typical is the spikiness: 2 to 3 for a daily curve, 10 or more for "
        "launches, batch feeds and retry storms; the maximum replicas are sized for the peak",
        _format(max(to_fraction(baseline) * DEFAULT_SPIKINESS, 1)), _read_peak(baseline))
    per_instance = ask.text(
        "per_instance_rps", f"{unit.capitalize()} per second one {replica} sustains at full load, from a load test "
        f"(empty: not measured yet)", "", _optional(_read_number(spec.TRAFFIC, "per_instance_rps")))
    traffic = {"baseline_rps": baseline, "peak_rps": peak}
    if per_instance is not None:
        traffic["per_instance_rps"] = per_instance
    return traffic


def _ask_gpu(ask: _Interview, blueprint: _Blueprint, platform: str) -> dict[str, Any] | None:
    declared = blueprint.gpu
    if platform != "kubernetes":  # a blueprint with GPUs refused the platform already
        ask.refuse(("gpus", "gpu_model", "gpu_hourly_cost_usd"), f"GPUs are supported on kubernetes only, not on {platform}")
        return None
    if declared is None and ask.given("gpus") is None and not ask.confirm("Does it need GPUs?", False):
        ask.refuse(("gpu_model", "gpu_hourly_cost_usd"), f"only for a service with GPUs: give {FLAGS['gpus']} COUNT too")
        return None
    declared = declared or {}
    gpu = {"count": ask.text("gpus", "GPUs per replica", str(declared.get("count", 1)), _read_number(spec.GPU, "count"))}
    model = ask.text("gpu_model", "GPU model, like nvidia-l4 (empty: not said)", declared.get("model", ""),
                     _optional(_read_field(spec.GPU, "model")))
    cost = ask.text("gpu_hourly_cost_usd", "What one GPU costs per hour, in US dollars (empty: not known)",
                    _format(declared["hourly_cost_usd"]) if "hourly_cost_usd" in declared else "",
                    _optional(_read_number(spec.GPU, "hourly_cost_usd")))
    if model is not None:
        gpu["model"] = model
    if cost is not None:
        gpu["hourly_cost_usd"] = cost
    return gpu


def _gpu_cost_hint(gpu: dict[str, Any] | None) -> str:
    if not gpu or "hourly_cost_usd" not in gpu:
        return ""
    month = to_fraction(gpu["hourly_cost_usd"]) * gpu["count"] * HOURS_PER_MONTH
    return f"; the GPUs of one replica cost {format_number(round(month))} USD a month"


def _ask_dependencies(ask: _Interview, blueprint: _Blueprint) -> list[dict[str, Any]]:
    declared = blueprint.spec.get("dependencies", [])
    default = ",".join(_dependency_text(d) for d in declared) or NO_DEPENDENCIES

    def read(text: str) -> list[dict[str, Any]]:
        # The blueprint's own list as it is (a text answer cannot say everything a dependency can).
        return [dict(d) for d in declared] if _squeeze(text) == _squeeze(default) else parse_dependencies(text)

    return ask.text("dependencies", "What it calls, as NAME:KIND or NAME:KIND:critical, comma-separated, like "
                    f"orders-db:postgres:critical,cache:redis ({NO_DEPENDENCIES!r} for none; kinds: "
                    f"{', '.join(spec.DEPENDENCY_KINDS)})", default, read)


def _ask_objectives(ask: _Interview, blueprint: _Blueprint) -> list[dict[str, Any]]:
    given = ask.read_given("objectives", ask.given("objectives"), parse_objectives) if ask.given("objectives") else {}
    known = [slo["name"] for slo in blueprint.spec.get("slos", [])]
    unknown = [name for name in given if name not in known]
    if unknown:
        raise DescriptorError([Problem(Position(FLAGS["objectives"], 0, 0),
                                       f"the {blueprint.name} blueprint has no SLO named {', '.join(unknown)} "
                                       f"(its SLOs: {', '.join(known) or 'none'})")])
    slos = []
    for slo in blueprint.spec.get("slos", []):
        read = _read_objective(slo["name"])
        if slo["name"] in given:
            objective = ask.read_given("objectives", given[slo["name"]], read)
        elif ask.prompter is not None:
            about = f" ({slo['description'].rstrip('.')})" if slo.get("description") else ""
            objective = ask.prompter.ask(f"Objective of the {slo['name']} SLO{about}, in percent", _format(slo["objective"]), read)
        else:
            objective = slo["objective"]
        slos.append({**slo, "objective": objective})
    return slos


# --- reading answers -------------------------------------------------------------------------


def parse_objectives(text: str) -> dict[str, str]:
    """"availability=99.9,latency=99" as {SLO: its percent, as text}; the percent is checked later."""
    result = {}
    for item in _items(text):
        slo, sep, value = item.partition("=")
        if not sep or not slo.strip() or not value.strip():
            raise BadAnswer(f"{item!r} is not SLO=PERCENT, e.g. availability=99.95")
        result[slo.strip()] = value.strip()
    return result


def parse_dependencies(text: str) -> list[dict[str, Any]]:
    """"orders-db:postgres:critical,cache:redis" as dependency entries, each checked as the descriptor's."""
    if _squeeze(text) == NO_DEPENDENCIES:
        return []
    result: list[dict[str, Any]] = []
    for item in _items(text):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "critical"):
            raise BadAnswer(f"{item!r} is not NAME:KIND or NAME:KIND:critical, e.g. orders-db:postgres:critical")
        dependency: dict[str, Any] = {"name": parts[0], "kind": parts[1]}
        if len(parts) == 3:
            dependency["critical"] = True
        problem = check_value(spec.DEPENDENCY, dependency, "")
        if problem:
            raise BadAnswer(f"{item!r}: {problem}")
        if any(d["name"] == dependency["name"] for d in result):
            raise BadAnswer(f"dependency {dependency['name']!r} is named twice")
        result.append(dependency)
    return result


def _dependency_text(dependency: Mapping[str, Any]) -> str:
    return f"{dependency['name']}:{dependency['kind']}" + (":critical" if dependency.get("critical") else "")


def _items(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise BadAnswer(f"{text.strip()!r} has an empty entry between commas")
    return items


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _read_blueprint(blueprints: dict[str, Path]) -> Callable[[str], tuple[str, dict[str, Any]]]:
    def read(text: str) -> tuple[str, dict[str, Any]]:
        if text not in blueprints:
            raise BadAnswer(f"unknown blueprint {text!r}; known: {', '.join(blueprints) or 'none'}")
        return text, load_blueprint(blueprints[text]).data["spec"]
    return read


def _read_platform(blueprint: _Blueprint) -> Callable[[str], str]:
    check = _read_field(spec.RUNTIME, "platform")

    def read(text: str) -> str:
        platform = check(text)
        if blueprint.gpu is not None and platform != "kubernetes":
            raise BadAnswer(f"is {platform!r}, but the {blueprint.name} blueprint needs GPUs, which opgen supports on kubernetes only")
        return platform
    return read


def _read_peak(baseline: float | int) -> Callable[[str], float | int]:
    check = _read_number(spec.TRAFFIC, "peak_rps")

    def read(text: str) -> float | int:
        peak = check(text)
        if peak < baseline:
            raise BadAnswer(f"is {_format(peak)}, below the typical {_format(baseline)}; the peak is the busiest it gets")
        return peak
    return read


def _read_objective(slo: str) -> Callable[[str], float | int]:
    check = _read_number(spec.SLO, "objective")

    def read(text: str) -> float | int:
        try:
            return check(text)
        except BadAnswer as problem:
            raise BadAnswer(f"{slo} {problem}") from None
    return read


def _read_field(declaration: spec.Object, name: str) -> Callable[[str], str]:
    """Text checked as the descriptor checks that field."""
    kind = declaration.field_named(name).kind

    def read(text: str) -> str:
        return _checked(kind, text.strip())
    return read


def _read_number(declaration: spec.Object, name: str) -> Callable[[str], float | int]:
    """A number written as text, checked as the descriptor checks that field."""
    kind = declaration.field_named(name).kind
    assert isinstance(kind, Number)

    def read(text: str) -> float | int:
        text = text.strip()
        try:
            value: float | int = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise BadAnswer(f"{text!r} is not {'a whole number' if kind.integer else 'a number'}") from None
        value = _checked(kind, value)
        return value if kind.integer else _plain_number(value)
    return read


def _optional(read: Callable[[str], Any]) -> Callable[[str], Any]:
    """An empty answer is no answer (the field is left out)."""
    return lambda text: None if not text.strip() else read(text)


def _checked(kind: Kind, value: Any) -> Any:
    problem = check_value(kind, value, "")
    if problem:
        raise BadAnswer(problem)
    return value


def _plain_number(value: float | int) -> float | int:
    """40.0 is written 40; finite floats only (the field check refused the others)."""
    return int(value) if float(value).is_integer() else float(value)


def _format(value: Any) -> str:
    return format_number(to_fraction(value))


# --- the descriptor --------------------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    """What new-service writes; everything else comes from the blueprint."""

    name: str
    blueprint: str
    team: str
    tier: int
    platform: str
    namespace: str
    unit: str  # requests, calls or messages: for the comments
    traffic: dict[str, Any]  # empty for a cron job
    gpu: dict[str, Any] | None
    monthly_budget_usd: float | int | None
    slack: str | None
    pagerduty_service_id: str | None
    dependencies: list[dict[str, Any]]
    slos: list[dict[str, Any]]


def descriptor_text(d: Descriptor) -> str:
    """service.yaml as commented YAML data: one comment per field saying what it is for."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def commented(pairs: list[tuple[str, Any, str]]) -> CommentedMap:
        mapping = CommentedMap()
        for key, value, comment in pairs:
            if value is None:
                continue
            mapping[key] = value
            if comment:
                mapping.yaml_add_eol_comment("# " + comment, key, column=COMMENT_COLUMN)
        return mapping

    def flow(mapping: Mapping[str, Any]) -> CommentedMap:
        item = CommentedMap(mapping)
        item.fa.set_flow_style()
        return item

    oncall = commented([
        ("slack", d.slack, "tickets and questions go here"),
        ("pagerduty_service_id", d.pagerduty_service_id, "page-severity alerts go to this PagerDuty service"),
    ])
    slos = CommentedSeq()
    for slo in d.slos:
        item = CommentedMap(slo)
        item["sli"] = flow(slo["sli"])
        slos.append(item)
    unit, sized = d.unit, "per_instance_rps" in d.traffic
    traffic = commented([
        ("baseline_rps", d.traffic.get("baseline_rps"), f"typical {unit} per second" + (": sizes the minimum replicas" if sized else "")),
        ("peak_rps", d.traffic.get("peak_rps"), f"busiest expected {unit} per second" + (": sizes the maximum" if sized else "")),
        ("per_instance_rps", d.traffic.get("per_instance_rps"), f"{unit} per second one replica sustains at full load (load test)"),
    ])
    traffic_comment = "peak / baseline is the spikiness" + ("" if sized else "; add per_instance_rps (a load-test figure) to size the replicas from these")
    gpu = commented([
        ("count", d.gpu["count"], "GPUs per replica"),
        ("model", d.gpu.get("model"), "for runbooks and capacity notes"),
        ("hourly_cost_usd", d.gpu.get("hourly_cost_usd"), "one GPU, per hour: the cost lines of the runbooks"),
    ]) if d.gpu else None
    document = commented([
        ("apiVersion", spec.API_VERSION, ""),
        ("kind", "Service", ""),
        ("metadata", commented([
            ("name", d.name, "DNS label: file names, the service label, the default job selector"),
            ("team", d.team, "owning team: the team label, alert routing, the catalog owner"
             + (" (set it!)" if d.team == DEFAULT_TEAM else "")),
            ("tier", d.tier, "1 (most critical) .. 4"),
            ("description", "", "one or two sentences, shown in runbooks"),
            ("oncall", oncall or None, "who answers alerts"),
        ]), ""),
        ("spec", commented([
            ("blueprint", d.blueprint, "defaults from `opgen blueprints`; fields here override them"),
            ("runtime", commented([
                ("platform", d.platform, "kubernetes | ecs | lambda"),
                ("namespace", d.namespace, "Kubernetes namespace (or ECS cluster)"),
            ]), ""),
            ("traffic", traffic or None, traffic_comment),
            ("slos", slos, "objectives in percent of good events over the window"),
            ("dependencies", CommentedSeq(flow(dep) for dep in d.dependencies) if d.dependencies else None,
             "critical: the service fails when the dependency does"),
            ("resources", commented([("gpu", gpu, "")]) if gpu else None, ""),
            ("cost", commented([("monthly_budget_usd", d.monthly_budget_usd, "what it may cost per month, in US dollars")])
             if d.monthly_budget_usd is not None else None, ""),
        ]), ""),
    ])
    yaml = YAML(typ="rt", pure=True)
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 120
    buffer = io.StringIO()
    buffer.write(f"# Service descriptor for {d.name}. Reference: docs/descriptor.md; run `opgen sync` after each change.\n")
    yaml.dump(document, buffer)
    return buffer.getvalue()



# --- Backstage -------------------------------------------------------------------------------


class BackstageExtension(Extension):
    """The code path for Backstage's `fetch:cookiecutter`, which runs no cookiecutter hooks (by
    design: it fetches a template's folder as the *contents* of a template it wraps around it).
    What it does run are the Jinja2 extensions a template names in `extensions`, so this one
    gives templates `opgen_new_service()`: rendered as the content of the one file of
    templates/backstage/skeleton/ (which becomes service.yaml), it creates the service exactly as
    `opgen new-service` does, moves the generated ops/ (and opgen-settings.yaml, when there is one)
    beside that file, and returns the descriptor's text for it. A bad answer
    prints opgen's problems and stops cookiecutter, so Backstage publishes nothing."""

    def __init__(self, environment) -> None:
        super().__init__(environment)
        environment.globals["opgen_new_service"] = _new_service_in_cookiecutter


@pass_context
def _new_service_in_cookiecutter(context) -> str:
    import shutil
    import sys
    import tempfile

    values = context["cookiecutter"]
    # cookiecutter renders each file from inside the template's project folder (generate_file's
    # precondition), into that folder's rendered name below the output folder.
    project = Path(values["_output_dir"]) / context.environment.from_string(Path.cwd().name).render(cookiecutter=values)
    target = project / Path(context.environment.from_string(context.name).render(cookiecutter=values)).parent
    with tempfile.TemporaryDirectory(prefix="opgen-") as scratch:
        try:
            created = without_machine_state(create_service(answers_from_text(values), Path(scratch)))
        except DescriptorError as error:
            print(error, file=sys.stderr)
            count = len(error.problems)
            print(f"opgen: {count} problem{'s' if count != 1 else ''}; nothing was created.", file=sys.stderr)
            raise SystemExit(1) from None
        shutil.move(created.folder / "ops", target / "ops")
        if (created.folder / SETTINGS_FILE).exists():
            shutil.move(created.folder / SETTINGS_FILE, target / SETTINGS_FILE)
        return (created.folder / "service.yaml").read_text(encoding="utf-8")
