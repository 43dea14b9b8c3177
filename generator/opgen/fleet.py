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
from pathlib import PurePosixPath

from opgen import conventions as c
from opgen.descriptor.model import Dependency, Service


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

    def to_json(self) -> dict:
        return {"name": self.name, "team": self.team, "tier": self.tier, "slack": self.slack,
                "pagerduty_service_id": self.pagerduty_service_id, "slos": list(self.slos),
                "dependencies": [[d.name, d.kind, d.critical, d.service] for d in self.dependencies],
                "pages": self.pages}

    @classmethod
    def from_json(cls, data: dict) -> ServiceFacts:
        """The facts `to_json` wrote; KeyError, TypeError or ValueError when they are not."""
        facts = cls(str(data["name"]), str(data["team"]), int(data["tier"]), _optional(data["slack"]),
                    _optional(data["pagerduty_service_id"]), tuple(str(s) for s in data["slos"]),
                    tuple(Dependency(str(n), str(k), bool(cr), _optional(sv)) for n, k, cr, sv in data["dependencies"]),
                    bool(data["pages"]))
        return facts


def _optional(value) -> str | None:
    return None if value is None else str(value)


def facts_of(service: Service) -> ServiceFacts:
    from opgen.alerts import service_alerts

    pages = any(c.SEVERITY_PAGE in alert.severities for alert in service_alerts(service))
    dependencies = tuple(Dependency(d.name, d.kind, d.critical, d.service) for d in service.dependencies)  # the graph: no thresholds
    return ServiceFacts(service.name, service.team, service.tier, service.slack, service.pagerduty_service_id,
                        tuple(slo.name for slo in service.slos), dependencies, pages)


@dataclass(frozen=True)
class HitService:
    """A service in another's blast radius, as its runbooks list it."""

    name: str
    link: str | None  # to its runbook overview, relative to the other's runbook folder; None when unknown
    fails: bool  # a path of critical edges: it fails when the other fails; else it degrades
    path: tuple[str, ...]  # from it down to the other service; two names when it depends on it directly
    slos: tuple[str, ...]


@dataclass(frozen=True)
class Neighbourhood:
    """All a service's own files read from the fleet: who is hit when it fails, and where the
    pages of the services it depends on are. Equal neighbourhoods, equal files."""

    hit: tuple[HitService, ...] = ()  # sorted: those that fail first, then by name
    links: tuple[tuple[str, str], ...] = ()  # (fleet service it depends on, relative link to its overview), sorted


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
        return Neighbourhood(hit, tuple(sorted((target, link) for target, link in links if link)))

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


# --- printing the graph --------------------------------------------------------------------------

FORMATS = ("text", "dot", "mermaid")


def as_text(fleet: Fleet) -> str:
    """For a terminal: each service, what it depends on, and what is wrong with the graph."""
    lines = []
    for name in fleet.services:
        edges = fleet.dependencies_of(name)
        dependents = fleet.blast_radius(name)
        fail = sum(d.fails for d in dependents)
        hit = (f"; depended on by {len(dependents)} ({fail} fail{'s' if fail == 1 else ''} with it)" if dependents else "")
        lines.append(f"{name} (team {fleet.services[name].team}, tier {fleet.services[name].tier}){hit}")
        width = max((len(e.target) for e in edges), default=0)
        for edge in edges:
            note = "critical" if edge.critical else "degrades"
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


def _node_id(name: str, known: bool) -> str:
    """Service names are DNS labels; '-' becomes '_' (never in a DNS label), and a prefix keeps
    ids off keywords such as `end`, `graph` or `subgraph`."""
    return ("svc_" if known else "unknown_") + name.replace("-", "_")


def as_dot(fleet: Fleet) -> str:
    """Graphviz: critical edges solid, the others dashed; unknown targets as dashed grey boxes."""
    lines = ["digraph fleet {", "  rankdir=LR;", '  node [shape=box, fontname="sans-serif"];']
    for name, service in fleet.services.items():
        lines.append(f'  {_node_id(name, True)} [label="{name}\\nteam {service.team}, tier {service.tier}"];')
    for edge in fleet.unknown_targets:
        if edge.target not in fleet.services:
            lines.append(f'  {_node_id(edge.target, False)} [label="{edge.target}\\n(no descriptor)", style=dashed, color=grey];')
    for edge in fleet.edges:
        style = "solid" if edge.critical else "dashed"
        target = _node_id(edge.target, edge.target in fleet.services)
        lines.append(f"  {_node_id(edge.source, True)} -> {target} [style={style}];")
    lines.append("}")
    return "\n".join(dict.fromkeys(lines)) + "\n"  # an unknown target named twice is one node


def as_mermaid(fleet: Fleet) -> str:
    """A Mermaid flowchart: critical edges `-->`, the others dotted `-.->`."""
    lines = ["flowchart LR"]
    for name in fleet.services:
        lines.append(f'  {_node_id(name, True)}["{name}"]')
    for edge in fleet.unknown_targets:
        lines.append(f'  {_node_id(edge.target, False)}["{edge.target} (no descriptor)"]:::unknown')
    for edge in fleet.edges:
        arrow = "-->" if edge.critical else "-.->"
        lines.append(f"  {_node_id(edge.source, True)} {arrow} {_node_id(edge.target, edge.target in fleet.services)}")
    if fleet.unknown_targets:
        lines.append("  classDef unknown stroke-dasharray: 5 5")
    return "\n".join(dict.fromkeys(lines)) + "\n"


def render_graph(fleet: Fleet, fmt: str) -> str:
    return {"text": as_text, "dot": as_dot, "mermaid": as_mermaid}[fmt](fleet)
