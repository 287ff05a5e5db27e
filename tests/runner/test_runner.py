"""The runner: dependency order, parallelism, retries, failure isolation, crash recovery."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests import _faults

from civiclake import Project, Runner
from civiclake.storage import DatasetRef

RENTS = DatasetRef("housing", "raw", "rents")


def _seed(project: Project) -> None:
    project.catalog.write(
        RENTS,
        pa.table(
            {"tenancy": ["T1", "T2", "T3"], "ward": ["W1", "W1", "W2"], "balance": [1.0, 2.0, 3.0]}
        ),
        mode="overwrite",
        producer="test",
    )


def _job(project: Project, name: str, body: str) -> None:
    path = project.dir / "jobs" / "housing" / name
    path.write_text(body, encoding="utf-8")


def _py_job(
    project: Project, name: str, inputs: list[str], body: str, zone: str = "refined"
) -> None:
    _job(
        project,
        f"{name}.py",
        "from civiclake import job\n\n"
        f"@job(inputs={inputs!r}, zone={zone!r})\n"
        f"def {name}(*frames):\n" + "".join(f"    {line}\n" for line in body.splitlines()),
    )


def test_jobs_run_in_dependency_order(project: Project) -> None:
    _seed(project)
    _job(
        project,
        "b.sql",
        "-- zone: trusted\nSELECT ward, sum(n) AS n FROM housing_refined.a GROUP BY ward\n",
    )
    _job(project, "a.sql", "SELECT ward, count(*) AS n FROM housing_raw.rents GROUP BY ward\n")
    summary = Runner(project).run()
    assert summary.ok
    assert [s.name for s in summary.steps] == ["housing/a", "housing/b"]
    with project.engine().session() as s:
        s.register(project.catalog.datasets())
        got = s.sql("select ward, n from housing_trusted.b order by ward").read_all().to_pylist()
    assert got == [{"ward": "W1", "n": 2}, {"ward": "W2", "n": 1}]


def test_independent_steps_run_in_parallel(project: Project, tmp_path: Path) -> None:
    _seed(project)
    marks = tmp_path / "marks"
    marks.mkdir()
    for name in ("slow_one", "slow_two"):
        _py_job(
            project,
            name,
            ["housing_raw.rents"],
            "import time, pathlib\n"
            f"p = pathlib.Path({str(marks)!r})\n"
            f"(p / '{name}.start').write_text(str(time.time()))\n"
            "time.sleep(1.0)\n"
            f"(p / '{name}.end').write_text(str(time.time()))\n"
            "return frames[0]",
        )
    summary = Runner(project, threads=2).run()
    assert summary.ok
    starts = [float((marks / f"{n}.start").read_text()) for n in ("slow_one", "slow_two")]
    ends = [float((marks / f"{n}.end").read_text()) for n in ("slow_one", "slow_two")]
    assert max(starts) < min(ends), "the two independent jobs did not overlap"


def test_transient_errors_are_retried(project: Project, tmp_path: Path) -> None:
    _seed(project)
    counter = tmp_path / "attempts"
    _py_job(
        project,
        "flaky",
        ["housing_raw.rents"],
        "import pathlib\n"
        "from civiclake import TransientError\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "if n < 3:\n"
        "    raise TransientError('the file share blinked')\n"
        "return frames[0]",
    )
    summary = Runner(project, backoff_seconds=0.01).run()
    assert summary.ok
    [step] = project.store.steps(summary.run_id)
    assert (step.status, step.attempts) == ("success", 3)
    assert "retrying" in summary.log_path.read_text()


def test_a_failed_job_blocks_only_its_downstream(project: Project) -> None:
    _seed(project)
    _py_job(project, "broken", ["housing_raw.rents"], "raise ValueError('bad arithmetic')")
    _job(project, "after_broken.sql", "SELECT * FROM housing_refined.broken\n")
    _job(project, "fine.sql", "SELECT * FROM housing_raw.rents\n")
    summary = Runner(project).run()
    status = {s.name: s.status for s in summary.steps}
    assert status == {
        "housing/broken": "failed",
        "housing/after_broken": "blocked",
        "housing/fine": "success",
    }
    assert not summary.ok
    failed = {s.node: s for s in project.store.steps(summary.run_id)}
    assert "ValueError: bad arithmetic" in (failed["housing/broken"].error or "")
    assert "upstream housing/broken" in (failed["housing/after_broken"].error or "")
    assert project.store.run(summary.run_id).status == "failed"  # type: ignore[union-attr]


def test_selection_runs_only_what_was_asked(project: Project) -> None:
    _seed(project)
    _job(project, "a.sql", "SELECT * FROM housing_raw.rents\n")
    _job(project, "b.sql", "SELECT * FROM housing_refined.a\n")
    _job(project, "c.sql", "SELECT 1 AS x\n")
    assert [s.name for s in Runner(project).run(["b+"]).steps] == ["housing/b"]
    assert [s.name for s in Runner(project).run(["+b"]).steps] == ["housing/a", "housing/b"]
    assert [s.name for s in Runner(project).run(["a+"]).steps] == ["housing/a", "housing/b"]


def test_secrets_never_reach_run_history(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from civiclake.config.secrets import Secret

    monkeypatch.setenv("CL_TEST_TOKEN", "tok-5f3a9c")
    Secret("${CL_TEST_TOKEN}").reveal()
    _seed(project)
    _py_job(
        project, "leaky", ["housing_raw.rents"], "raise RuntimeError('auth failed with tok-5f3a9c')"
    )
    summary = Runner(project).run()
    [step] = project.store.steps(summary.run_id)
    assert "tok-5f3a9c" not in (step.error or "") and "***" in (step.error or "")
    assert "tok-5f3a9c" not in summary.log_path.read_text()


# -- crash recovery -----------------------------------------------------------------------


def _crash_project(root: Path) -> Path:
    from civiclake import init_project

    init_project(root, departments=["housing"])
    (root / "sources" / "housing" / "rents.yaml").write_text(
        "type: files\ndataset: rents\npatterns: ['rents_*.csv']\nmin_file_age_seconds: 0\n"
    )
    inbox = root / "data" / "landing" / "housing" / "rents"
    inbox.mkdir(parents=True)
    rng = random.Random(7)
    for month in ("08", "09", "10"):
        lines = ["tenancy,ward,balance"] + [
            f"T{i},W{rng.randint(1, 5)},{rng.randint(-500, 500) / 10}" for i in range(2000)
        ]
        (inbox / f"rents_2026-{month}.csv").write_text("\n".join(lines) + "\n")
    jobs = root / "jobs" / "housing"
    (jobs / "by_ward.sql").write_text(
        "-- zone: trusted\n-- key: ward\n"
        "SELECT ward, count(*) AS n, round(sum(balance), 2) AS balance\n"
        "FROM housing_raw.rents GROUP BY ward\n"
    )
    (jobs / "history.sql").write_text(
        "-- materialize: append\nSELECT ward, count(*) AS n FROM housing_raw.rents GROUP BY ward\n"
    )
    (jobs / "latest.py").write_text(
        "from civiclake import job\n\n"
        "@job(inputs=['housing_raw.rents'], key=['tenancy'])\n"
        "def latest(rents):\n"
        "    return rents.query(\n"
        "        'r', 'select tenancy, max(balance) as balance from r group by tenancy'\n"
        "    )\n"
    )
    return root


def _tables(root: Path) -> dict[str, list[dict[str, object]]]:
    project = Project.load(root)
    out = {}
    for ref in project.catalog.datasets():
        table = project.tables.read(project.layout.table_uri(ref))
        keep = [c for c in table.column_names if c not in ("_import_id", "_imported_at")]
        rows = table.select(keep).to_pylist()
        out[ref.qualified] = sorted(rows, key=repr)
    project.store.close()
    return out


CLI = (sys.executable, "-c", _faults.RUN_CLI)
"""``python -m civiclake`` with the fault point its environment names (if any)."""


def _run_cli(root: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``civiclake run`` one step at a time (so commit N is the same commit every run)."""
    return subprocess.Popen(
        [*CLI, "run", "--no-progress", "--threads", "1", "-p", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


RUN_COMMITS = 6
"""Delta commits of an uninterrupted run: three CSV files into ``rents``, then one per job
(``by_ward``, ``history``, ``latest``)."""


@pytest.fixture(scope="module")
def crash_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tables and the commits of an uninterrupted run."""
    base = tmp_path_factory.mktemp("reference")
    reference = _crash_project(base / "council")
    log = base / "commits.log"
    assert _run_cli(reference, _faults.child_env(log)).wait() == 0
    expected = _tables(reference)
    assert set(expected) >= {
        "housing_raw.rents",
        "housing_trusted.by_ward",
        "housing_refined.latest",
    }
    assert len(_faults.calls(log)) == RUN_COMMITS, _faults.calls(log)
    return {"tables": expected, "commits": _faults.calls(log)}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("when", "n"),
    _faults.points(RUN_COMMITS),
)
def test_sigkill_at_a_commit_then_rerun_gives_the_same_tables(
    tmp_path: Path, crash_reference: dict[str, Any], when: _faults.When, n: int
) -> None:
    root = _crash_project(tmp_path / "crash")
    log = tmp_path / "killed.log"
    assert _run_cli(root, _faults.child_env(log, when, n)).wait() == -signal.SIGKILL
    assert _faults.calls(log) == crash_reference["commits"][:n]  # killed at the fault point
    assert _run_cli(root).wait() == 0, f"re-run after a kill {when} commit {n} failed"
    # (the tables are listed from the catalog: killed after the append job's commit and
    # before its catalog entry, point after-5, the re-run must still record the dataset)
    assert _tables(root) == crash_reference["tables"], "differs from an uninterrupted run"
