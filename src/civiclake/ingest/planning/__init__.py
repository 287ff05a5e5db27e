"""The ``planning_api`` source: a Tascomi-style planning system pulled in daily increments."""
