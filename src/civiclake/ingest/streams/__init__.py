"""What the event-stream sources (``kafka``, ``events``) share.

* :mod:`.config` — decoding and current-state settings;
* :mod:`.schema_registry`, :mod:`.wire` — a Confluent registry client, the wire format;
* :mod:`.decode`, :mod:`.typing` — message values to flat typed Arrow, poison to rejects;
* :mod:`.offsets` — rows committed to Delta with the offsets they consumed (exactly once);
* :mod:`.sink`, :mod:`.current` — decoded rows into current-state tables and child tables
  through the history engine.
"""
