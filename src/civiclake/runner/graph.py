"""The dependency graph of sources and jobs, and ``civiclake run`` selections.

A node depends on the node producing each dataset it reads. Inputs nobody
produces must already exist (be in the catalog), otherwise the name is
almost certainly a typo and the run stops before anything runs — as it does
for two nodes writing one dataset and for cycles.

Selection syntax (several patterns are a union)::

    housing/rent_clean        exact name;  rent_clean  also works when unambiguous
    housing/*                 glob over "department/name" (a glob without "/" matches names)
    housing_refined.rent      the node writing that dataset
    +housing/rent_clean       it and everything upstream
    housing/rent_clean+       it and everything downstream
    +housing/rent_clean+      both
"""

from __future__ import annotations

import fnmatch
import graphlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from civiclake.config.suggest import closest, did_you_mean
from civiclake.exceptions import PlanError

if TYPE_CHECKING:
    from civiclake.steps import Step
    from civiclake.storage import DatasetRef

_GLOB = set("*?[")


class Graph:
    """Nodes by name, who depends on whom, and one topological order."""

    def __init__(self, nodes: dict[str, Step], dependencies: dict[str, set[str]]) -> None:
        self.nodes = nodes
        self._deps = dependencies
        self._dependents: dict[str, set[str]] = {name: set() for name in nodes}
        for name, deps in dependencies.items():
            for dep in deps:
                self._dependents[dep].add(name)
        self._order = _toposort(dependencies)
        self._rank = {name: i for i, name in enumerate(self._order)}

    def order(self) -> list[str]:
        """Every node name, producers before consumers (ties broken by name)."""
        return list(self._order)

    # -- neighbours -------------------------------------------------------------
    def dependencies(self, name: str, within: Iterable[str] | None = None) -> set[str]:
        """Direct upstream nodes of ``name`` (only those in ``within`` when given).

        The runner starts a node once every dependency in its selection is done.
        """
        deps = self._deps[name]
        return deps & set(within) if within is not None else set(deps)

    def dependents(self, name: str, within: Iterable[str] | None = None) -> set[str]:
        """Direct downstream nodes of ``name`` (skipped when ``name`` fails)."""
        deps = self._dependents[name]
        return deps & set(within) if within is not None else set(deps)

    def upstream(self, name: str) -> list[str]:
        """Every node ``name`` depends on, directly or not, in run order."""
        return self.ordered(_walk(name, self._deps))

    def downstream(self, name: str) -> list[str]:
        """Every node depending on ``name``, directly or not, in run order."""
        return self.ordered(_walk(name, self._dependents))

    def ordered(self, names: Iterable[str]) -> list[str]:
        """``names`` in run order."""
        return sorted(set(names), key=self._rank.__getitem__)

    # -- selection ----------------------------------------------------------------
    def select(self, patterns: Sequence[str]) -> list[str]:
        """Node names matching any pattern (see the module docstring), in run order."""
        if not patterns:
            return self.order()
        chosen: set[str] = set()
        for raw in patterns:
            pattern = raw.strip()
            up, down = pattern.startswith("+"), pattern.endswith("+")
            core = pattern.strip("+").strip()
            for name in self._match(core, raw):
                chosen.add(name)
                if up:
                    chosen.update(self.upstream(name))
                if down:
                    chosen.update(self.downstream(name))
        return self.ordered(chosen)

    def _match(self, core: str, raw: str) -> list[str]:
        names = list(self.nodes)
        if _GLOB & set(core):
            found = [
                n
                for n in names
                if fnmatch.fnmatchcase(n, core)
                or ("/" not in core and fnmatch.fnmatchcase(_short(n), core))
            ]
        elif core in self.nodes:
            found = [core]
        elif "/" not in core and "." in core:
            found = [
                n
                for n in names
                if any(o.qualified == core for o in self.nodes[n].definition.writes)
            ]
        else:
            found = [n for n in names if "/" not in core and _short(n) == core]
            if len(found) > 1:
                raise PlanError(
                    f"{raw!r} is ambiguous: it names {', '.join(sorted(found))}; "
                    "write the department too, e.g. " + sorted(found)[0]
                )
        if not found:
            raise PlanError(f"nothing matches {raw!r}{self._hint(core)}")
        return found

    def _hint(self, core: str) -> str:
        departments = {n.split("/", 1)[0] for n in self.nodes}
        if core in departments:
            return f" (did you mean `{core}/*`, every node of the department?)"
        candidates = [*self.nodes, *{_short(n) for n in self.nodes}]
        hint = did_you_mean(core, candidates)
        known = ", ".join(self._order[:10]) + (" …" if len(self._order) > 10 else "")
        return f"{hint}. Known: {known or 'no sources or jobs yet'}"


def build_graph(
    nodes: Sequence[Step], known: Iterable[DatasetRef] = (), *, lenient: bool = False
) -> Graph:
    """Link ``nodes`` by the datasets they read and write.

    ``known`` are datasets that already exist (the catalog); reading one that no
    node produces is fine. Anything else unknown, a dataset written by two
    nodes, or a cycle raises :class:`PlanError` naming the culprits — or, when
    ``lenient`` (the scheduler, unattended), a step reading an unknown table becomes a
    :class:`~civiclake.steps.Broken` step that fails alone with that message.
    """
    by_name: dict[str, Step] = {}
    producers: dict[DatasetRef, str] = {}
    for node in nodes:
        d = node.definition
        if d.name in by_name:
            raise PlanError(
                f"two steps are named {d.name} ({_where(by_name[d.name])} and "
                f"{_where(node)}); sources and jobs share one namespace per department: "
                "name the source after the feed (e.g. sources/<department>/<name>_exports.yaml, "
                "keeping `dataset:`) and the job after the dataset it builds"
            )
        by_name[d.name] = node
        for ref in d.writes:
            if ref in producers:
                raise PlanError(
                    f"{ref.qualified} is written by both {_where(by_name[producers[ref]])} and "
                    f"{_where(node)}; a dataset has one producer, so rename one output"
                )
            producers[ref] = d.name
    known_set = set(known)
    candidates = sorted({r.qualified for r in [*producers, *known_set]})
    dependencies: dict[str, set[str]] = {}
    for node in nodes:
        deps: set[str] = set()
        for ref in node.definition.reads:
            if ref in producers:
                deps.add(producers[ref])
            elif ref not in known_set:
                match = closest(ref.qualified, candidates)
                hint = f" (did you mean {match}?)" if match else ""
                error = PlanError(
                    f"unknown table {ref.qualified} in {_where(node)}{hint}: no source or job "
                    "writes it and it does not exist yet. Fix the name, or add the source "
                    "or job that produces it"
                )
                if not lenient:
                    raise error
                from dataclasses import replace

                from civiclake.steps import Broken

                node = Broken(replace(node.definition, reads=()), error)
                by_name[node.definition.name] = node
                deps = set()
                break
        dependencies[node.definition.name] = deps
    return Graph(by_name, dependencies)


def _toposort(dependencies: dict[str, set[str]]) -> list[str]:
    sorter = graphlib.TopologicalSorter({n: sorted(d) for n, d in dependencies.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        path = " → ".join(exc.args[1])
        raise PlanError(
            f"jobs form a cycle: {path} (each feeds the next); a job cannot depend on its "
            "own output, directly or through others — break the cycle by reading an "
            "earlier dataset"
        ) from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def _walk(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(edges[start])
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(edges[name])
    return seen


def _short(name: str) -> str:
    return name.rpartition("/")[2]


def _where(node: Step) -> str:
    """The step's file when it has one (``jobs/housing/x.sql``), else its name."""
    return node.definition.path or node.definition.name
