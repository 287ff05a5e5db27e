"""`civiclake advise`: recorded telemetry with known answers gives exactly the expected advice."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from tests.cli._support import cli_streams

from civiclake import Project
from civiclake.advise import Advice, Evidence, TableFacts, advise, gather, parse_since, parse_size
from civiclake.exceptions import ConfigError
from civiclake.storage import DatasetRef

GB = 1000**3
MB = 1000**2
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def _record(project: Project, steps: list[dict[str, Any]], *, at: datetime = T0) -> None:
    """One run holding ``steps`` (node, kind, seconds, figures…), each after the one before."""
    store = project.store
    run_id, _ = store.start_run("run", "", project.logs_dir, os.getpid())
    clock = at
    for step in steps:
        values = dict(step)
        node, kind = values.pop("node"), values.pop("kind", "job")
        seconds = values.pop("seconds", 2.0)
        start = values.pop("start", clock)
        step_id = store.add_step(run_id, node, kind)
        store.update_step(
            step_id,
            status=values.pop("status", "success"),
            started_at=start,
            ended_at=start + timedelta(seconds=seconds),
            **{"peak_memory_bytes": 2 * GB, "spilled_bytes": 0, "cpu_seconds": 3.6, **values},
        )
        clock = start + timedelta(seconds=seconds + 1)
    store.finish_run(run_id, "success")


def _job(project: Project, name: str, inputs: list[str], materialize: str = "table") -> None:
    project.store.upsert_node(
        "jobs",
        name,
        department="housing",
        kind="sql",
        path=f"jobs/{name}.sql",
        output=f"housing_refined.{name.split('/')[1]}",
        materialize=materialize,
        inputs=inputs,
    )


def _produced_by(project: Project, ref: DatasetRef, producer: str) -> None:
    project.catalog.write(ref, pa.table({"id": [1]}), mode="overwrite", producer=producer)


def _advice(project: Project, **changes: Any) -> list[Advice]:
    evidence = gather(project, datetime.now(UTC) - timedelta(days=30))
    return advise(dataclasses.replace(evidence, machine_memory_bytes=16 * GB, **changes))


def test_recorded_runs_give_exactly_the_expected_advice(project: Project) -> None:
    """engine: 4GB, 2 threads (the scaffold's). Four runs of a small estate, each step telling
    one story: a job that spills, one that idles its threads, one that would be faster
    incremental, a source that mostly brings nothing; the rest keep 1.8 of 2 threads busy
    and peak at half the memory limit, so nothing is said about them."""
    _job(project, "housing/big", ["housing_raw.rents"])
    _job(project, "housing/arrears", ["housing_raw.tenancies"])
    _job(project, "housing/slow", ["housing_raw.rents"], materialize="incremental")
    _produced_by(project, DatasetRef("housing", "raw", "tenancies"), "housing/tenancies")
    _produced_by(project, DatasetRef("housing", "raw", "rents"), "housing/rents")
    spills = [0, 1_500 * MB, 0, 700 * MB]
    for day in range(4):
        _record(
            project,
            [
                {"node": "housing/rents", "kind": "source", "rows_out": 120 if day == 2 else 0},
                {"node": "housing/tenancies", "kind": "source", "rows_out": 1_000},
                {"node": "housing/big", "spilled_bytes": spills[day], "cpu_seconds": 3.5},
                {"node": "housing/arrears", "rows_out": 200_000, "cpu_seconds": 3.8},
                {"node": "housing/slow", "seconds": 10.0, "cpu_seconds": 2.0},
            ],
            at=T0 + timedelta(days=day),
        )
    found = _advice(project)
    assert [(a.subject, a.rule) for a in found] == [
        ("housing/arrears", "incremental"),
        ("housing/big", "memory-low"),
        ("housing/rents", "schedule"),
        ("housing/slow", "threads-idle"),
    ]
    arrears, big, rents, slow = found
    assert big.change == "raise engine.memory_limit from 4 GB to 6 GB"
    assert big.evidence == "spilled to disk in 2 of 4 runs, up to 1.5 GB (engine.memory_limit 4 GB)"
    assert big.figures["spilled_bytes_max"] == 1_500 * MB
    assert slow.evidence == (
        "median CPU 2.0 s over 10.0 s wall × 2 threads in 4 runs where it ran alone"
    )
    assert "lower engine.threads to 1" in slow.change
    assert arrears.evidence == (
        "it rewrites 200,000 rows per run (median of 4) while housing/tenancies brought "
        "1,000 rows per run (0.5%)"
    )
    assert "materialize: incremental" in arrears.change
    assert rents.evidence == "3 of 4 runs brought no rows; its data changed about every 3 days"
    assert rents.change == ("schedule it `daily at 02:00` (now it runs with every `civiclake run`)")


def test_steps_that_ran_beside_others_are_not_judged_on_threads(project: Project) -> None:
    """CPU time is the process's: when two steps overlap neither figure is its own."""
    for day in range(3):
        start = T0 + timedelta(days=day)
        _record(
            project,
            [
                {"node": "housing/slow", "seconds": 10.0, "cpu_seconds": 2.0, "start": start},
                {"node": "housing/other", "seconds": 5.0, "start": start + timedelta(seconds=2)},
            ],
        )
    assert [a.rule for a in _advice(project)] == []


def test_a_generous_memory_limit_is_lowered_when_nothing_spilled(project: Project) -> None:
    for day in range(3):
        _record(
            project,
            [{"node": "housing/small", "peak_memory_bytes": 200 * MB, "cpu_seconds": 3.9}],
            at=T0 + timedelta(days=day),
        )
    (advice,) = _advice(project)
    assert (advice.subject, advice.rule) == ("engine.memory_limit", "memory-high")
    assert advice.change == "lower engine.memory_limit from 4 GB to 1 GB"
    assert advice.evidence.startswith(
        "the highest peak memory of any step in 3 step runs was 200 MB"
    )


def test_a_step_spilling_beyond_the_machine_names_spark_as_not_yet_available(
    project: Project,
) -> None:
    for day in range(3):
        _record(
            project,
            [{"node": "housing/huge", "spilled_bytes": 20 * GB, "cpu_seconds": 3.9}],
            at=T0 + timedelta(days=day),
        )
    (advice,) = _advice(project)
    assert advice.rule == "outgrows-machine"
    assert "Spark engine" in advice.change and "not available yet" in advice.change
    assert "more than the machine's 16 GB" in advice.evidence


def test_too_few_runs_and_failed_runs_give_no_advice(project: Project) -> None:
    for day in range(2):
        _record(project, [{"node": "housing/big", "spilled_bytes": GB}], at=T0 + timedelta(day))
    _record(project, [{"node": "housing/big", "spilled_bytes": GB, "status": "failed"}])
    assert _advice(project) == []


def test_compaction_is_advised_for_many_small_files_or_many_versions() -> None:
    tables = [
        TableFacts("housing_raw.tenancies", 70, 64, 12),
        TableFacts("housing_raw.rents", 5, 5, 130),
        TableFacts("housing_raw.repairs", 8, 8, 9),
    ]
    found = advise(Evidence((), 4 * GB, 2, 16 * GB, tables=tables))
    assert [(a.subject, a.rule) for a in found] == [
        ("housing_raw.rents", "compaction"),
        ("housing_raw.tenancies", "compaction"),
    ]
    assert found[1].change == "run `civiclake history compact housing_raw.tenancies` " + (
        "(reads then touch fewer files)"
    )
    assert found[1].evidence == (
        "64 small files among 70 recent ones and 12 versions since its last compaction"
    )


def test_advise_cli_prints_the_advice_as_json_and_as_a_table(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    for day in range(3):
        _record(project, [{"node": "housing/big", "spilled_bytes": GB}], at=T0 + timedelta(day))
    code, out, _ = cli_streams(capsys, "advise", "--format", "json", "-p", str(project.dir))
    assert code == 0
    (advice,) = json.loads(out)
    assert advice["subject"] == "housing/big" and advice["rule"] == "memory-low"
    assert advice["figures"]["runs_spilled"] == 3
    code, out, _ = cli_streams(capsys, "advise", "-p", str(project.dir))
    assert code == 0
    assert "housing/big" in out and "raise engine.memory_limit from 4 GB to 5 GB" in out
    code, out, err = cli_streams(capsys, "advise", "--since", "a month", "-p", str(project.dir))
    assert code != 0 and "--since 'a month' is not a span like 30d" in out + err


def test_spans_and_sizes_parse_as_duckdb_reads_them() -> None:
    assert parse_since("30d") == timedelta(days=30)
    assert parse_since("2w") == timedelta(weeks=2)
    assert parse_size("4GB") == 4 * GB
    assert parse_size("512MiB") == 512 * 1024**2
    with pytest.raises(ConfigError, match=r"engine\.memory_limit 'lots'"):
        parse_size("lots")


def test_a_history_table_needs_compaction_until_it_is_compacted(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from civiclake import HistorySpec, apply_increment
    from civiclake.advise import gather
    from civiclake.snapshots.compact import compact

    monkeypatch.setattr("civiclake.advise.COMPACTION_VERSIONS", 4)
    ref = project.dataset("housing", "raw", "tenancies")
    spec = HistorySpec(key=("id",), version="updated")
    apply_increment(
        project.catalog,
        ref,
        pa.table({"id": list(range(100)), "updated": [datetime(2026, 3, 1)] * 100}),
        spec,
        app_id="day-0",
        import_id="i0",
        producer="housing/tenancies",
    )
    for n in range(1, 6):
        apply_increment(
            project.catalog,
            ref,
            pa.table({"id": [n], "updated": [datetime(2026, 3, 1 + n)]}),
            spec,
            app_id=f"day-{n}",
            import_id=f"i{n}",
            producer="housing/tenancies",
        )
    since = datetime.now(UTC) - timedelta(days=1)
    (facts,) = gather(project, since).tables
    assert facts.dataset == "housing_raw.tenancies"
    assert facts.versions_since_compaction == 4, "counted up to the threshold, no further"
    assert facts.recent_files == 5
    (advice,) = advise(gather(project, since))
    assert (advice.subject, advice.rule) == ("housing_raw.tenancies", "compaction")
    assert advice.evidence.endswith("and at least 4 versions since its last compaction")
    compact(project.catalog, ref)
    (facts,) = gather(project, since).tables
    assert facts.versions_since_compaction == 0 and facts.recent_files == 0
    assert advise(gather(project, since)) == []
