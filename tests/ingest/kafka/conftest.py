from __future__ import annotations

from collections.abc import Iterator

import pytest

from civiclake.simulators.registry import SchemaRegistry


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    with SchemaRegistry().start() as reg:
        yield reg.url
