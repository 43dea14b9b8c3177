"""A fleet: the services synced together, and the graph their `dependencies[].service` edges form.

An edge `a -> b` says a depends on b. It is critical when a fails if b fails (any of a's
dependencies naming b is critical). Who is hit when a service fails is its blast radius: every
service with a path of edges to it. Those with a path made only of critical edges fail with it;
the others degrade. Unknown targets (no descriptor in the fleet) and cycles are warnings: the
graph is still drawn, and the sync goes on.

Pure data and functions: no disk, no clock. Every list comes out sorted, so output is deterministic.
"""

from __future__ import annotations

import posixpath
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from pathlib import PurePosixPath

from opgen import conventions as c
from opgen.descriptor.model import Dependency, Maintenance, Service
from opgen.slo.numbers import format_number


@dataclass(frozen=True)
class ServiceFacts:
    """What the fleet knows of each service: the graph, and the on-call fields alert routing
    reads. Plain values, so a sync can keep them in its manifest and build the fleet again
    without reading the descriptors that did not change."""

    name: str
    team: str
    tier: int
    slack: str | None
    pagerduty_service_id: str | None
    slos: tuple[str, ...]  # SLO names
    dependencies: tuple[Dependency, ...]
    pages: bool = True  # whether any of its alerts pages (alerts.service_alerts)
    availability: tuple[Objective, ...] = ()  # its availability SLOs, which dependency ceilings read
    maintenance: Maintenance | None = None  # planned maintenance, which its Alertmanager routes mute

    def to_json(self) -> dict:
        return {"name": self.name, "team": self.team, "tier": self.tier, "slack": self.slack,
                "pagerduty_service_id": self.pagerduty_service_id, "slos": list(self.slos),
                "dependencies": [[d.name, d.kind, d.critical, d.service, d.fallback] for d in self.dependencies],
                "pages": self.pages, "availability": [[o.slo, str(o.percent), o.window] for o in self.availability],
                "maintenance": self.maintenance.to_json() if self.maintenance else None}

    @classmethod
    def from_json(cls, data: dict) -> ServiceFacts:
        """The facts `to_json` wrote; KeyError, TypeError or ValueError when they are not."""
        facts = cls(str(data["name"]), str(data["team"]), int(data["tier"]), _optional(data["slack"]),
                    _optional(data["pagerduty_service_id"]), tuple(str(s) for s in data["slos"]),
                    tuple(Dependency(str(n), str(k), bool(cr), _optional(sv), fallback=bool(fb))
                          for n, k, cr, sv, fb in data["dependencies"]),
                    bool(data["pages"]), tuple(Objective(str(n), Fraction(p), str(w)) for n, p, w in data["availability"]),
                    None if data["maintenance"] is None else Maintenance.from_json(data["maintenance"]))
        return facts


@dataclass(frozen=True)
class Objective:
    """An availability SLO, as a dependency ceiling reads it."""

    slo: str
    percent: Fraction  # 99.9 % -> Fraction(999, 10)
    window: str  # 30d


def _optional(value) -> str | None:
    return None if value is None else str(value)


def facts_of(service: Service) -> ServiceFacts:
    from opgen.alerts import service_alerts

    pages = any(c.SEVERITY_PAGE in alert.severities for alert in service_alerts(service))
    dependencies = tuple(Dependency(d.name, d.kind, d.critical, d.service, fallback=d.fallback)
                         for d in service.dependencies)  # the graph and the ceilings: no thresholds
    availability = tuple(Objective(slo.name, slo.objective_percent, slo.window) for slo in service.slos
                         if slo.sli.kind == "availability")
    return ServiceFacts(service.name, service.team, service.tier, service.slack, service.pagerduty_service_id,
                        tuple(slo.name for slo in service.slos), dependencies, pages, availability, service.maintenance)


@dataclass(frozen=True)
class HitService:
    """A service in another's blast radius, as its runbooks list it."""

    name: str
    link: str | None  # to its runbook overview, relative to the other's runbook folder; None when unknown
    fails: bool  # a path of critical edges: it fails when the other fails; else it degrades
    path: tuple[str, ...]  # from it down to the other service; two names when it depends on it directly
    slos: tuple[str, ...]


@dataclass(frozen=True)
class Bound:
    """A critical dependency, as a ceiling counts it: its service's availability objective, or
    why it has none (then it is unknown: the ceiling cannot see it, and says so)."""

    dependencies: tuple[str, ...]  # the names of the service's dependencies it stands for
    service: str | None  # the opgen service they are; None when they name none (a database, a broker)
    objective: Objective | None  # the lowest availability objective of that service; None: unknown
    unknown_because: str = ""  # when objective is None


@dataclass(frozen=True)
class Ceiling:
    """The highest availability a service can promise when it fails whenever a critical
    dependency fails: the product of those dependencies' availability objectives. Dependencies
    with `fallback: true` do not count; those without a known objective are listed, not guessed."""

    bounds: tuple[Bound, ...]  # the dependencies with an objective, which multiply; sorted by service
    unknown: tuple[Bound, ...]  # critical dependencies without one; sorted by their names
    fallbacks: tuple[str, ...]  # critical dependencies it degrades gracefully without: not counted
    objectives: tuple[Objective, ...]  # the service's own availability SLOs

    @property
    def percent(self) -> Fraction:
        return prod((b.objective.percent / 100 for b in self.bounds), start=Fraction(1)) * 100

    @property
    def above(self) -> tuple[Objective, ...]:
        """The service's availability SLOs that promise more than the ceiling allows."""
        return tuple(o for o in self.objectives if o.percent > self.percent)


@dataclass(frozen=True)
class Neighbourhood:
    """All a service's own files read from the fleet: who is hit when it fails, where the pages
    of the services it depends on are, and the ceiling they set. Equal neighbourhoods, equal files."""

    hit: tuple[HitService, ...] = ()  # sorted: those that fail first, then by name
    links: tuple[tuple[str, str], ...] = ()  # (fleet service it depends on, relative link to its overview), sorted
    ceiling: Ceiling | None = None  # None: no critical dependency


ALONE = Neighbourhood()  # a service synced without its fleet: nobody is known to depend on it


@dataclass(frozen=True)
class Edge:
    source: str  # the service that depends
    target: str  # the service it depends on
    critical: bool
    dependencies: tuple[str, ...]  # the names of source's dependencies that point at target


@dataclass(frozen=True)
class Dependent:
    """A service in another's blast radius, and the path by which it is hit."""

    name: str
    fails: bool  # True: a path of critical edges only, so it fails with the service; False: it degrades
    path: tuple[str, ...]  # from this dependent down to the service, both ends included; two names when direct


@dataclass
class Fleet:
    services: dict[str, ServiceFacts]  # by name
    edges: tuple[Edge, ...]  # sorted by (source, target); unknown targets included
    overview_dirs: dict[str, str] = field(default_factory=dict)  # name -> absolute folder of its overview page, normalised
    _dependents: dict[str, list[Edge]] = field(default_factory=dict, init=False, repr=False)
    _dependencies: dict[str, list[Edge]] = field(default_factory=dict, init=False, repr=False)
    _blast_radius: dict[str, list[Dependent]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for edge in self.edges:
            self._dependents.setdefault(edge.target, []).append(edge)
            self._dependencies.setdefault(edge.source, []).append(edge)
        for edges in self._dependents.values():
            edges.sort(key=lambda e: e.source)

    @property
    def unknown_targets(self) -> list[Edge]:
        return [e for e in self.edges if e.target not in self.services]

    def dependencies_of(self, name: str) -> list[Edge]:
        return list(self._dependencies.get(name, []))

    def dependents_of(self, name: str) -> list[Edge]:
        """The edges into `name`: the services that depend on it directly, sorted by their name."""
        return list(self._dependents.get(name, []))

    def blast_radius(self, name: str) -> list[Dependent]:
        """Every service that depends on `name`, directly or through others, sorted by name.
        Each comes with the shortest all-critical path when there is one (it fails), else the
        shortest path (it degrades). Computed once per name: runbooks and routes ask often."""
        if name not in self._blast_radius:
            critical = self._shortest_paths(name, critical_only=True)
            every = self._shortest_paths(name, critical_only=False)
            self._blast_radius[name] = [Dependent(other, other in critical, critical.get(other) or every[other])
                                        for other in sorted(every)]
        return list(self._blast_radius[name])

    def _shortest_paths(self, name: str, critical_only: bool) -> dict[str, tuple[str, ...]]:
        """Breadth-first over reversed edges: dependent -> path from it down to `name`."""
        paths: dict[str, tuple[str, ...]] = {name: (name,)}
        queue = deque([name])
        while queue:
            current = queue.popleft()
            for edge in self._dependents.get(current, []):  # sorted by source
                if (critical_only and not edge.critical) or edge.source in paths:
                    continue
                paths[edge.source] = (edge.source, *paths[current])
                queue.append(edge.source)
        del paths[name]
        return paths

    def neighbourhood(self, name: str) -> Neighbourhood:
        """What `name`'s own files need to know of the fleet."""
        hit = tuple(sorted((HitService(d.name, self.overview_link(name, d.name), d.fails, d.path, self.services[d.name].slos)
                            for d in self.blast_radius(name)), key=lambda h: (not h.fails, h.name)))
        links = ((e.target, self.overview_link(name, e.target)) for e in self.dependencies_of(name))
        return Neighbourhood(hit, tuple(sorted((target, link) for target, link in links if link)), self.ceiling(name))

    def ceiling(self, name: str) -> Ceiling | None:
        """`name`'s availability ceiling from its direct critical dependencies (each one's own
        objective already stands for what is below it); None when it has no critical dependency."""
        service = self.services[name]
        critical = [d for d in service.dependencies if d.critical]
        if not critical:
            return None
        by_target: dict[str, list[Dependency]] = {}
        unknown = []
        for dependency in critical:
            if dependency.fallback:
                continue
            if dependency.service is None:
                unknown.append(Bound((dependency.name,), None, None, f"a {dependency.kind} dependency, not an opgen service"))
            else:
                by_target.setdefault(dependency.service, []).append(dependency)
        bounds = []
        for target, dependencies in sorted(by_target.items()):
            names = tuple(sorted(d.name for d in dependencies))
            other = self.services.get(target)
            if other is None:
                unknown.append(Bound(names, target, None, "no descriptor in the fleet"))
            elif not other.availability:
                unknown.append(Bound(names, target, None, "declares no availability SLO"))
            else:
                bounds.append(Bound(names, target, min(other.availability, key=lambda o: (o.percent, o.slo))))
        fallbacks = tuple(sorted(d.name for d in critical if d.fallback))
        return Ceiling(tuple(bounds), tuple(sorted(unknown, key=lambda b: b.dependencies)), fallbacks, service.availability)

    def cycles(self) -> list[tuple[str, ...]]:
        """One cycle per strongly connected component that has one, from its first name back to it."""
        found = []
        for component in _components(self.services, self.edges):
            start = min(component)
            cycle = self._cycle_through(start, component)
            if cycle:
                found.append(cycle)
        return sorted(found)

    def _cycle_through(self, start: str, component: set[str]) -> tuple[str, ...] | None:
        """The shortest path start -> ... -> start within `component`, or None (a lone service without a self-edge)."""
        paths = {start: (start,)}
        queue = deque([start])
        while queue:
            current = queue.popleft()
            for edge in self.dependencies_of(current):
                if edge.target == start:
                    return (*paths[current], start)
                if edge.target in component and edge.target not in paths:
                    paths[edge.target] = (*paths[current], edge.target)
                    queue.append(edge.target)
        return None

    def overview_link(self, from_service: str, to_service: str) -> str | None:
        """A relative path from `from_service`'s runbook folder to `to_service`'s overview page, when both are known."""
        if from_service not in self.overview_dirs or to_service not in self.overview_dirs:
            return None
        target = f"{self.overview_dirs[to_service]}/{posixpath.basename(c.runbook_overview_path(to_service))}"
        return _relative(target, self.overview_dirs[from_service])


def _relative(path: str, start: str) -> str:
    """posixpath.relpath for two normalised absolute paths, without its normalising (a fleet asks thousands of times)."""
    to, frm = path.split("/"), start.split("/")
    common = 0
    for a, b in zip(to, frm):
        if a != b:
            break
        common += 1
    return "/".join([".."] * (len(frm) - common) + to[common:]) or "."


def build_fleet(services: list[ServiceFacts | Service], out_dirs: dict[str, str] | None = None) -> Fleet:
    """The fleet of `services` (their facts, or the services themselves). `out_dirs` (name -> absolute ops/ folder, forward slashes) lets
    runbooks link to each other; without it they name other services in plain text."""
    facts = [s if isinstance(s, ServiceFacts) else facts_of(s) for s in services]
    by_name = {s.name: s for s in sorted(facts, key=lambda s: s.name)}
    merged: dict[tuple[str, str], list] = {}
    for service in by_name.values():
        for dependency in service.dependencies:
            if dependency.service:
                merged.setdefault((service.name, dependency.service), []).append(dependency)
    edges = tuple(Edge(source, target, any(d.critical for d in deps), tuple(sorted(d.name for d in deps)))
                  for (source, target), deps in sorted(merged.items()))
    overview_dirs = {name: str(PurePosixPath(folder) / posixpath.dirname(c.runbook_overview_path(name)))
                     for name, folder in (out_dirs or {}).items() if name in by_name}
    return Fleet(by_name, edges, overview_dirs)


def _components(services: dict[str, ServiceFacts], edges: tuple[Edge, ...]) -> list[set[str]]:
    """Strongly connected components with a cycle in them (Tarjan's algorithm, iterative)."""
    graph: dict[str, list[str]] = {name: [] for name in services}
    for edge in edges:
        if edge.target in services:
            graph[edge.source].append(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    result.append(component)
    return result


# --- dependency ceilings ----------------------------------------------------------------------------


CEILING_DECIMALS = 4  # 99.6005996001% reads as ~99.6005%: rounded down, a ceiling never looks higher than it is


def percent_text(value: Fraction, about: str = "~") -> str:
    """A percentage; with more than CEILING_DECIMALS decimals, rounded down and marked `about`."""
    scale = 10 ** CEILING_DECIMALS
    shown = Fraction(int(value * scale), scale)  # floor: the value is positive
    return f"{'' if shown == value else about}{format_number(shown)}%"


def ceiling_arithmetic(ceiling: Ceiling, times: str = "x", about: str = "~") -> str:
    """The product, written out: `cart 99.9% x payments 99.95% = 99.85005%` (ASCII for a terminal;
    a runbook passes `×` and `≈`)."""
    factors = f" {times} ".join(f"{b.service} {percent_text(b.objective.percent)}" for b in ceiling.bounds)
    product = percent_text(ceiling.percent, about)
    equals = f"{about} {product.removeprefix(about)}" if product.startswith(about) else f"= {product}"
    return f"{factors} {equals}" if factors else "100% (no critical dependency with a known objective)"


def ceiling_warnings(fleet: Fleet) -> dict[str, list[str]]:
    """name -> a warning for each availability SLO of it above its ceiling, naming the service,
    the objective, the ceiling and the dependencies that set it (and those it could not count)."""
    found: dict[str, list[str]] = {}
    for name in fleet.services:
        ceiling = fleet.ceiling(name)
        for objective in ceiling.above if ceiling else ():
            unknown = "; ".join(f"{', '.join(b.dependencies)} ({b.unknown_because})" for b in ceiling.unknown)
            found.setdefault(name, []).append(
                f"{name}'s availability SLO {objective.slo!r} promises {percent_text(objective.percent)}, above the "
                f"{percent_text(ceiling.percent)} its critical dependencies allow ({ceiling_arithmetic(ceiling)}): "
                f"when one of them fails, {name} fails. Lower the objective, or set `fallback: true` on the "
                f"dependencies {name} degrades gracefully without"
                + (f". Not counted, no known objective: {unknown}" if unknown else ""))
    return found


# --- printing the graph --------------------------------------------------------------------------

FORMATS = ("text", "dot", "mermaid")


def _bounds(fleet: Fleet) -> dict[tuple[str, str], tuple[Bound, bool]]:
    """(source, target) -> the bound that edge sets on source's ceiling, and whether source
    promises more than that ceiling: the edges `opgen graph` marks."""
    found = {}
    for name in fleet.services:
        ceiling = fleet.ceiling(name)
        for bound in ceiling.bounds if ceiling else ():
            found[(name, bound.service)] = (bound, bool(ceiling.above))
    return found


def _ceiling_note(fleet: Fleet, name: str) -> str:
    ceiling = fleet.ceiling(name)
    if ceiling is None or not ceiling.bounds:
        return ""
    above = ", ".join(f"{o.slo} {percent_text(o.percent)}" for o in ceiling.above)
    return f"; availability ceiling {percent_text(ceiling.percent)}" + (f", below its SLO {above}" if above else "")


def as_text(fleet: Fleet) -> str:
    """For a terminal: each service, what it depends on, and what is wrong with the graph."""
    lines = []
    bounds = _bounds(fleet)
    for name in fleet.services:
        edges = fleet.dependencies_of(name)
        dependents = fleet.blast_radius(name)
        fail = sum(d.fails for d in dependents)
        hit = (f"; depended on by {len(dependents)} ({fail} fail{'s' if fail == 1 else ''} with it)" if dependents else "")
        lines.append(f"{name} (team {fleet.services[name].team}, tier {fleet.services[name].tier}){hit}{_ceiling_note(fleet, name)}")
        width = max((len(e.target) for e in edges), default=0)
        for edge in edges:
            note = "critical" if edge.critical else "degrades"
            if (name, edge.target) in bounds:
                note += f", bounds its ceiling at {percent_text(bounds[(name, edge.target)][0].objective.percent)}"
            elif edge.critical:
                note += ", with a fallback" if _all_fallback(fleet, name, edge.target) else ""
            if edge.target not in fleet.services:
                note += ", unknown: no descriptor in the fleet"
            lines.append(f"  -> {edge.target:<{width}}  {note}")
    lines.append("")
    unknown = fleet.unknown_targets
    cycles = fleet.cycles()
    lines.append(f"{len(fleet.services)} services, {len(fleet.edges) - len(unknown)} dependencies between them, "
                 f"{len(unknown)} on unknown services, {len(cycles)} cycle{'s' if len(cycles) != 1 else ''}.")
    lines += [f"cycle: {' -> '.join(cycle)}" for cycle in cycles]
    return "\n".join(lines) + "\n"


def _all_fallback(fleet: Fleet, source: str, target: str) -> bool:
    """Every critical dependency of `source` on `target` declares a fallback."""
    critical = [d for d in fleet.services[source].dependencies if d.service == target and d.critical]
    return bool(critical) and all(d.fallback for d in critical)


def _node_id(name: str, known: bool) -> str:
    """Service names are DNS labels; '-' becomes '_' (never in a DNS label), and a prefix keeps
    ids off keywords such as `end`, `graph` or `subgraph`."""
    return ("svc_" if known else "unknown_") + name.replace("-", "_")


def as_dot(fleet: Fleet) -> str:
    """Graphviz: critical edges solid, the others dashed; unknown targets as dashed grey boxes. An
    edge that bounds an availability ceiling is bold and labelled with its objective, red when its
    source promises more than that ceiling."""
    lines = ["digraph fleet {", "  rankdir=LR;", '  node [shape=box, fontname="sans-serif"];']
    for name, service in fleet.services.items():
        lines.append(f'  {_node_id(name, True)} [label="{name}\\nteam {service.team}, tier {service.tier}"];')
    for edge in fleet.unknown_targets:
        if edge.target not in fleet.services:
            lines.append(f'  {_node_id(edge.target, False)} [label="{edge.target}\\n(no descriptor)", style=dashed, color=grey];')
    bounds = _bounds(fleet)
    for edge in fleet.edges:
        style = "solid" if edge.critical else "dashed"
        if (edge.source, edge.target) in bounds:
            bound, above = bounds[(edge.source, edge.target)]
            style += f', penwidth=2, label="{percent_text(bound.objective.percent)}"' + (", color=red" if above else "")
        target = _node_id(edge.target, edge.target in fleet.services)
        lines.append(f"  {_node_id(edge.source, True)} -> {target} [style={style}];")
    lines.append("}")
    return "\n".join(dict.fromkeys(lines)) + "\n"  # an unknown target named twice is one node


def as_mermaid(fleet: Fleet) -> str:
    """A Mermaid flowchart: critical edges `-->`, the others dotted `-.->`; an edge that bounds an
    availability ceiling thick (`==>`) with its objective, red when its source promises more."""
    lines = ["flowchart LR"]
    for name in fleet.services:
        lines.append(f'  {_node_id(name, True)}["{name}"]')
    for edge in fleet.unknown_targets:
        lines.append(f'  {_node_id(edge.target, False)}["{edge.target} (no descriptor)"]:::unknown')
    bounds, red = _bounds(fleet), []
    for index, edge in enumerate(fleet.edges):  # edges are the only links: index is the link's number
        arrow = "-->" if edge.critical else "-.->"
        if (edge.source, edge.target) in bounds:
            bound, above = bounds[(edge.source, edge.target)]
            arrow = f"==>|{percent_text(bound.objective.percent)}|"
            if above:
                red.append(str(index))
        lines.append(f"  {_node_id(edge.source, True)} {arrow} {_node_id(edge.target, edge.target in fleet.services)}")
    if fleet.unknown_targets:
        lines.append("  classDef unknown stroke-dasharray: 5 5")
    if red:
        lines.append(f"  linkStyle {','.join(red)} stroke:red")
    return "\n".join(dict.fromkeys(lines)) + "\n"


def render_graph(fleet: Fleet, fmt: str) -> str:
    return {"text": as_text, "dot": as_dot, "mermaid": as_mermaid}[fmt](fleet)
