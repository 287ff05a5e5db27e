"""docs/access.md backs each claim of its threat model with a named test; those tests exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_the_threat_model_cites_exists() -> None:
    text = (ROOT / "docs" / "access.md").read_text(encoding="utf-8")
    model = text[text.index("## Threat model") :]
    cited: list[tuple[str, str]] = []
    for cell in re.findall(r"`(tests/[\w/]+\.py)(::[^`]+)?`((?:, `::[^`]+`)*)", model):
        path, first, more = cell
        names = [first, *re.findall(r"`(::[^`]+)`", more)]
        cited.extend((path, n.removeprefix("::")) for n in names if n)
    assert len(cited) >= 25
    for path, name in cited:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {re.escape(name)}\(", source, re.M), f"{path}::{name}"
    # corpus entries cited by id are in the hostile corpus
    corpus = (ROOT / "tests/serve/test_hostile_sql.py").read_text(encoding="utf-8")
    for ident in re.findall(r"test_hostile_sql\.py` \(([^)]*)\)", model):
        for entry in re.findall(r"`([\w*]+)`", ident):
            pattern = entry.replace("*", r"\w*")
            assert re.search(rf'"{pattern}"', corpus), entry
