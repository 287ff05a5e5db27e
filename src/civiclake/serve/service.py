"""Running API queries: who is asking, what they may see, and a bounded execution.

Views cost a read of each dataset's Delta log, too dear per request. So the
service keeps one DuckDB database per *access set* — the datasets a caller may
read and the columns masked for them — shared by every caller with that set,
and each request runs on its own cursor (a connection to the same database:
same views, own transaction, can be interrupted alone). A set is rebuilt when
the catalog moves on (a new Delta version, a compaction included) or grants
change; the policy is re-read at most once a second. Files a compaction
replaced stay on disk for ``storage.keep_replaced_files_hours``, so a query on
a set bound just before it still finishes; should a set meet a missing file
anyway (a vacuum by another tool), it is bound again and the query answered
from the new binding, once.

Each database holds only its callers' readable datasets (PII already masked in
the view definitions), then is locked: no external access beyond the storage
root, no Python replacement scans, no extension auto-loading, no spilling to
disk, configuration locked. The guard (:mod:`civiclake.access.guard`) has
already refused everything but one query over those datasets.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from civiclake.serve.errors import ApiError

if TYPE_CHECKING:
    import pyarrow as pa

    from civiclake.access.policy import AccessPolicy, Principal
    from civiclake.engines.duckdb import DuckDBSession
    from civiclake.project import Project

POLICY_TTL_SECONDS = 1.0
RESULT_BATCH_ROWS = 2048
"""Rows per Arrow batch read from DuckDB: small, so the byte cap is checked often."""
MAX_ACCESS_SETS = 32


@dataclass
class QueryResult:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: int


class QueryService:
    """Authenticates, authorises, runs and audits SQL API queries for one project."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.settings = project.config.serve
        self._lock = threading.Lock()
        self._policy: tuple[float, AccessPolicy, tuple[Any, ...]] | None = None
        self._sets: OrderedDict[tuple[Any, ...], DuckDBSession] = OrderedDict()
        self._building: dict[tuple[Any, ...], threading.Lock] = {}

    # -- who --------------------------------------------------------------------
    def policy(self) -> tuple[AccessPolicy, tuple[Any, ...]]:
        """The policy and a fingerprint of the catalog's versions (cached for a second)."""
        from civiclake.access.policy import AccessPolicy

        now = time.monotonic()
        cached = self._policy
        if cached is not None and now - cached[0] < POLICY_TTL_SECONDS:
            return cached[1], cached[2]
        policy = AccessPolicy.load(self.project)
        versions = tuple(
            sorted((d["qualified_name"], d["version"]) for d in self.project.store.datasets())
        )
        self._policy = (now, policy, versions)
        return policy, versions

    def authenticate(self, authorization: str | None) -> Principal:
        from civiclake.access.tokens import authenticate

        scheme, _, token = (authorization or "").partition(" ")
        challenge = {"WWW-Authenticate": "Bearer"}
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                "unauthorized",
                "send a token: Authorization: Bearer <token> "
                "(an admin creates one with `civiclake access token create <user>`)",
                challenge,
            )
        user = authenticate(self.project.store, token.strip())
        policy, _ = self.policy()
        if user is None or user not in policy.users:
            raise ApiError("unauthorized", "the token is unknown or revoked", challenge)
        return policy.principal(user)

    # -- what ---------------------------------------------------------------------
    def run(self, principal: Principal, sql: str, max_rows: int | None = None) -> QueryResult:
        """Check, run and audit one query; every outcome is audited."""
        from civiclake.access.guard import SqlRefused, check_sql

        started = time.perf_counter()
        status, rows, error = "ok", 0, None
        try:
            policy, versions = self.policy()
            try:
                checked = check_sql(sql, policy, principal, max_chars=self.settings.max_sql_chars)
            except SqlRefused as exc:
                raise ApiError(exc.code, str(exc)) from None
            database = self._database(policy, principal, versions)
            limit = min(max_rows or self.settings.max_rows, self.settings.max_rows)
            try:
                result = self._execute(database, checked.sql, limit)
            except _FilesGone:
                # the set was bound to files that are gone (a vacuum outran the catalog):
                # bind it again to the tables as they are now, and answer from that once
                self._discard(database)
                database = self._database(policy, principal, versions)
                result = self._execute(database, checked.sql, limit, stale_ok=False)
            rows = len(result.rows)
            return result
        except ApiError as exc:
            status, error = ("refused" if exc.code != "timeout" else "timeout"), exc.message
            raise
        except Exception as exc:
            status, error = "error", str(exc)
            raise
        finally:
            self.project.store.audit_query(
                user_name=principal.name,
                door="api",
                sql=sql[:20_000],
                status=status,
                rows=rows,
                duration_ms=int((time.perf_counter() - started) * 1000),
                error=error,
            )

    def audit_refused(self, sql: str, error: ApiError) -> None:
        """An unauthenticated request: audited as ``-`` with the reason."""
        self.project.store.audit_query(
            user_name="-",
            door="api",
            sql=sql[:20_000],
            status=error.code,
            rows=0,
            duration_ms=0,
            error=error.message,
        )

    def readable(self, principal: Principal) -> list[dict[str, Any]]:
        policy, _ = self.policy()
        return [
            {
                "dataset": info.ref.qualified,
                "columns": list(info.columns),
                "masked": policy.masked_columns(principal, info.ref),
            }
            for info in sorted(policy.readable(principal), key=lambda i: i.ref.qualified)
        ]

    def _database(
        self, policy: AccessPolicy, principal: Principal, versions: tuple[Any, ...]
    ) -> DuckDBSession:
        key = (policy.access_key(principal), versions)
        with self._lock:
            found = self._sets.get(key)
            if found is not None:
                self._sets.move_to_end(key)
                return found
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one build per access set, however many callers arrive at once
            with self._lock:
                found = self._sets.get(key)
            if found is not None:
                return found
            session = self._build(policy, principal)
            with self._lock:
                for older in [k for k in self._sets if k[0] == key[0]]:
                    del self._sets[older]  # an older version of the same set: never asked again
                self._sets[key] = session
                self._building.pop(key, None)
                while len(self._sets) > MAX_ACCESS_SETS:
                    self._sets.popitem(last=False)  # in-flight cursors keep theirs alive
            return session

    def _build(self, policy: AccessPolicy, principal: Principal) -> DuckDBSession:
        from civiclake.access.session import apply_masks
        from civiclake.engines.duckdb import DuckDBSession
        from civiclake.engines.exceptions import EngineError

        session = self.project.engine().session()
        if not isinstance(session, DuckDBSession):
            session.close()
            raise ApiError("internal", "the SQL API runs on the embedded duckdb engine")
        session.restrict()
        apply_masks(session, policy, principal)
        for info in policy.readable(principal):
            try:
                session.register([info.ref])
            except EngineError:
                continue  # catalogued but not written yet: it simply is not there
        session.con.execute(f"SET GLOBAL memory_limit = '{_setting(self.settings.memory_limit)}'")
        session.lock_down()
        return session

    def _discard(self, session: DuckDBSession) -> None:
        with self._lock:
            for key in [k for k, v in self._sets.items() if v is session]:
                del self._sets[key]

    def _execute(
        self, session: DuckDBSession, sql: str, limit: int, *, stale_ok: bool = True
    ) -> QueryResult:
        """``stale_ok``: a data file missing raises :class:`_FilesGone` (for one rebind)."""
        import duckdb

        started = time.perf_counter()
        max_bytes = int(self.settings.max_result_mb * 1024 * 1024)
        cursor = session.cursor()
        timer = threading.Timer(self.settings.timeout_seconds, cursor.interrupt)
        timer.start()
        truncated = False
        try:
            reader = cursor.sql(sql).to_arrow_reader(batch_size=min(limit + 1, RESULT_BATCH_ROWS))
            batches, count, size = [], 0, 0
            for batch in reader:
                if size + batch.nbytes > max_bytes:
                    batch = _fit(batch, max_bytes - size)
                    truncated = True
                batches.append(batch)
                count += batch.num_rows
                size += batch.nbytes
                if count > limit:
                    truncated = True
                    break
                if truncated:
                    break
            schema = reader.schema
        except duckdb.InterruptException:
            raise ApiError(
                "timeout",
                f"the query ran longer than {self.settings.timeout_seconds:g} s and was "
                "stopped; filter or aggregate more",
            ) from None
        except duckdb.IOException as exc:
            if stale_ok:
                raise _FilesGone from None
            raise ApiError("query_failed", str(exc).strip().splitlines()[0][:1000]) from None
        except duckdb.Error as exc:
            raise ApiError("query_failed", str(exc).strip().splitlines()[0][:1000]) from None
        finally:
            timer.cancel()
            cursor.close()
        import pyarrow as pa

        table = pa.Table.from_batches(batches, schema=schema).slice(0, limit)
        columns = [{"name": f.name, "type": str(f.type)} for f in schema]
        rows = [list(r) for r in zip(*(c.to_pylist() for c in table.columns), strict=True)]
        return QueryResult(columns, rows, truncated, int((time.perf_counter() - started) * 1000))

    def close(self) -> None:
        with self._lock:
            for session in self._sets.values():
                session.close()
            self._sets.clear()


class _FilesGone(Exception):
    """A query's access set named data files that are no longer there."""


def _fit(batch: pa.RecordBatch, room: int) -> pa.RecordBatch:
    """The first rows of ``batch`` that fit in ``room`` bytes (estimated by average row size)."""
    if batch.num_rows == 0 or room <= 0:
        return batch.slice(0, 0)
    per_row = max(batch.nbytes / batch.num_rows, 1)
    rows = int(room // per_row)
    while rows > 0 and batch.slice(0, rows).nbytes > room:
        rows //= 2
    return batch.slice(0, rows)


def _setting(value: str) -> str:
    import re

    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]?i?B", value.strip(), re.IGNORECASE):
        from civiclake.exceptions import ConfigError

        raise ConfigError(f"serve.memory_limit {value!r} is not a size like 1GB or 512MB")
    return value.strip()
