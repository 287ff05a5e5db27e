"""What keyed masking costs a query: a PII column masked by HMAC against the same column unmasked.

    .venv/bin/python bench/masking.py [rows] [distinct]

Builds a project with one housing dataset of ``rows`` (default 1,000,000) tenants
with ``distinct`` different names (default: all different),
then times, on the same session kind the SQL API uses, ``count(DISTINCT name)`` for a
user granted PII (no masking) and for an analyst (every value through the masking
function). Prints medians of 3 and the ratio; record it in bench/RESULTS.md.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(rows: int, distinct: int) -> None:
    import pyarrow as pa

    from civiclake import Project, init_project
    from civiclake.serve.service import QueryService

    root = init_project(Path(tempfile.mkdtemp()) / "bench", departments=["housing"])
    project = Project.load(root)
    names = pa.array([f"Tenant {i % distinct:07d}" for i in range(rows)])
    project.catalog.write(
        project.dataset("housing", "trusted", "tenants"),
        pa.table({"id": pa.array(range(rows), pa.int64()), "name": names}),
        mode="overwrite",
        producer="bench",
        pii=["name"],
    )
    store = project.store
    store.add_user("hana")
    store.set_grant("hana", "housing", "analyst", False)
    store.add_user("eli")
    store.set_grant("eli", "housing", "analyst", True)
    service = QueryService(project)
    policy, _ = service.policy()
    sql = "SELECT count(DISTINCT name) AS n FROM housing_trusted.tenants"
    results = {}
    for user in ("eli", "hana"):
        principal = policy.principal(user)
        service.run(principal, sql)  # build the access set once
        times = []
        for _ in range(3):
            started = time.perf_counter()
            service.run(principal, sql)
            times.append(time.perf_counter() - started)
        results[user] = statistics.median(times)
    service.close()
    plain, masked = results["eli"], results["hana"]
    print(f"rows {rows:,} ({distinct:,} distinct): unmasked {plain:.3f} s, masked {masked:.3f} s,")
    print(f"  ratio {masked / plain:.1f}x")
    print(f"  masking {1e9 * (masked - plain) / rows:.0f} ns per value")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    main(count, int(sys.argv[2]) if len(sys.argv) > 2 else count)
