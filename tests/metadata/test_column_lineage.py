"""The column lineage graph and PII clearances: written per job run, read as typed records.

Both databases civiclake supports run the same migration and the same round trip:
the lineage view of the catalog will be built on these reads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from civiclake.metadata import ColumnLineageRecord, LineageEdge, MetadataStore, PiiClearance

REFINED = "housing_refined.tenancies"


def _round_trip(store: MetadataStore) -> None:
    store.record_job_lineage(
        "housing/tenancies",
        REFINED,
        [
            LineageEdge("name_of_tenant", "housing_raw.rent_accounts", "tenant_name", pii=True),
            LineageEdge("ward_code", "housing_raw.rent_accounts", "ward_code"),
            LineageEdge("mystery", None, None, resolved=False),
        ],
        {"tenancies": "counted per ward"},
        import_id="run-1",
    )
    edges = store.column_lineage(dataset=REFINED)
    assert all(isinstance(e, ColumnLineageRecord) for e in edges)
    assert [
        (e.output_column, e.input_dataset, e.input_column, e.resolved, e.pii) for e in edges
    ] == [
        ("name_of_tenant", "housing_raw.rent_accounts", "tenant_name", True, True),
        ("ward_code", "housing_raw.rent_accounts", "ward_code", True, False),
        ("mystery", None, None, False, False),
    ]
    assert {e.job for e in edges} == {"housing/tenancies"}
    assert edges[0].recorded_at.tzinfo is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        edges[0].pii = False  # type: ignore[misc]
    assert [
        e.output_column for e in store.column_lineage(upstream_of="housing_raw.rent_accounts")
    ] == [
        "name_of_tenant",
        "ward_code",
    ]
    [cleared] = store.pii_clearances(REFINED)
    assert isinstance(cleared, PiiClearance)
    assert (cleared.column, cleared.reason, cleared.job, cleared.import_id) == (
        "tenancies",
        "counted per ward",
        "housing/tenancies",
        "run-1",
    )
    assert cleared.cleared_at.tzinfo is not None

    # the next run replaces, never accumulates
    store.record_job_lineage(
        "housing/tenancies",
        REFINED,
        [LineageEdge("ward_code", "housing_raw.rent_accounts", "ward_code")],
        {},
        import_id="run-2",
    )
    assert [
        (e.output_column, e.import_id) for e in store.column_lineage(job="housing/tenancies")
    ] == [("ward_code", "run-2")]
    assert store.pii_clearances() == []


def test_lineage_and_clearances_round_trip_on_sqlite(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    _round_trip(store)
    store.close()


def test_lineage_and_clearances_round_trip_on_postgresql(postgres_url: str) -> None:
    store = MetadataStore(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    _round_trip(store)
    store.close()
