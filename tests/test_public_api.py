"""The public API is ``civiclake.__all__``: checked both ways, against the code and the docs.

As httpx does: every exported name resolves (to the object at its home), nothing public sits
in the namespace without being exported, and docs/api.md documents exactly these names.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from importlib import import_module
from pathlib import Path

import civiclake

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_every_exported_name_resolves_to_the_object_at_its_home() -> None:
    for name in civiclake.__all__:
        value = getattr(civiclake, name)
        home = civiclake._LAZY.get(name)
        if home is not None:
            assert value is getattr(import_module(home), name), name


def test_nothing_public_is_left_out_of_all() -> None:
    for name in civiclake.__all__:
        getattr(civiclake, name)
    public = {
        name
        for name, value in vars(civiclake).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert public <= set(civiclake.__all__), public - set(civiclake.__all__)
    assert set(dir(civiclake)) == set(civiclake.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        civiclake.Projcet  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "Projcet" in str(exc)
    else:
        raise AssertionError("civiclake.Projcet resolved")


def test_docs_list_exactly_the_public_names() -> None:
    documented = set(re.findall(r"^\| `([A-Za-z_]+)` \|", DOCS.read_text(), re.M))
    documented |= {"__version__"} if "`__version__`" in DOCS.read_text() else set()
    assert documented == set(civiclake.__all__)


def test_the_users_names_behave() -> None:
    assert issubclass(civiclake.TransientError, civiclake.CivicLakeError)
    assert issubclass(civiclake.CommitConflictError, civiclake.StorageError)
    assert issubclass(civiclake.CommitConflictError, civiclake.Transient)
    assert issubclass(civiclake.JobDefinitionError, civiclake.PlanError)
    assert callable(civiclake.job)


def test_importing_civiclake_loads_nothing_heavy() -> None:
    code = (
        "import sys, civiclake\n"
        "heavy = ('duckdb', 'pyarrow', 'deltalake', 'sqlalchemy', 'polars', 'pydantic')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
