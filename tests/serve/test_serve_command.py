"""`civiclake serve` for real (uvicorn in a subprocess), called with the curl line we print."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from civiclake import Project
from civiclake.serve.demo import serving_demo

pytest.importorskip("uvicorn")


def test_the_printed_curl_line_works_against_the_server(council: Project) -> None:
    lines = serving_demo(council)
    curl = next(line for line in lines if line.startswith("curl "))
    assert "PostgreSQL warehouse: set `warehouse.url`" in lines[-1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    curl = curl.replace(":8765/", f":{port}/")
    server = subprocess.Popen(
        [sys.executable, "-m", "civiclake", "serve", "--port", str(port), "-p", str(council.dir)],
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(150):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.1)
        done = subprocess.run(["sh", "-c", curl], capture_output=True, text=True, timeout=30)
        body = json.loads(done.stdout)
        assert body["row_count"] == 2 and [c["name"] for c in body["columns"]] == ["id", "ward"]
    finally:
        server.terminate()
        server.wait(timeout=20)
