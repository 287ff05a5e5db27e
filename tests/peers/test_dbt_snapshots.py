"""dbt's snapshot suites replayed through civiclake: the same versions, valid times and deletes.

Each scenario of :mod:`.scenarios` runs through dbt itself (dbt-duckdb, in the peer
environment) and, with the same source states, through civiclake's database source, a files
source in snapshot mode, and straight into the history engine as full observations at chosen
times (the ``engine`` route: what snapshot mode does with each export). The histories must be
equal row for row, except where ``expected/<scenario>.<route>.diff`` records a difference
civiclake makes on purpose (its first lines say why) or ``KNOWN_BUGS`` names a bug not yet
fixed; docs/history.md ("Compared with dbt snapshots") lists every verdict.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from . import _harness as h
from .scenarios import SCENARIOS, Scenario

EXPECTED = Path(__file__).with_name("expected")
DOCS = h.REPO / "docs" / "history.md"

KNOWN_BUGS: dict[tuple[str, str], str] = {}
"""Scenario × route pairs that differ from dbt because of a bug of issue 14 not yet fixed."""


def _cases() -> list[object]:
    return [
        pytest.param(
            s,
            route,
            id=f"{s.name}-{route}",
            marks=[pytest.mark.xfail(reason=KNOWN_BUGS[(s.name, route)], strict=True)]
            if (s.name, route) in KNOWN_BUGS
            else [],
        )
        for s in SCENARIOS
        for route in h.ROUTES
    ]


@pytest.fixture(scope="module")
def dbt_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, h.DbtRun]:
    return h.run_dbt(SCENARIOS, tmp_path_factory.mktemp("dbt") / "runs.json")


@pytest.mark.peers
def test_the_peer_environment_is_installed() -> None:
    python = h.peers_python()
    assert python.exists()


@pytest.mark.peers
@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_dbt_keeps_what_its_own_suite_asserts(
    scenario: Scenario, dbt_runs: dict[str, h.DbtRun]
) -> None:
    """Our replay of dbt's test is faithful: dbt ends with the rows its own test counts."""
    run = dbt_runs[scenario.name]
    assert len(run.states) == len(scenario.steps) + 1
    if scenario.expected_rows is not None:
        assert len(run.history.rows) == scenario.expected_rows, scenario.origin


def expected_differences(scenario: str, route: str) -> list[str]:
    """The documented differences (lines of ``- dbt only`` / ``+ civiclake only`` versions)."""
    path = EXPECTED / f"{scenario}.{route}.diff"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    assert lines and lines[0].startswith("# "), f"{path}: start with `# <why civiclake differs>`"
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.peers
@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "route"), _cases())
def test_civiclake_history_matches_dbt(
    scenario: Scenario, route: str, dbt_runs: dict[str, h.DbtRun], tmp_path: Path
) -> None:
    run = dbt_runs[scenario.name]
    ours = h.REPLAYS[route](run, tmp_path).history
    found = h.differences(h.dbt_versions(run), ours)
    expected = expected_differences(scenario.name, route)
    assert found == expected, (
        f"{scenario.name} ({scenario.origin}) through the {route} route: versions only dbt "
        f"kept (-) and only civiclake kept (+), beyond tests/peers/expected/"
        f"{scenario.name}.{route}.diff:\n" + "\n".join(found)
    )


@pytest.mark.peers
def test_the_docs_table_lists_every_scenario_and_route() -> None:
    """docs/history.md's table gives each scenario × route the verdict the tests hold it to.

    ``match``: equal row for row; ``differs``: a deliberate difference, recorded in
    ``expected/``; ``bug``: a known bug (``KNOWN_BUGS``).
    """
    section = DOCS.read_text().split("## Compared with dbt snapshots", 1)
    assert len(section) == 2, f"{DOCS}: add the section `## Compared with dbt snapshots`"
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| \*?\*?(match|differs|bug)\b", section[1], re.M)
    listed = {(name, route): verdict for name, route, verdict in rows}

    def verdict(name: str, route: str) -> str:
        if (name, route) in KNOWN_BUGS:
            return "bug"
        return "differs" if (EXPECTED / f"{name}.{route}.diff").exists() else "match"

    wanted = {(s.name, route): verdict(s.name, route) for s in SCENARIOS for route in h.ROUTES}
    assert listed == wanted
