"""The dependency graph: run order, problems found before running, and selections."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from civiclake.exceptions import PlanError
from civiclake.jobs import load_jobs
from civiclake.runner.graph import Graph, build_graph
from civiclake.steps import Counts, RunContext, StepDefinition
from civiclake.storage import DatasetRef


def ref(qualified: str) -> DatasetRef:
    schema, name = qualified.split(".")
    department, zone = schema.rsplit("_", 1)
    return DatasetRef(department, zone, name)


@dataclass
class FakeNode:
    """A step with only the shape the graph looks at."""

    name: str
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)

    @property
    def definition(self) -> StepDefinition:
        return StepDefinition(
            self.name,
            "job",
            self.name.split("/")[0],
            reads=tuple(ref(q) for q in self.reads),
            writes=tuple(ref(q) for q in self.writes),
        )

    def run(self, ctx: RunContext) -> Counts:
        return Counts()


def council() -> Graph:
    """rent source → accounts_clean → arrears → report; permits source → permits_clean."""
    return build_graph(
        [
            FakeNode(
                "housing/arrears", ["housing_refined.accounts_clean"], ["housing_trusted.arrears"]
            ),
            FakeNode("housing/rent", [], ["housing_raw.rent_accounts"]),
            FakeNode(
                "housing/accounts_clean",
                ["housing_raw.rent_accounts", "unrestricted_raw.wards"],
                ["housing_refined.accounts_clean"],
            ),
            FakeNode("housing/report", ["housing_trusted.arrears"], ["housing_trusted.report"]),
            FakeNode("parking/permits", [], ["parking_raw.permits"]),
            FakeNode(
                "parking/permits_clean", ["parking_raw.permits"], ["parking_refined.permits_clean"]
            ),
            FakeNode(
                "parking/report", ["parking_refined.permits_clean"], ["parking_trusted.report"]
            ),
        ],
        known={ref("unrestricted_raw.wards")},
    )


def test_order_puts_producers_first():
    graph = council()
    order = graph.order()
    assert order.index("housing/rent") < order.index("housing/accounts_clean")
    assert order.index("housing/accounts_clean") < order.index("housing/arrears")
    assert order.index("housing/arrears") < order.index("housing/report")
    assert sorted(order) == sorted(graph.nodes)


def test_upstream_downstream_and_direct_dependencies():
    graph = council()
    assert graph.upstream("housing/report") == [
        "housing/rent",
        "housing/accounts_clean",
        "housing/arrears",
    ]
    assert graph.downstream("housing/rent") == [
        "housing/accounts_clean",
        "housing/arrears",
        "housing/report",
    ]
    assert graph.dependencies("housing/arrears") == {"housing/accounts_clean"}
    # Within a selection, a node waits only for the selected nodes it reads from.
    assert graph.dependencies("housing/accounts_clean", within=["housing/accounts_clean"]) == set()
    assert graph.dependents("housing/accounts_clean") == {"housing/arrears"}


# -- problems found before running -------------------------------------------------


def test_unknown_table_names_the_job_file_and_suggests(project):
    jobs_dir = project.dir / "jobs" / "housing"
    (jobs_dir / "clean.sql").write_text("SELECT 1 AS id")
    (jobs_dir / "report.sql").write_text("SELECT * FROM housing_refined.claen")
    with pytest.raises(PlanError) as info:
        build_graph(load_jobs(project), known=set())
    assert str(info.value).startswith(
        "unknown table housing_refined.claen in jobs/housing/report.sql "
        "(did you mean housing_refined.clean?)"
    )


def test_input_already_in_the_catalog_needs_no_producer():
    graph = build_graph(
        [FakeNode("housing/a", ["housing_raw.old"], ["housing_refined.a"])],
        known={ref("housing_raw.old")},
    )
    assert graph.dependencies("housing/a") == set()


def test_two_producers_of_one_dataset_are_refused():
    with pytest.raises(PlanError, match=r"housing_refined\.a is written by both"):
        build_graph(
            [
                FakeNode("housing/a", [], ["housing_refined.a"]),
                FakeNode("housing/b", [], ["housing_refined.a"]),
            ]
        )


def test_two_nodes_with_one_name_are_refused():
    with pytest.raises(PlanError, match=r"two steps are named housing/a.*share one namespace"):
        build_graph([FakeNode("housing/a", [], ["housing_raw.a"]), FakeNode("housing/a")])


def test_cycle_is_reported_with_its_path():
    with pytest.raises(PlanError) as info:
        build_graph(
            [
                FakeNode("housing/a", ["housing_refined.c"], ["housing_refined.a"]),
                FakeNode("housing/b", ["housing_refined.a"], ["housing_refined.b"]),
                FakeNode("housing/c", ["housing_refined.b"], ["housing_refined.c"]),
                FakeNode("housing/d", ["housing_refined.c"], ["housing_refined.d"]),
            ]
        )
    message = str(info.value)
    assert "jobs form a cycle:" in message
    path = message.split("cycle: ")[1].split(" (")[0].split(" → ")
    assert path[0] == path[-1]
    assert sorted(path[:-1]) == ["housing/a", "housing/b", "housing/c"]


def test_a_job_reading_its_own_output_is_a_cycle():
    with pytest.raises(PlanError, match="housing/a → housing/a"):
        build_graph([FakeNode("housing/a", ["housing_refined.a"], ["housing_refined.a"])])


# -- selection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        ([], None),  # everything
        (["parking/*"], ["parking/permits", "parking/permits_clean", "parking/report"]),
        (["*_clean"], ["housing/accounts_clean", "parking/permits_clean"]),
        (["accounts_clean"], ["housing/accounts_clean"]),
        (["housing/accounts_clean"], ["housing/accounts_clean"]),
        (["housing_trusted.arrears"], ["housing/arrears"]),
        (["+housing/arrears"], ["housing/rent", "housing/accounts_clean", "housing/arrears"]),
        (["accounts_clean+"], ["housing/accounts_clean", "housing/arrears", "housing/report"]),
        (
            ["+arrears+"],
            ["housing/rent", "housing/accounts_clean", "housing/arrears", "housing/report"],
        ),
        (["permits_clean", "arrears"], ["housing/arrears", "parking/permits_clean"]),
    ],
)
def test_select(patterns, expected):
    graph = council()
    selected = graph.select(patterns)
    assert selected == graph.ordered(expected if expected is not None else graph.nodes)


def test_selection_comes_back_in_run_order():
    graph = council()
    assert graph.select(["housing/report", "housing/rent"]) == ["housing/rent", "housing/report"]


def test_ambiguous_bare_name_lists_the_candidates():
    with pytest.raises(PlanError, match="'report' is ambiguous: it names housing/report, "):
        council().select(["report"])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            "housing/arears",
            r"nothing matches 'housing/arears' \(did you mean `housing/arrears`\?\)",
        ),
        ("+acounts_clean", r"\(did you mean `accounts_clean`\?\)"),
        ("housing", r"did you mean `housing/\*`"),
        ("planning/*", r"nothing matches 'planning/\*'.*Known: "),
    ],
)
def test_no_match_suggests(pattern, expected):
    with pytest.raises(PlanError, match=expected):
        council().select([pattern])


def test_graph_of_real_jobs_runs_in_order(project):
    """The graph over loaded jobs gives an order in which each job finds its inputs."""
    import pyarrow as pa

    project.catalog.write(
        DatasetRef("housing", "raw", "rent_accounts"),
        pa.table({"account_ref": ["A1"], "balance": [5.0]}),
        mode="overwrite",
        producer="test",
    )
    jobs_dir = project.dir / "jobs" / "housing"
    (jobs_dir / "b_summary.sql").write_text(
        "-- zone: trusted\nSELECT count(*) AS n FROM housing_refined.a_clean"
    )
    (jobs_dir / "a_clean.sql").write_text("SELECT * FROM housing_raw.rent_accounts")
    nodes = load_jobs(project)
    graph = build_graph(nodes, known=set(project.catalog.datasets()))
    assert graph.order() == ["housing/a_clean", "housing/b_summary"]
    for name in graph.order():
        ctx = RunContext(project, 1, "import-1", logging.getLogger("test"))
        try:
            graph.nodes[name].run(ctx)
        finally:
            ctx.close()
    assert project.store.dataset("housing_trusted.b_summary")["row_count"] == 1
