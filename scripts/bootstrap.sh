#!/usr/bin/env bash
# Create the virtual environment and install civiclake (editable) with its dev extras,
# and beside it <venv>-peers with the `peers` extra (dbt-duckdb, dbt-tests-adapter): the
# peer suite (tests/peers/) runs dbt from there as a subprocess, because dbt-core pins its
# own versions of packages the dev environment shares (pathspec, python-dateutil…).
# Uses uv when it can be installed (much faster), plain pip otherwise.
set -euo pipefail
venv="${1:-.venv}"
peers="${venv%/}-peers"
python="${PYTHON:-python3}"
install() {  # install <venv> <requirement>
  if [ ! -x "$1/bin/python" ]; then
    "$python" -m venv "$1"
  fi
  if "$1/bin/python" -m pip install -q uv >/dev/null 2>&1; then
    "$1/bin/python" -m uv pip install --python "$1/bin/python" -q -e "$2"
  else
    "$1/bin/python" -m pip install -q -e "$2"
  fi
}
install "$venv" '.[dev]'
install "$peers" '.[peers]'
