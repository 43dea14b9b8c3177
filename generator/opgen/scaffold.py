"""`opgen new-service`: write NAME/service.yaml from a blueprint and the answers to a few questions.

The descriptor is built as commented YAML data (never text-templated) and validated by the same
loader as any other descriptor before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from opgen.descriptor.blueprints import available_blueprints, load_blueprint
from opgen.descriptor.fields import check_value
from opgen.descriptor.load import load_service_text
from opgen.descriptor import spec
from opgen.errors import DescriptorError, Position, Problem
from opgen.sync.write import atomic_write

# ask(question, default, type, check) -> answer; check returns a problem text or None
Ask = Callable[[str, Any, Any, Callable[[Any], str | None]], Any]

DEFAULT_TEAM = "unassigned"
COMMENT_COLUMN = 30


@dataclass
class Answers:
    name: str
    blueprint: str = "http-api"
    team: str | None = None
    tier: int | None = None
    platform: str | None = None
    namespace: str | None = None
    baseline_rps: float | None = None
    peak_rps: float | None = None
    objectives: dict[str, float] = field(default_factory=dict)


def answers_from_text(values: Mapping[str, object]) -> Answers:
    """Answers given as text (a portal form, cookiecutter): an empty answer means opgen's default,
    as an omitted flag does; objectives read "availability=99.9,latency=99"."""
    def text(key: str) -> str | None:
        return str(values.get(key, "")).strip() or None

    def number(key: str, flag: str, kind):
        value = text(key)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            raise DescriptorError([Problem(Position(flag, 0, 0), f"{value!r} is not a valid {kind.__name__}")]) from None

    return Answers(
        name=str(values.get("name", "")), blueprint=text("blueprint") or "http-api", team=text("team"),
        tier=number("tier", "--tier", int), platform=text("platform"), namespace=text("namespace"),
        baseline_rps=number("baseline_rps", "--baseline-rps", float), peak_rps=number("peak_rps", "--peak-rps", float),
        objectives=parse_objectives(str(values.get("objectives", "")).split(",")),
    )


def parse_objectives(items: Iterable[str]) -> dict[str, float]:
    """`--objective SLO=PERCENT` items as {SLO: percent}."""
    result = {}
    for item in filter(None, (i.strip() for i in items)):
        slo, _, value = item.partition("=")
        try:
            result[slo.strip()] = float(value)
        except ValueError:
            raise DescriptorError([Problem(Position("--objective", 0, 0),
                                           f"{item!r} is not SLO=PERCENT, e.g. availability=99.95")]) from None
    return result


def check_answers(answers: Answers) -> None:
    """Validate answers exactly as new-service does, writing nothing (a portal's pre-check)."""
    build_descriptor(answers)


def scaffold(answers: Answers, parent: Path, ask: Ask | None = None) -> Path:
    """Create parent/NAME/service.yaml; refuses an existing folder. Returns the new folder."""
    _require(check_value(spec.METADATA.field_named("name").kind, answers.name, "NAME"), "NAME")
    folder = parent / answers.name
    if folder.exists():
        raise DescriptorError([Problem(Position(str(folder), 0, 0), "already exists; opgen new-service never overwrites a folder")])
    text = build_descriptor(answers, ask)
    atomic_write(folder / "service.yaml", text)
    return folder


def build_descriptor(answers: Answers, ask: Ask | None = None) -> str:
    """The text of NAME/service.yaml from a blueprint and the answers (asking for missing ones when
    `ask` is given), validated by the same loader as every descriptor."""
    _require(check_value(spec.METADATA.field_named("name").kind, answers.name, "NAME"), "NAME")
    blueprints = available_blueprints()
    if answers.blueprint not in blueprints:
        raise DescriptorError([Problem(Position("--blueprint", 0, 0), f"unknown blueprint {answers.blueprint!r}; known: {', '.join(blueprints)}")])
    base = load_blueprint(blueprints[answers.blueprint]).data["spec"]

    def answer(flag: str, value, question: str, default, kind, field_kind) -> Any:
        checker = lambda v: check_value(field_kind, v, flag)  # noqa: E731
        if value is not None:
            _require(checker(value), flag)
            return value
        if ask is None:
            return default
        return ask(question, default, kind, checker)

    team = answer("--team", answers.team, "Owning team", DEFAULT_TEAM, str, spec.METADATA.field_named("team").kind)
    tier = answer("--tier", answers.tier, "Tier (1 most critical .. 4)", 2, int, spec.METADATA.field_named("tier").kind)
    platform = answer("--platform", answers.platform, "Platform (kubernetes, ecs, lambda)",
                      base.get("runtime", {}).get("platform", "kubernetes"), str, spec.RUNTIME.field_named("platform").kind)
    namespace = answer("--namespace", answers.namespace, "Namespace", answers.name, str, spec.RUNTIME.field_named("namespace").kind)
    baseline = answer("--baseline-rps", answers.baseline_rps, "Typical requests per second", 10.0, float, spec.TRAFFIC.field_named("baseline_rps").kind)
    peak = answer("--peak-rps", answers.peak_rps, "Peak requests per second", max(baseline * 5, 1.0), float, spec.TRAFFIC.field_named("peak_rps").kind)

    unknown = sorted(set(answers.objectives) - {s["name"] for s in base.get("slos", [])})
    if unknown:
        raise DescriptorError([Problem(Position("--objective", 0, 0), f"blueprint {answers.blueprint} has no SLO named {', '.join(unknown)}")])
    objective_kind = spec.SLO.field_named("objective").kind
    slos = []
    for slo in base.get("slos", []):
        objective = answer("--objective", answers.objectives.get(slo["name"]), f"Objective of the {slo['name']} SLO (percent)",
                           slo["objective"], float, objective_kind)
        slos.append({**slo, "objective": _number(objective)})

    text = descriptor_text(answers.name, answers.blueprint, team, tier, platform, namespace, baseline, peak, slos)
    load_service_text(text, f"{answers.name}/service.yaml")  # the same validation as every descriptor
    return text


def descriptor_text(name, blueprint, team, tier, platform, namespace, baseline, peak, slos) -> str:
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def commented(pairs: list[tuple[str, Any, str]]) -> CommentedMap:
        mapping = CommentedMap()
        for key, value, comment in pairs:
            mapping[key] = value
            if comment:
                mapping.yaml_add_eol_comment("# " + comment, key, column=COMMENT_COLUMN)
        return mapping

    slo_items = CommentedSeq()
    for slo in slos:
        item = CommentedMap(slo)
        item["sli"] = CommentedMap(slo["sli"])
        item["sli"].fa.set_flow_style()
        slo_items.append(item)
    document = commented([
        ("apiVersion", spec.API_VERSION, ""),
        ("kind", "Service", ""),
        ("metadata", commented([
            ("name", name, "DNS label: file names, the service label, the default job selector"),
            ("team", team, "owning team: the team label and alert routing" + (" (set it!)" if team == DEFAULT_TEAM else "")),
            ("tier", tier, "1 (most critical) .. 4"),
            ("description", "", "one or two sentences, shown in runbooks"),
        ]), ""),
        ("spec", commented([
            ("blueprint", blueprint, "defaults from `opgen blueprints`; fields here override them"),
            ("runtime", commented([("platform", platform, "kubernetes | ecs | lambda"), ("namespace", namespace, "")]), ""),
            ("traffic", commented([
                ("baseline_rps", _number(baseline), "typical requests per second"),
                ("peak_rps", _number(peak), "highest expected requests per second"),
            ]), ""),
            ("slos", slo_items, ""),
        ]), ""),
    ])
    yaml = YAML(typ="rt", pure=True)
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    buffer.write(f"# Service descriptor for {name}. Reference: docs/descriptor.md; run `opgen sync` after each change.\n")
    yaml.dump(document, buffer)
    return buffer.getvalue()


def _number(value: float | int) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def _require(problem: str | None, flag: str) -> None:
    if problem:
        raise DescriptorError([Problem(Position(flag, 0, 0), problem)])
