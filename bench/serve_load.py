"""The SQL API under load: 50 concurrent clients for 60 s against `civiclake serve`.

A project with a 200,000-row trusted tenancies table (PII ``name``) and the
``unrestricted`` wards; 50 users — 40 housing analysts (PII masked: hash) and
10 housing engineers granted PII — each with a token, so the server holds two
access sets. The server is the real command (``python -m civiclake serve``,
uvicorn, one process) on a free loopback port; the clients are 50 asyncio
tasks in this process (httpx, one connection each), each sending the next
query as soon as the last one answered. The mix, chosen at random per request:

* 40% point lookup: ``WHERE id = ?`` (a full scan of 200k rows; no index);
* 30% aggregate: ``GROUP BY ward_id`` with count/avg;
* 20% join with the unrestricted wards over a 50-id range (masked PII column);
* 10% the small wards table.

Every request is authenticated, policy-checked, guarded, run and audited
(one SQLite insert each). Errors are any non-200. The clients share the two
cores with the server, so latency includes their CPU.

    .venv/bin/python bench/serve_load.py                  # 50 clients, 60 s
    .venv/bin/python bench/serve_load.py --clients 10 --seconds 10
    .venv/bin/python bench/serve_load.py --record         # also write bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data" / "serve_load"
ROWS = 200_000


def build_project(root: Path, clients: int) -> dict[str, str]:
    """The project and one token per client user; returns {user: token}."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from civiclake import Project, init_project
    from civiclake.access.tokens import issue_token

    shutil.rmtree(root, ignore_errors=True)
    path = init_project(root, departments=["housing", "planning"])
    project = Project.load(path)
    ids = pa.array(range(ROWS), pa.int64())
    tenancies = pa.table(
        {
            "id": ids,
            "name": pc.binary_join_element_wise("tenant ", pc.cast(ids, pa.string()), ""),
            "ward_id": pc.cast(pc.bit_wise_and(ids, 15), pa.int64()),
            "rent": pc.divide(pc.cast(pc.bit_wise_and(ids, 1023), pa.float64()), 3.0),
        }
    )
    project.catalog.write(
        project.dataset("housing", "trusted", "tenancies"),
        tenancies,
        mode="overwrite",
        producer="bench",
        pii=["name"],
    )
    project.catalog.write(
        project.dataset("unrestricted", "trusted", "wards"),
        pa.table({"id": list(range(16)), "ward": [f"ward {i}" for i in range(16)]}),
        mode="overwrite",
        producer="bench",
    )
    tokens = {}
    for i in range(clients):
        user = f"user{i:02d}"
        engineer = i % 5 == 4
        project.store.add_user(user)
        project.store.set_grant(user, "housing", "engineer" if engineer else "analyst", engineer)
        tokens[user] = issue_token(project.store, user)[1]
    project.store.close()
    return tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def query(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.4:
        return "lookup", f"SELECT * FROM housing_trusted.tenancies WHERE id = {rng.randrange(ROWS)}"
    if roll < 0.7:
        return "aggregate", (
            "SELECT ward_id, count(*) AS n, avg(rent) AS rent FROM housing_trusted.tenancies "
            "GROUP BY ward_id ORDER BY ward_id"
        )
    if roll < 0.9:
        start = rng.randrange(ROWS - 50)
        return "join", (
            "SELECT t.id, t.name, w.ward FROM housing_trusted.tenancies t "
            "JOIN unrestricted_trusted.wards w ON t.ward_id = w.id "
            f"WHERE t.id BETWEEN {start} AND {start + 49}"
        )
    return "small", "SELECT * FROM unrestricted_trusted.wards"


async def client(
    url: str, token: str, seconds: float, seed: int, results: list[tuple[str, float, int]]
) -> None:
    import httpx

    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=60) as http:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            kind, sql = query(rng)
            started = time.perf_counter()
            try:
                response = await http.post(url, json={"sql": sql}, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = -1
            results.append((kind, time.perf_counter() - started, status))


async def load(url: str, tokens: dict[str, str], seconds: float) -> list[tuple[str, float, int]]:
    results: list[tuple[str, float, int]] = []
    await asyncio.gather(
        *(client(url, tok, seconds, i, results) for i, tok in enumerate(tokens.values()))
    )
    return results


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--record", action="store_true", help="write bench/RESULTS.md")
    args = parser.parse_args()

    root = DATA / "project"
    tokens = build_project(root, args.clients)
    port = free_port()
    env = {**os.environ, "CIVICLAKE_PROJECT": str(root)}
    server = subprocess.Popen(
        [sys.executable, "-m", "civiclake", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/api/sql"
    try:
        _wait(f"http://127.0.0.1:{port}/api/health", server)
        warm = asyncio.run(load(url, dict(list(tokens.items())[:5]), 3.0))  # build access sets
        assert all(s == 200 for _, _, s in warm), "warm-up failed"
        started = time.monotonic()
        results = asyncio.run(load(url, tokens, args.seconds))
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    report(results, elapsed, args)


def _wait(health: str, server: subprocess.Popen[bytes]) -> None:
    import httpx

    for _ in range(200):
        if server.poll() is not None:
            raise SystemExit(
                f"the server stopped: {server.stderr.read().decode() if server.stderr else ''}"
            )
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start within 20 s")


def report(results: list[tuple[str, float, int]], elapsed: float, args: Any) -> None:
    errors = sum(1 for _, _, s in results if s != 200)
    latencies = [t * 1000 for _, t, _ in results]
    lines = [
        f"{args.clients} clients × {args.seconds:g} s: {len(results):,} requests, "
        f"{len(results) / elapsed:,.0f}/s, {errors} errors",
        "",
        "| query | requests | p50 (ms) | p95 (ms) | p99 (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in ("lookup", "aggregate", "join", "small", "all"):
        values = [t * 1000 for k, t, _ in results if kind in (k, "all")]
        if values:
            lines.append(
                f"| {kind} | {len(values):,} | {statistics.median(values):.0f} | "
                f"{percentile(values, 0.95):.0f} | {percentile(values, 0.99):.0f} |"
            )
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(text, latencies)


def record(text: str, _latencies: list[float]) -> None:
    """Replace the "SQL API under load" run table in bench/RESULTS.md (between markers)."""
    path = HERE / "RESULTS.md"
    begin, end = "<!-- serve_load:begin -->", "<!-- serve_load:end -->"
    content = path.read_text()
    block = f"{begin}\nLatest run ({time.strftime('%Y-%m-%d')}): {text}\n{end}"
    if begin in content:
        head, _, rest = content.partition(begin)
        _, _, tail = rest.partition(end)
        content = head + block + tail
    else:
        content = content.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(content)


if __name__ == "__main__":
    main()
