"""What can go wrong in the simulated planning API, and how often.

The real API is slow, sometimes answers 5xx, sometimes never answers, and
rate-limits clients that fetch too many pages at once. :class:`Faults` says
how often the simulator does each; its random draws come from a
:class:`random.Random` seeded by :attr:`Faults.seed`, so a test with the same
faults and the same request order sees the same failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from civiclake.simulators import SimulatorError


@dataclass(frozen=True)
class Faults:
    """Fault injection settings for :class:`~.server.PlanningSimulator`.

    * ``fail_rate`` — share of requests answered HTTP 500;
    * ``timeout_rate`` — share of requests that wait ``timeout_seconds`` before
      answering (longer than a client's timeout, so it gives up);
    * ``rate_limit_rate`` — share answered HTTP 429 with ``Retry-After: 1``;
    * ``slow_ms`` — latency added to every API request;
    * ``fail_pages`` — ``{resource: [page, ...]}`` pages that answer 500 every
      time while set (for "failed pages are fetched next run" tests);
    * ``seed`` — seed of the random draws.
    """

    fail_rate: float = 0.0
    timeout_rate: float = 0.0
    rate_limit_rate: float = 0.0
    slow_ms: int = 0
    timeout_seconds: float = 5.0
    fail_pages: Mapping[str, list[int]] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("fail_rate", "timeout_rate", "rate_limit_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise SimulatorError(
                    f"Faults.{name} must be a share between 0 and 1, got {value!r}"
                )
        if not isinstance(self.slow_ms, int) or self.slow_ms < 0:
            raise SimulatorError(f"Faults.slow_ms must be 0 or more, got {self.slow_ms!r}")
        if not isinstance(self.timeout_seconds, int | float) or self.timeout_seconds < 0:
            raise SimulatorError(
                f"Faults.timeout_seconds must be 0 or more, got {self.timeout_seconds!r}"
            )
        pages = self.fail_pages
        if not isinstance(pages, Mapping) or not all(
            isinstance(r, str) and isinstance(p, list) and all(isinstance(n, int) for n in p)
            for r, p in pages.items()
        ):
            raise SimulatorError(
                f'Faults.fail_pages must map resources to page numbers, e.g. {{"fees": [2, 3]}}; '
                f"got {pages!r}"
            )

    @classmethod
    def from_json(cls, data: Any) -> Faults:
        """Faults from a JSON object; fields left out keep their defaults."""
        if not isinstance(data, dict):
            raise SimulatorError(f"faults must be a JSON object, got {data!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SimulatorError(
                f"unknown fault setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["fail_pages"] = {k: list(v) for k, v in self.fail_pages.items()}
        return out
