"""The ``events`` source: event files dropped in a landing folder (instead of Kafka)."""
