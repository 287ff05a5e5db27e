"""Engine sessions that show one principal exactly what the policy allows."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from civiclake.access.exceptions import AccessError

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.access.policy import AccessPolicy, Principal
    from civiclake.engines.base import Session
    from civiclake.metadata import MetadataStore
    from civiclake.project import Project
    from civiclake.storage import DatasetRef


def open_session(
    project: Project, policy: AccessPolicy, principal: Principal, refs: Iterable[DatasetRef]
) -> Session:
    """A session with views of ``refs`` only, PII masked as the policy says."""
    for ref in refs:
        policy.check_read(principal, ref)
    session = project.engine().session()
    try:
        _restrict(session)
        apply_masks(session, policy, principal)
    except Exception:
        session.close()
        raise
    session.register(refs)
    return session


def _restrict(session: Session) -> None:
    from civiclake.engines.duckdb import DuckDBSession

    if isinstance(session, DuckDBSession):
        session.restrict()


def apply_masks(session: Session, policy: AccessPolicy, principal: Principal) -> None:
    """Tell ``session``'s views which columns to mask for ``principal``.

    The masking functions are registered on the session's connection; their key
    stays in this process (no SQL text the session holds contains it).
    """
    from civiclake.engines.duckdb import DuckDBSession

    masks = policy.duckdb_masks(principal)
    if not masks:
        return
    if not isinstance(session, DuckDBSession):
        raise AccessError(
            "this engine cannot mask PII columns yet; query through the duckdb engine"
        )
    policy.masker.check()
    for department in policy.masked_departments(principal):
        policy.masker.register(session.con, department)
    session.masks = masks


def audited(
    reader: pa.RecordBatchReader, store: MetadataStore, user: str, door: str, sql: str
) -> pa.RecordBatchReader:
    """``reader`` passed through; when it ends (or is dropped) one audit line is written."""
    import pyarrow as pa

    started = time.perf_counter()

    def batches() -> Iterator[pa.RecordBatch]:
        rows, status, error = 0, "ok", None
        try:
            for batch in reader:
                rows += batch.num_rows
                yield batch
        except Exception as exc:
            status, error = "error", str(exc)
            raise
        finally:
            store.audit_query(
                user_name=user,
                door=door,
                sql=sql,
                status=status,
                rows=rows,
                duration_ms=int((time.perf_counter() - started) * 1000),
                error=error,
            )

    return pa.RecordBatchReader.from_batches(reader.schema, batches())
