"""A real local SMTP server (aiosmtpd), a real local HTTP receiver, and a council whose
housing job can be broken and mended by a flag file."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa

from civiclake import Project, init_project


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """What the SMTP server received."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


class Receiver:
    """An HTTP server on ``port`` that records each POSTed JSON body by path."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.posts: list[tuple[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str = "/hook") -> list[Any]:
        return [body for p, body in self.posts if p == path]

    def start(self) -> Receiver:
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                posts.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


BREAKABLE_JOB = """\
from pathlib import Path

from civiclake import job


@job(inputs=["housing_raw.rents"])
def rent_summary(rents):
    if (Path(__file__).parents[2] / "BROKEN").exists():
        raise RuntimeError("the rent feed was empty")
    return rents
"""


def add_channels(root: Path, text: str) -> None:
    config = root / "civiclake.yaml"
    config.write_text(config.read_text() + text)


def make_council(tmp_path: Path, channels: str) -> Project:
    """Housing (a Python job broken while ``BROKEN`` exists) and parking (a SQL job)."""
    root = init_project(tmp_path / "council", departments=["housing", "parking"])
    add_channels(root, channels)
    project = Project.load(root)
    project.catalog.write(
        project.dataset("housing", "raw", "rents"),
        pa.table({"id": [1, 2], "ward": ["Hill", "Vale"]}),
        mode="overwrite",
        producer="test",
    )
    project.catalog.write(
        project.dataset("parking", "raw", "permits"),
        pa.table({"id": [1, 2], "ward": ["Hill", "Vale"]}),
        mode="overwrite",
        producer="test",
    )
    (root / "jobs" / "housing" / "rent_summary.py").write_text(BREAKABLE_JOB)
    (root / "jobs" / "parking" / "by_ward.sql").write_text(
        "-- freshness: 26h\nSELECT ward, count(*) AS n FROM parking_raw.permits GROUP BY ward\n"
    )
    return project


def break_housing(project: Project, broken: bool = True) -> None:
    flag = project.dir / "BROKEN"
    if broken:
        flag.write_text("")
    else:
        flag.unlink(missing_ok=True)
