"""Tables of the metadata store (catalog, runs, cursors, loaded files, column lineage).

Changes to these tables need an Alembic migration in ``migrations/versions``;
``tests/metadata/test_migrations.py`` fails when the two drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

datasets = Table(
    "datasets",
    metadata,
    Column("qualified_name", String(255), primary_key=True),
    Column("department", String(100), nullable=False, index=True),
    Column("zone", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("uri", Text, nullable=False),
    Column("producer", String(255)),
    Column("key", JSON, nullable=False, default=list),
    Column("owner", String(200), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("pii", JSON, nullable=False, default=list),
    Column("columns", JSON, nullable=False, default=list),
    Column("row_count", BigInteger),
    Column("version", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("node", String(255), primary_key=True),
    Column("department", String(100), nullable=False),
    Column("type", String(50), nullable=False),
    Column("path", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("outputs", JSON, nullable=False, default=list),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("node", String(255), primary_key=True),
    Column("department", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("path", Text, nullable=False),
    Column("output", String(255), nullable=False),
    Column("materialize", String(20), nullable=False),
    Column("inputs", JSON, nullable=False, default=list),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("command", Text, nullable=False),
    Column("selection", Text, nullable=False, default=""),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("pid", Integer),
    Column("host", String(255)),
    Column("log_path", Text),
    Column("error", Text),
)

run_steps = Table(
    "run_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False, index=True),
    Column("node", String(255), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("rows_in", BigInteger),
    Column("rows_out", BigInteger),
    Column("rows_rejected", BigInteger),
    Column("bytes_written", BigInteger),
    Column("peak_memory_bytes", BigInteger),
    Column("cpu_seconds", Float),
    Column("bytes_read", BigInteger),
    Column("spilled_bytes", BigInteger),
    Column("error", Text),
    Column("log_path", Text),
)

cursors = Table(
    "cursors",
    metadata,
    Column("owner", String(255), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

loaded_files = Table(
    "loaded_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(255), nullable=False),
    Column("dataset", String(255), nullable=False),
    Column("path", Text, nullable=False),
    Column("archived_path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("import_id", String(64), nullable=False),
    Column("rows_loaded", BigInteger, nullable=False),
    Column("rows_rejected", BigInteger, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("source", "sha256", name="uq_loaded_files_source_sha256"),
)

schema_changes = Table(
    "schema_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(255), nullable=False, index=True),
    Column("change", String(20), nullable=False),
    Column("column_name", String(255), nullable=False),
    Column("old_type", String(100)),
    Column("new_type", String(100)),
    Column("import_id", String(64)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
"""Schema drift seen by a writer: a column ``added`` or ``widened`` (e.g. BIGINT → DOUBLE)."""

reconciliations = Table(
    "reconciliations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(255), nullable=False, index=True),
    Column("dataset", String(255), nullable=False, index=True),
    Column("import_id", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("source_rows", BigInteger, nullable=False),
    Column("platform_rows", BigInteger, nullable=False),
    Column("ranges_compared", Integer, nullable=False),
    Column("rows_fetched", BigInteger, nullable=False),
    Column("missing_found", BigInteger, nullable=False),
    Column("missing_repaired", BigInteger, nullable=False),
    Column("stale_found", BigInteger, nullable=False),
    Column("stale_repaired", BigInteger, nullable=False),
    Column("deleted_found", BigInteger, nullable=False),
    Column("deleted_repaired", BigInteger, nullable=False),
)
"""One comparison of a database source's table with the platform's latest table, and its repair."""

stream_partitions = Table(
    "stream_partitions",
    metadata,
    Column("source", String(255), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("committed_offset", BigInteger, nullable=False),
    Column("high_watermark", BigInteger),
    Column("lag", BigInteger),
    Column("events_per_second", BigInteger),
    Column("last_event_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Progress of a stream source per topic partition: the next offset to read, lag and rate."""

# -- access, API tokens, query audit, warehouse publish state (issue 6) ----------------------
access_users = Table(
    "access_users",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""People and BI tools known to the access policy (``kind`` is ``person`` or ``tool``)."""

access_grants = Table(
    "access_grants",
    metadata,
    Column("user_name", String(100), ForeignKey("access_users.name"), primary_key=True),
    Column("department", String(100), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("pii", Integer, nullable=False, default=0),
    Column("granted_at", DateTime(timezone=True), nullable=False),
)
"""A user's role (admin, engineer, analyst) in one department (``*``: all), and PII access."""

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_name", String(100), ForeignKey("access_users.name"), nullable=False, index=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)
"""SQL API bearer tokens: only a SHA-256 of each token is kept (and its first characters)."""

query_audit = Table(
    "query_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_name", String(100), nullable=False, index=True),
    Column("door", String(20), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("sql", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("rows", BigInteger),
    Column("duration_ms", Integer, nullable=False),
    Column("error", Text),
)
"""Every query through the SQL API or the CLI: who, when, what, rows, time, outcome."""

publish_state = Table(
    "publish_state",
    metadata,
    Column("dataset", String(255), primary_key=True),
    Column("delta_version", BigInteger, nullable=False),
    Column("max_seq", BigInteger),
    Column("rows", BigInteger, nullable=False),
    Column("mode", String(20), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
)
"""What the PostgreSQL warehouse holds of each dataset: the Delta version and newest ``_seq``."""

# -- column lineage and PII clearances (issue 11) ----------------------------------------------
column_lineage = Table(
    "column_lineage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(255), nullable=False, index=True),
    Column("output_dataset", String(255), nullable=False, index=True),
    Column("output_column", String(255), nullable=False),
    Column("input_dataset", String(255), index=True),
    Column("input_column", String(255)),
    Column("resolved", Boolean, nullable=False),
    Column("pii", Boolean, nullable=False),
    Column("import_id", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
"""Which input columns each output column of a job derives from, as of the job's last run.

``resolved`` is false when the SQL could not be traced (or a Python job declared nothing):
the column is then recorded as derived from every PII column of the inputs (``input_*``
NULL when there were none). ``pii`` says whether the input column was PII at that run.
"""

pii_clearances = Table(
    "pii_clearances",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(255), nullable=False, index=True),
    Column("dataset", String(255), nullable=False, index=True),
    Column("column_name", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("import_id", String(64), nullable=False),
    Column("cleared_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dataset", "column_name", name="uq_pii_clearances_dataset_column"),
)
"""Output columns a job derived from PII but declared not personal (``pii_cleared``), and why."""

leases = Table(
    "leases",
    metadata,
    Column("resource", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("run_id", Integer),
)
"""Who writes a dataset now (see :mod:`civiclake.metadata.leases`); ``token`` grows with
every acquisition, so a holder that lost its lease is refused (fencing)."""

# -- scheduler, alerts, step telemetry (issue 13) ----------------------------------------------
schedule_state = Table(
    "schedule_state",
    metadata,
    Column("step", String(255), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("paused_by", String(255)),
    Column("paused_at", DateTime(timezone=True)),
    Column("last_due_at", DateTime(timezone=True)),
    Column("last_run_id", Integer),
    Column("last_status", String(20)),
    Column("last_started_at", DateTime(timezone=True)),
    Column("last_ended_at", DateTime(timezone=True)),
    Column("next_due_at", DateTime(timezone=True)),
    Column("inputs_seen", JSON, nullable=False, default=dict),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""The scheduler's memory of each step: the slot it last ran (``last_due_at``), that run,
the next slot, whether it is paused, and the input versions a job last ran on
(``inputs_seen``: dataset → catalog version) so it runs again only when they change."""

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("department", String(100), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("subject", String(255), nullable=False, index=True),
    Column("message", Text, nullable=False),
    Column("run_id", Integer),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("notified_at", DateTime(timezone=True)),
    Column("recovery_notified_at", DateTime(timezone=True)),
)
"""Something a department must hear about — a failed step, a failed check, data older than
its freshness target (``kind``: failure, check, freshness) — open until it clears. One alert
when it opens and one recovery notice when it closes, however many runs see it meanwhile."""
