"""The ``kafka`` source: a topic consumed in micro-batches, exactly once into Delta."""
