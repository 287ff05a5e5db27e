"""The housing department's event streams, for the demo project.

:func:`add_housing_streams` declares two stream sources in a demo project —
``housing/tenure_events`` (tenures, with household members as a child table)
and ``housing/contact_details_events`` — and feeds them from the housing app
simulator:

* by default through the **landing-folder option** (``type: events``): the
  simulated events are dropped as NDJSON files into each source's landing
  inbox, typed by the Avro schemas written to ``schemas/housing/``;
* when a Kafka broker is configured (``bootstrap`` and a schema registry URL),
  as ``type: kafka`` sources on topics ``tenure_api`` and
  ``contact_details_api``, with the events produced there as Confluent-framed
  Avro.

The next ``civiclake run`` loads them either way: ``housing_refined.tenures``
(+ ``__history``, ``_as_of``), ``housing_refined.tenure_household_members``,
``housing_refined.contact_details``, the decoded event tables and their
``__rejected`` (the simulator mixes in a few poison messages).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

TENURE_CURRENT = """\
current:
  tenures:
    prefix: tenure_
    key: [id]
    deleted: terminated_is_terminated
    on_delete: flag
    children:
      tenure_household_members:
        field: household_members
        parent_key: tenure_id
        key: [person_id]
        rename: {id: person_id}
"""
CONTACT_CURRENT = """\
current:
  contact_details:
    prefix: contact_details_
    key: [target_id, id]
    deleted: NOT is_active
    on_delete: remove
"""
PII = {
    # household members (names, dates of birth) and the home's address, in the decoded
    # events (tenure_ prefix), in tenures and in tenure_household_members; the free-text
    # legacy references ("notes"); the housing officer in every event's envelope
    "tenure_events": [
        "user_name",
        "user_email",
        "tenure_household_members",
        "household_members",
        "full_name",
        "date_of_birth",
        "tenure_tenured_asset_full_address",
        "tenured_asset_full_address",
        "tenure_legacy_references",
        "legacy_references",
    ],
    # the phone number, e-mail or address itself, its free-text description and who
    # entered it, in the decoded events (contact_details_ prefix) and in contact_details
    "contact_details_events": [
        "user_name",
        "user_email",
        "contact_details_contact_information_value",
        "contact_information_value",
        "contact_details_contact_information_description",
        "contact_information_description",
        "contact_details_created_by",
        "created_by",
    ],
}
"""Columns holding personal data, per stream source: its ``pii:`` list."""
DESCRIPTIONS = {
    "tenure_events": "Tenure change events from the housing app (new tenures, household "
    "changes, charges, terminations)",
    "contact_details_events": "Contact details added, edited and removed in the housing app",
}


def add_housing_streams(
    directory: Path,
    *,
    seed: int = 2026,
    events: int = 3000,
    bootstrap: str | None = None,
    registry: str | None = None,
) -> list[Path]:
    """Declare the housing stream sources in the project at ``directory`` and send them
    ``events`` simulated events; returns the source files written."""
    from civiclake import Project
    from civiclake.simulators.housing import (
        CONTACT_TOPIC,
        CONTACT_V1,
        TENURE_TOPIC,
        TENURE_V2,
        Encoder,
        HousingWorld,
        deliveries,
        to_folder,
        to_kafka,
    )

    schemas = directory / "schemas" / "housing"
    schemas.mkdir(parents=True, exist_ok=True)
    (schemas / "tenure_event.avsc").write_text(json.dumps(TENURE_V2, indent=2))
    (schemas / "contact_details_event.avsc").write_text(json.dumps(CONTACT_V1, indent=2))
    sources = directory / "sources" / "housing"
    sources.mkdir(parents=True, exist_ok=True)
    streams = {
        "tenure_events": (TENURE_TOPIC, "tenure_event.avsc", TENURE_CURRENT),
        "contact_details_events": (CONTACT_TOPIC, "contact_details_event.avsc", CONTACT_CURRENT),
    }
    written = []
    for name, (topic, schema, current) in streams.items():
        header = (
            f"description: {DESCRIPTIONS[name]}\nowner: Housing data team\n"
            f"pii: [{', '.join(PII[name])}]\n"
        )
        if bootstrap is not None:
            if registry is None:
                from civiclake.exceptions import ConfigError

                raise ConfigError("the demo's Kafka streams need a schema registry URL too")
            body = (
                f"type: kafka\nbootstrap_servers: {bootstrap}\ntopic: {topic}\n"
                f"format: avro\nschema_registry: {registry}\nbatch_max_seconds: 2\n"
            )
        else:
            body = (
                f"type: events\nformat: json\nvalue_schema: schemas/housing/{schema}\n"
                "min_file_age_seconds: 0\n"
            )
        path = sources / f"{name}.yaml"
        path.write_text(header + body + f"dataset: {name}\n" + current)
        written.append(path)
    sent, _ = deliveries(HousingWorld(seed).events(events), seed=seed, poison=4)
    if bootstrap is not None:
        to_kafka(sent, bootstrap, Encoder("avro", registry), partitions=3)
        return written
    project = Project.load(directory)
    drop = directory / ".civiclake" / "housing-events"
    files = to_folder(sent, drop, Encoder("json"), per_file=250)
    past = time.time() - 3600  # dropped an hour ago: complete, whatever the source's age rule
    for name, (topic, _, _) in streams.items():
        inbox = Path(project.layout.landing_inbox("housing", name))
        inbox.mkdir(parents=True, exist_ok=True)
        for file in (f for f in files if f.parent.name == topic):
            target = inbox / file.name
            os.replace(file, target)
            os.utime(target, (past, past))
    return written


__all__ = ["add_housing_streams"]
