"""A project with a ``kafka`` source over a fresh topic of the housing simulator."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from civiclake import Project
from civiclake.ingest.base import load_sources
from civiclake.simulators.housing import Truth
from civiclake.simulators.housing.run import publish

SOURCE = """\
type: kafka
bootstrap_servers: {bootstrap}
topic: {topic}
schema_registry: {registry}
dataset: tenure_events
batch_max_messages: {batch}
batch_max_seconds: 1
idle_seconds: {idle}
current:
  tenures:
    prefix: tenure_
    key: [id]
    deleted: terminated_is_terminated
    on_delete: remove
    children:
      tenure_household_members:
        field: household_members
        parent_key: tenure_id
        key: [person_id]
        rename: {{id: person_id}}
"""


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}_"


def write_source(
    project_dir: Path,
    bootstrap: str,
    registry: str,
    topic: str,
    *,
    batch: int = 500,
    idle: float = 3.0,
) -> Path:
    folder = project_dir / "sources" / "housing"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tenure_events.yaml"
    path.write_text(
        SOURCE.format(bootstrap=bootstrap, topic=topic, registry=registry, batch=batch, idle=idle)
    )
    return path


def produce(bootstrap: str, registry: str, prefix: str, **kwargs: Any) -> tuple[int, Truth]:
    options = {"events": 600, "seed": 11, "partitions": 3, **kwargs}
    return publish(bootstrap=bootstrap, registry=registry, topic_prefix=prefix, **options)


def kafka_source(project: Project) -> Any:
    return next(s for s in load_sources(project) if s.type == "kafka")


def query(project: Project, sql: str) -> list[dict[str, Any]]:
    from civiclake.query import run_query

    return run_query(project, sql).read_all().to_pylist()


def expected_members(truth: Truth) -> set[tuple[str, str]]:
    return {
        (tenure_id, m["Id"])
        for tenure_id, t in truth.tenures(include_terminated=False).items()
        for m in t["HouseholdMembers"]
    }


def tenure_offsets(project: Project) -> list[tuple[int, int]]:
    rows = query(
        project,
        'SELECT "partition" AS p, "offset" AS o FROM housing_raw.tenure_events ORDER BY 1, 2',
    )
    return [(r["p"], r["o"]) for r in rows]


__all__ = [
    "expected_members",
    "kafka_source",
    "new_prefix",
    "produce",
    "query",
    "tenure_offsets",
    "write_source",
]
