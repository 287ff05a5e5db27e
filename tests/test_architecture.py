"""The house's shape: layers import only downward, and no two packages import each other.

The layers are written in ``pyproject.toml`` (``[tool.importlinter]``); ``lint-imports``
checks them from the command line, these tests in the suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_layers_import_only_downward() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_import_cycle_between_packages() -> None:
    """Counting imports made only for type checking too: a cycle there is still a tangle."""
    import grimp

    graph = grimp.build_graph("civiclake")
    top = sorted(m for m in graph.modules if m.count(".") == 1 and not m.endswith("__main__"))
    package = {m: ".".join(m.split(".")[:2]) for m in graph.modules}
    edges: dict[str, set[str]] = {p: set() for p in top}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = package[module], package[imported]
            if a != b and a in edges and b in edges:
                edges[a].add(b)
    cycles = [
        (a, b)
        for a in top
        for b in edges[a]
        if a < b and graph.chain_exists(b, a, as_packages=True)
    ]
    assert cycles == [], f"packages importing each other: {cycles}"
