"""Kafka topic → raw → decoded → current state, against ``kcat -C`` on the same topic.

N tenure events (~1 KB of Avro each, Confluent wire format, schema in the
shipped registry) are produced once to a fresh topic of the local broker
(``scripts/services/kafka.sh``, started if it is not running). Then, in the
same run, each in its own subprocess (peak memory is its max RSS):

* **floor**: ``kcat -C -o beginning -e`` reading the whole topic to /dev/null;
* **raw**: the ``kafka`` source consuming the topic into the raw table (the
  messages as received, with topic/partition/offset/timestamp/key), each
  micro-batch committed with its offsets — decoding switched off;
* **decoded**: the same source decoding the raw table into the flat typed
  events table (the path it takes when catching up after a crash);
* **current**: the decoded events applied to ``tenures`` (latest, history,
  as-of) and its household-members child table through the history engine
  (``engine.memory_limit: 512MB`` in the project, so DuckDB stays in budget).

Micro-batches are 50,000 messages (``--batch``).

    .venv/bin/python bench/streams.py                   # 1,000,000 events
    .venv/bin/python bench/streams.py --events 200000   # quicker

kcat is Debian's ``kcat`` package (installed with apt-get when missing and
running as root).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KAFKA = ROOT / "scripts" / "services" / "kafka.sh"

SOURCE = """\
type: kafka
bootstrap_servers: {bootstrap}
topic: {topic}
schema_registry: {registry}
dataset: tenure_events
batch_max_messages: {batch}
batch_max_seconds: 10
idle_seconds: 5
{current}"""
CURRENT = """\
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
        rename: {id: person_id}
"""


def ensure_kcat() -> str:
    found = shutil.which("kcat")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("kcat is missing: sudo apt-get install kcat")
    print("installing kcat (Debian package)…", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "kcat"], check=True, env=env)
    return shutil.which("kcat") or sys.exit("kcat did not install")


def ensure_broker() -> tuple[str, bool]:
    url = subprocess.run([str(KAFKA), "url"], capture_output=True, text=True)
    if url.returncode == 0 and url.stdout.strip():
        return url.stdout.strip(), False
    started = subprocess.run([str(KAFKA), "start"], capture_output=True, text=True, check=True)
    return started.stdout.strip().splitlines()[-1], True


def produce(bootstrap: str, registry: str, topic: str, events: int, partitions: int) -> float:
    """Produce ``events`` distinct tenure events (~1 KB each); returns the mean value size."""
    from confluent_kafka import Producer

    from civiclake.simulators.housing import HousingWorld, deliveries, ensure_topics
    from civiclake.simulators.housing.publish import Encoder

    ensure_topics(bootstrap, [topic], partitions)
    world = HousingWorld(seed=2026, padding=420)
    encoder = Encoder("avro", registry)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    sent = size = 0
    started = time.monotonic()
    while sent < events:
        chunk = world.events(min(20_000, events - sent), contact_share=0.0)
        batch, _ = deliveries(
            chunk, seed=sent, duplicate_rate=0, late_rate=0, poison=0, schema_change_at=None
        )
        for delivery in batch:
            value = encoder.encode(delivery)
            size += len(value)
            while True:
                try:
                    producer.produce(topic, value, (delivery.key or "").encode())
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        sent += len(batch)
        print(f"  produced {sent:,} ({time.monotonic() - started:.0f} s)", flush=True)
    producer.flush(120)
    return size / sent


def count_messages(bootstrap: str, topic: str, partitions: int) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-count"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
            for p in range(partitions)
        )
    finally:
        consumer.close()


def kcat_seconds(kcat: str, bootstrap: str, topic: str) -> float:
    started = time.monotonic()
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            [kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"],
            stdout=sink,
            check=True,
        )
    return time.monotonic() - started


def stage(project_dir: Path, which: str) -> dict[str, float]:
    """Run one stage in a subprocess; its seconds and peak RSS (MB)."""
    out = subprocess.run(
        [sys.executable, __file__, "--stage", which, "--project", str(project_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        sys.exit(f"stage {which} failed:\n{out.stderr[-4000:]}")
    if os.environ.get("BENCH_PROFILE"):
        Path(f"/tmp/bench-streams-{which}.prof.txt").write_text(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_stage(which: str, project_dir: Path) -> None:
    """Inside the subprocess: one stage over the whole topic."""
    import logging
    import threading

    from civiclake import Project
    from civiclake.ingest.base import load_sources
    from civiclake.ingest.kafka.consumer import DECODED, RAW, StreamConsumer
    from civiclake.ingest.streams import offsets

    project = Project.load(project_dir)
    source = next(s for s in load_sources(project) if s.type == "kafka")
    log = logging.getLogger("bench")
    sink = source.sink()
    consumer = StreamConsumer(source, sink, import_id=f"bench-{which}", log=log)
    started = time.monotonic()
    if which == "raw":  # decoding off: messages as received, committed with their offsets
        consumer.downstream = lambda messages, ends: type(consumer.total)()  # type: ignore
        consumer.recover = lambda parts: None  # type: ignore[method-assign]
        total = consumer.run(threading.Event(), catch_up=True)
        rows = total.messages
    else:
        topic = source.config.topic
        parts = [(topic, p) for p in range(int(os.environ["BENCH_PARTITIONS"]))]
        if which == "decoded":
            settings = sink.settings.model_copy(update={"current": {}})
            sink.settings = settings
            consumer.recover(parts)
            rows = sum(
                v or 0
                for v in offsets.committed(
                    project.tables, consumer.uris[DECODED], DECODED, parts
                ).values()
            )
        else:
            outcome = consumer.apply_current(parts)
            rows = sum(
                v or 0
                for v in offsets.committed(project.tables, consumer.uris[RAW], RAW, parts).values()
            )
            del outcome
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--topic", help="reuse a topic this script produced before")
    parser.add_argument("--stage")
    parser.add_argument("--project")
    args = parser.parse_args()
    if args.stage:
        if os.environ.get("BENCH_PROFILE"):  # where a stage's time goes, to stderr
            import cProfile
            import pstats

            with cProfile.Profile() as profile:
                run_stage(args.stage, Path(args.project))
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
            return
        run_stage(args.stage, Path(args.project))
        return
    from civiclake import init_project
    from civiclake.simulators.registry import SchemaRegistry

    kcat = ensure_kcat()
    bootstrap, started_broker = ensure_broker()
    os.environ["BENCH_PARTITIONS"] = str(args.partitions)
    work = Path(tempfile.mkdtemp(prefix="civiclake-bench-streams-"))
    try:
        with SchemaRegistry().start() as registry:
            if args.topic:  # the registry is new: register the schema again (same id, 1)
                from civiclake.ingest.streams.schema_registry import RegistryClient
                from civiclake.simulators.housing import TENURE_V1

                RegistryClient(registry.url).register("tenure_api-value", TENURE_V1)
                topic, mean = args.topic, 0.0
                args.events = count_messages(bootstrap, topic, args.partitions)
                print(f"reusing {topic}: {args.events:,} events", flush=True)
            else:
                topic = f"bench_tenure_{int(time.time())}"
                print(f"producing {args.events:,} events to {topic} on {bootstrap}…", flush=True)
                mean = produce(bootstrap, registry.url, topic, args.events, args.partitions)
                print(f"  mean value size {mean:.0f} bytes", flush=True)
            project_dir = init_project(work / "council", departments=["housing"])
            config = project_dir / "civiclake.yaml"  # history's DuckDB within the 1 GB goal
            config.write_text(
                config.read_text().replace("memory_limit: 4GB", "memory_limit: 512MB")
            )
            folder = project_dir / "sources" / "housing"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "tenure_events.yaml").write_text(
                SOURCE.format(
                    bootstrap=bootstrap,
                    topic=topic,
                    registry=registry.url,
                    batch=args.batch,
                    current=CURRENT,
                )
            )
            floor = kcat_seconds(kcat, bootstrap, topic)
            print(f"kcat: {floor:.2f} s ({args.events / floor:,.0f} events/s)", flush=True)
            results = {}
            for which in ("raw", "decoded", "current"):
                results[which] = stage(project_dir, which)
                r = results[which]
                print(
                    f"{which}: {r['seconds']:.2f} s, {r['rows'] / r['seconds']:,.0f} events/s, "
                    f"peak {r['peak_mb']:.0f} MB",
                    flush=True,
                )
            floor2 = kcat_seconds(kcat, bootstrap, topic)
            print(f"kcat again: {floor2:.2f} s", flush=True)
            kcat_rate = args.events / min(floor, floor2)
            raw_rate = results["raw"]["rows"] / results["raw"]["seconds"]
            print(
                json.dumps(
                    {
                        "events": args.events,
                        "mean_value_bytes": round(mean),
                        "kcat_seconds": [round(floor, 2), round(floor2, 2)],
                        "kcat_events_per_s": round(kcat_rate),
                        "stages": results,
                        "raw_vs_kcat": round(raw_rate / kcat_rate, 3),
                    },
                    indent=1,
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started_broker:
            subprocess.run([str(KAFKA), "stop"], check=False)


if __name__ == "__main__":
    main()
