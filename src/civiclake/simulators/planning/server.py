"""The simulated planning REST API: a :class:`PlanningWorld` served over HTTP.

``GET /rest/v1/{resource}`` answers like the real Tascomi-style API:

* **auth** — ``X-Public`` must be the public key and ``X-Hash`` the
  signature of :func:`civiclake.ingest.planning.auth.request_hash` for the
  current wall-clock minute or the one before (a request signed just before a
  minute boundary still passes). Otherwise 401 ``{"error": "..."}``.
* **records** — for each id, the newest version visible at the *simulated*
  moment (:meth:`PlanningSimulator.set_now`). Records updated earlier on the
  simulated day are served; a client must drop them itself.
* ``?last_updated=YYYY-MM-DD`` — only served records whose current
  ``last_updated`` is on that day (a bad date is 400).
* **paging** — sorted by id, ``?page=N`` (1-based, default 1), headers
  ``X-Number-Of-Results`` (all matching records) and ``X-Results-Per-Page``,
  body a JSON array. No matching record: 202 with an empty body. A page past
  the end: 200 ``[]``. An unknown resource: 404.
* **faults** — see :class:`~.faults.Faults`: 500s, 429s with
  ``Retry-After: 1``, answers that take ``timeout_seconds``, added latency,
  and pages that always fail.

An admin API lets another process drive the simulator (no auth: bind it to
localhost): ``POST /_sim/clock`` with ``{"now": "YYYY-MM-DDTHH:MM:SS"}`` or
``{"today": "YYYY-MM-DD"}`` (noon of that day), ``POST /_sim/faults`` with the
:class:`Faults` fields (it replaces all of them), ``GET /_sim/state`` (clock,
seed, faults and served record counts).

Usage::

    world = PlanningWorld(seed=7, start=date(2026, 1, 1))
    with PlanningSimulator(world, public_key="pk", private_key="sk").start() as sim:
        sim.set_today(date(2026, 1, 31))
        httpx.get(f"{sim.url}/applications", headers=auth_headers("pk", "sk"))
"""

from __future__ import annotations

import hmac
import json
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from civiclake.ingest.planning.auth import LONDON, request_hash
from civiclake.simulators import SimulatorError
from civiclake.simulators.planning.faults import Faults
from civiclake.simulators.planning.world import TABLES, PlanningWorld, Record

API_PREFIX = "/rest/v1"


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Reply:
    body = json.dumps(payload).encode()
    return _Reply(status, body, {"Content-Type": "application/json", **(headers or {})})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> _Reply:
    """The one error shape of the API and the admin API: ``{"error": message}``."""
    return _json(status, {"error": message}, headers)


class PlanningSimulator:
    """Serve a :class:`PlanningWorld` as the planning REST API on a background thread.

    The simulated clock starts at noon of ``world.start`` unless ``now`` is given.
    """

    def __init__(
        self,
        world: PlanningWorld,
        *,
        public_key: str,
        private_key: str,
        page_size: int = 100,
        faults: Faults | None = None,
        now: datetime | None = None,
    ) -> None:
        if page_size < 1:
            raise SimulatorError(f"page_size must be 1 or more, got {page_size}")
        self.world = world
        self.page_size = page_size
        self._public_key = public_key
        self._private_key = private_key
        self._lock = threading.Lock()
        self._faults = faults or Faults()
        self._dice = random.Random(self._faults.seed)
        self._now = datetime.combine(world.start, time(12))
        self._served: dict[tuple[str, str | None], list[Record]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.set_now(now or self._now)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Listen on ``host:port`` (0: any free port) in a background thread."""
        if self._server is not None:
            raise SimulatorError(f"the planning simulator is already serving at {self.url}")
        self._stopping.clear()
        self._server = _Server((host, port), _Handler)
        self._server.simulator = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="planning-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """The API's base URL, e.g. ``http://127.0.0.1:8765/rest/v1``."""
        if self._server is None:
            raise SimulatorError("the planning simulator is not serving: call .start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PREFIX}"

    def stop(self) -> None:
        """Stop serving; requests waiting on an injected timeout are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the simulated clock and faults ------------------------------------------------
    @property
    def now(self) -> datetime:
        return self._now

    def set_now(self, moment: datetime) -> None:
        """Set the simulated moment (naive local time), living the world's days up to it."""
        if moment.tzinfo is not None:
            moment = moment.astimezone(LONDON).replace(tzinfo=None)
        self.world.advance_to(moment.date())
        with self._lock:
            self._now = moment
            self._served.clear()

    def set_today(self, day: date) -> None:
        """Set the simulated clock to noon of ``day``."""
        self.set_now(datetime.combine(day, time(12)))

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings; the random draws restart from ``faults.seed``."""
        with self._lock:
            self._faults = faults
            self._dice = random.Random(faults.seed)

    def state(self) -> dict[str, Any]:
        """Clock, world settings, faults and how many records each resource serves now."""
        world = self.world
        return {
            "now": self._now.isoformat(),
            "today": self._now.date().isoformat(),
            "seed": world.seed,
            "start": world.start.isoformat(),
            "scale": world.scale,
            "new_column_date": world.new_column_date.isoformat(),
            "page_size": self.page_size,
            "faults": self._faults.to_json(),
            "counts": {table: len(self._records(table, None)) for table in TABLES},
        }

    # -- answering ---------------------------------------------------------------------
    def _records(self, resource: str, day: str | None) -> list[Record]:
        with self._lock:
            key = (resource, day)
            if key not in self._served:
                records = self._served.get((resource, None))
                if records is None:
                    records = self._served[resource, None] = self.world.current(resource, self._now)
                if day is not None:
                    records = [r for r in records if r["last_updated"][:10] == day]
                    self._served[key] = records
            return self._served[key]

    def _handle(self, method: str, target: str, headers: Any, body: bytes) -> _Reply:
        """Answer one request (``headers`` is any case-insensitive mapping)."""
        url = urlsplit(target)
        path = url.path.rstrip("/")
        if path.startswith("/_sim/"):
            return self._admin(method, path, body)
        if not path.startswith(API_PREFIX + "/"):
            return _error(404, f"no such endpoint {path!r}; resources are under {API_PREFIX}/")
        if method != "GET":
            return _error(405, f"{method} is not allowed here; the API is read-only (GET)")
        faults = self._faults
        if faults.slow_ms:
            self._stopping.wait(faults.slow_ms / 1000)
        problem = self._check_auth(headers)
        if problem:
            return _error(401, problem)
        resource = path.removeprefix(API_PREFIX + "/")
        if resource not in TABLES:
            return _error(404, f"unknown resource {resource!r}; resources: {', '.join(TABLES)}")
        query = parse_qs(url.query)
        try:
            page = int(query.get("page", ["1"])[0])
            if page < 1:
                raise ValueError(page)
        except ValueError:
            return _error(400, f"page must be a whole number from 1, got {query['page'][0]!r}")
        day = query.get("last_updated", [None])[0]
        if day is not None:
            try:
                day = date.fromisoformat(day).isoformat()
            except ValueError:
                return _error(400, f"last_updated must be a date YYYY-MM-DD, got {day!r}")

        if page in faults.fail_pages.get(resource, ()):
            return _error(500, f"internal error serving {resource} page {page}")
        with self._lock:
            waits, limited, fails = (self._dice.random() for _ in range(3))
        if waits < faults.timeout_rate:
            self._stopping.wait(faults.timeout_seconds)
        if limited < faults.rate_limit_rate:
            return _error(429, "too many requests", {"Retry-After": "1"})
        if fails < faults.fail_rate:
            return _error(500, "internal error")

        records = self._records(resource, day)
        paging = {
            "X-Number-Of-Results": str(len(records)),
            "X-Results-Per-Page": str(self.page_size),
        }
        if not records:
            return _Reply(202, b"", paging)
        first = (page - 1) * self.page_size
        return _json(200, records[first : first + self.page_size], paging)

    def _check_auth(self, headers: Any) -> str | None:
        public, given = headers.get("X-Public"), headers.get("X-Hash")
        if not public or not given:
            return "missing X-Public or X-Hash header"
        if not hmac.compare_digest(public.encode(), self._public_key.encode()):
            return "unknown public key (X-Public)"
        now = datetime.now(UTC)
        for minute in (now, now - timedelta(minutes=1)):
            expected = request_hash(self._public_key, self._private_key, minute)
            if hmac.compare_digest(given.encode(), expected.encode()):
                return None
        return (
            "X-Hash does not match the signature for this minute: build it per request from "
            "the current Europe/London time, with the right private key"
        )

    def _admin(self, method: str, path: str, body: bytes) -> _Reply:
        if path == "/_sim/state" and method == "GET":
            return _json(200, self.state())
        if method != "POST" or path not in ("/_sim/clock", "/_sim/faults"):
            return _error(404, f"no admin endpoint {method} {path}")
        try:
            data = json.loads(body or b"null")
        except ValueError as exc:
            return _error(400, f"the body must be JSON: {exc}")
        try:
            if path == "/_sim/faults":
                self.set_faults(Faults.from_json(data))
                return _json(200, self._faults.to_json())
            if isinstance(data, dict) and set(data) == {"now"}:
                self.set_now(datetime.fromisoformat(data["now"]))
            elif isinstance(data, dict) and set(data) == {"today"}:
                self.set_today(date.fromisoformat(data["today"]))
            else:
                return _error(400, 'send {"now": "YYYY-MM-DDTHH:MM:SS"} or {"today": "YYYY-MM-DD"}')
        except (SimulatorError, TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return _json(200, self.state())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    simulator: PlanningSimulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else keep-alive replies wait ~40 ms for a delayed ACK
    server: _Server

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.simulator._handle(method, self.path, self.headers, body)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a busy client would flood the terminal."""
