"""Create projects and edit their department list.

``civiclake init`` writes a commented ``civiclake.yaml`` and the folders a
project needs; ``civiclake department add`` inserts one line into the YAML's
department list, keeping the user's comments and layout.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from civiclake.config.models import REQUIRED_DEPARTMENTS
from civiclake.exceptions import ConfigError
from civiclake.naming import department_id
from civiclake.project import CONFIG_FILE

_CONFIG_TEMPLATE = """\
# civiclake project configuration. Reference: docs/configuration.md
name: {name}

# Departments own data. `unrestricted` is readable by everyone; `sandbox` is for
# experiments. Add one with `civiclake department add <name>` or a line here.
departments:
{departments}

storage:
  # A local folder (relative to this file) or an object-store URL (s3://bucket/prefix).
  root: data

engine:
  name: duckdb        # duckdb (one machine) | spark (scale-out)
  threads: 2
  memory_limit: 4GB

metadata:
  # Any SQLAlchemy URL. Secrets are ${{ENV_VAR}} references, e.g.
  # postgresql+psycopg://civiclake:${{CIVICLAKE_DB_PASSWORD}}@db/civiclake
  url: sqlite:///.civiclake/metadata.db

run:
  threads: 2          # sources and jobs run at once
  retries: 2          # retries of transient failures, with backoff
  retry_backoff_seconds: 1.0
  lock_wait_seconds: 60   # wait this long for datasets another run is writing

access:
  # How PII columns look to users not granted PII: hash (a keyed HMAC: joins and counts
  # still work, nobody without the key can reverse it) | redact (***).
  masking: hash
  # The key lives in .env (written by `civiclake init`, never committed); keep a copy
  # in your secrets manager: changing it changes every masked value.
  masking_key: ${{CIVICLAKE_MASKING_KEY}}
"""

_GITIGNORE = """\
# civiclake: data and local state stay out of git
/data/
/.civiclake/
.env
"""

_README = """\
# {name}

A civiclake project.

- `sources/<department>/*.yaml` declare what is ingested.
- `jobs/<department>/*.sql|*.py` transform it; create one with
  `civiclake new job <department>/<name> --template sql`.
- `civiclake run` runs everything; `civiclake runs` shows the history;
  `civiclake query "select ..."` queries the tables.
"""


def init_project(
    directory: Path, *, name: str | None = None, departments: list[str] | None = None
) -> Path:
    """Create a project in ``directory`` (which may exist but must not hold a project)."""
    directory = directory.resolve()
    config = directory / CONFIG_FILE
    if config.exists():
        raise ConfigError(f"{config} already exists; this folder already holds a project")
    ids: list[str] = []
    for dept in [*REQUIRED_DEPARTMENTS, *(departments or [])]:
        ident = department_id(dept)
        if ident not in ids:
            ids.append(ident)
    directory.mkdir(parents=True, exist_ok=True)
    project_name = name or department_id(directory.name)
    config.write_text(
        _CONFIG_TEMPLATE.format(name=project_name, departments="\n".join(f"  - {d}" for d in ids)),
        encoding="utf-8",
    )
    for folder in ("sources", "models", "playbook"):
        (directory / folder).mkdir(exist_ok=True)
    for dept in ids:
        (directory / "jobs" / dept).mkdir(parents=True, exist_ok=True)
        (directory / "sources" / dept).mkdir(parents=True, exist_ok=True)
    (directory / ".gitignore").write_text(_GITIGNORE, encoding="utf-8")
    _write_env(directory / ".env")
    readme = directory / "README.md"
    if not readme.exists():
        readme.write_text(_README.format(name=project_name), encoding="utf-8")
    (directory / "playbook" / "index.md").write_text(
        f"# {project_name} playbook\n\nGuides for the people who use this project's data.\n",
        encoding="utf-8",
    )
    return directory


def _write_env(path: Path) -> None:
    """A ``.env`` with a new masking key, readable by its owner only (kept if it exists)."""
    import os

    from civiclake.config.secrets import MASKING_KEY_ENV as KEY_ENV
    from civiclake.config.secrets import generate_masking_key as generate_key

    if path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as env:
        env.write(
            "# Secrets for this project, read by civiclake; never commit this file.\n"
            f"{KEY_ENV}={generate_key()}\n"
        )


def add_department(project_dir: Path, name: str) -> str:
    """Insert ``- <id>`` into the departments list of ``civiclake.yaml``; returns the id."""
    ident = department_id(name)
    path = project_dir / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    seq = next((v for k, v in root.value if k.value == "departments"), None)
    lines = text.splitlines(keepends=True)
    if seq is None:
        lines.append(f"\ndepartments:\n  - {ident}\n")
    elif not isinstance(seq, yaml.SequenceNode):
        raise ConfigError(f"{path}, key `departments`: expected a list")
    else:
        existing = []
        for item in seq.value:
            value = item.value if isinstance(item, yaml.ScalarNode) else None
            if isinstance(item, yaml.MappingNode):
                value = next((v.value for k, v in item.value if k.value == "id"), None)
            if value is not None:
                existing.append(department_id(str(value)))
        if ident in existing:
            raise ConfigError(f"department {ident!r} is already in {path}")
        if seq.flow_style or not seq.value:
            raise ConfigError(
                f"{path}, key `departments`: write the list one item per line "
                f"(block style) so it can be edited, or add `{ident}` by hand"
            )
        last = seq.value[-1]
        end_line = last.end_mark.line if last.end_mark.column else last.end_mark.line - 1
        indent = " " * (seq.value[0].start_mark.column - 2)
        lines.insert(end_line + 1, f"{indent}- {ident}\n")
        if end_line + 1 > 0 and not lines[end_line].endswith("\n"):
            lines[end_line] += "\n"
    path.write_text("".join(lines), encoding="utf-8")
    return ident
