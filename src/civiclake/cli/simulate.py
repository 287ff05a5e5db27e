"""``civiclake simulate``: run a source-system simulator in the foreground.

The simulators are for demos, tests and trying a pipeline against a realistic,
misbehaving source without access to the real one. Nothing is imported from
:mod:`civiclake.simulators` until a command runs.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

PUBLIC_KEY_ENV = "PLANNING_API_PUBLIC_KEY"
PRIVATE_KEY_ENV = "PLANNING_API_PRIVATE_KEY"

simulate_app = typer.Typer(
    help="Run simulated source systems (for demos and tests)."
    "\n\nExample:\n\n    civiclake simulate planning-api --port 8765",
    no_args_is_help=True,
)


@simulate_app.command("planning-api")
def planning_api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the simulated data.")] = 7,
    start: Annotated[
        datetime,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="First simulated day (YYYY-MM-DD).",
            show_default="2026-01-01",
        ),
    ] = datetime(2026, 1, 1),
    today: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Simulated today (YYYY-MM-DD); the clock is set to its noon. "
            "Default: start + 30 days.",
            show_default=False,
        ),
    ] = None,
    scale: Annotated[
        int, typer.Option(min=1, help="Size: ~2,000×scale applications, ~40×scale new a day.")
    ] = 1,
    page_size: Annotated[int, typer.Option(min=1, help="Records per page.")] = 100,
    new_column_day: Annotated[
        int,
        typer.Option(min=1, help="Simulated day (start = 1) on which applications gains a column."),
    ] = 20,
    fail_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of requests answered 500.")
    ] = 0.0,
    timeout_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of requests that hang 5 s.")
    ] = 0.0,
    rate_limit_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of requests answered 429.")
    ] = 0.0,
    slow_ms: Annotated[int, typer.Option(min=0, help="Latency added to every request.")] = 0,
) -> None:
    """Serve a simulated Tascomi-style planning REST API until Ctrl-C or SIGTERM.

    The API keys come from PLANNING_API_PUBLIC_KEY and PLANNING_API_PRIVATE_KEY
    (defaults: demo-public and demo-private). Move the simulated clock with
    POST /_sim/clock {"today": "YYYY-MM-DD"}; change faults with POST
    /_sim/faults; see GET /_sim/state.

    Example:

        civiclake simulate planning-api --port 8765 --scale 2
    """
    import signal
    import threading

    from civiclake.simulators.planning import Faults, PlanningSimulator, PlanningWorld

    first_day = start.date()
    day = today.date() if today else first_day + timedelta(days=30)
    world = PlanningWorld(seed, first_day, scale, new_column_day=new_column_day)
    faults = Faults(
        fail_rate=fail_rate,
        timeout_rate=timeout_rate,
        rate_limit_rate=rate_limit_rate,
        slow_ms=slow_ms,
    )
    simulator = PlanningSimulator(
        world,
        public_key=os.environ.get(PUBLIC_KEY_ENV, "demo-public"),
        private_key=os.environ.get(PRIVATE_KEY_ENV, "demo-private"),
        page_size=page_size,
        faults=faults,
    )
    simulator.set_today(day)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with simulator.start(host, port):
        print(
            f"planning API simulator serving {simulator.url} "
            f"(simulated today {day.isoformat()}, seed {seed}); Ctrl-C to stop",
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


@simulate_app.command("schema-registry")
def schema_registry(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8081,
) -> None:
    """Serve a small Confluent-compatible schema registry until Ctrl-C or SIGTERM.

    It ships for the demo and tests; in production point sources at your own registry.

    Example:

        civiclake simulate schema-registry --port 8081
    """
    import signal
    import threading

    from civiclake.simulators.registry import SchemaRegistry

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SchemaRegistry().start(host, port) as registry:
        print(f"schema registry serving {registry.url}; Ctrl-C to stop", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


@simulate_app.command("housing-events")
def housing_events(
    events: Annotated[int, typer.Option(min=1, help="Change events to play.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated housing world.")] = 7,
    format: Annotated[
        str, typer.Option(help="Message values: avro (Confluent wire format) or json.")
    ] = "avro",
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers (host:port) to produce to.")
    ] = None,
    folder: Annotated[
        Path | None, typer.Option(help="Landing folder to drop files into instead of Kafka.")
    ] = None,
    registry: Annotated[
        str | None, typer.Option(help="Schema registry URL (Avro to Kafka needs one).")
    ] = None,
    topic_prefix: Annotated[str, typer.Option(help="Prefix of the topic names.")] = "",
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of new topics.")] = 3,
    poison: Annotated[int, typer.Option(min=0, help="Poison messages to mix in.")] = 3,
) -> None:
    """Publish tenure and contact-details change events (topics tenure_api, contact_details_api).

    Seeded: new tenures, updates, terminations, late and re-delivered messages, an added
    optional field half-way, and a few poison messages.

    Example:

        civiclake simulate housing-events --folder landing/events --format json
    """
    from civiclake.simulators.housing.run import publish

    if format not in ("avro", "json"):
        raise typer.BadParameter("--format is avro or json")
    sent, truth = publish(
        events=events,
        seed=seed,
        format="avro" if format == "avro" else "json",
        bootstrap=bootstrap,
        folder=folder,
        registry=registry,
        topic_prefix=topic_prefix,
        partitions=partitions,
        poison=poison,
    )
    where = f"Kafka at {bootstrap}" if bootstrap else str(folder)
    unit = "messages" if bootstrap else "files"
    print(f"{sent} {unit} sent to {where} ({len(truth.events)} distinct events, seed {seed})")


@simulate_app.command("repairs-db")
def repairs_db(
    url: Annotated[
        str, typer.Argument(help="SQLAlchemy URL of the database to create, e.g. sqlite:///drs.db")
    ],
    cycles: Annotated[int, typer.Option(min=0, help="15-minute cycles of changes to make.")] = 4,
    scale: Annotated[float, typer.Option(help="Size relative to the default (2,000 jobs).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same database.")] = 7,
) -> None:
    """Create a simulated repairs-scheduling database and change it like the real one.

    Example:

        civiclake simulate repairs-db sqlite:///drs.db --cycles 8
    """
    from civiclake.simulators.repairs import RepairsSimulator

    with RepairsSimulator(url, seed=seed, scale=scale) as sim:
        sim.create()
        for _ in range(cycles):
            report = sim.cycle()
            print(
                f"{report.now:%Y-%m-%d %H:%M}: {report.inserted} new, {report.updated} updated "
                f"({len(report.silent_updates)} without bumping updated_at, "
                f"{report.skewed_updates} by the server running slow), "
                f"{len(report.deleted)} hard-deleted, {report.long_committed} late commits",
                flush=True,
            )
        sim.settle()
