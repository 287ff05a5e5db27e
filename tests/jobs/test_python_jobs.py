"""Python jobs: one @job function per file, any Arrow-speaking result."""

from __future__ import annotations

import pytest

from civiclake.jobs import JobDefinitionError, JobError, PythonJob
from civiclake.storage import DatasetRef

PERMITS_BY_WARD = '''\
from civiclake import job


@job(
    inputs=["parking_refined.permits", "unrestricted_raw.wards"],
    zone="trusted",
    key=["ward_code"],
)
def permits_by_ward(permits, wards):
    """Permits per ward, for the parking dashboard."""
    return {body}
'''


@pytest.fixture
def permits(lake):
    lake.dataset(
        "parking_refined.permits", {"permit_id": [1, 2, 3], "ward_code": ["W1", "W1", "W2"]}
    )
    lake.dataset(
        "unrestricted_raw.wards", {"ward_code": ["W1", "W2"], "ward_name": ["Hoxton", "Dalston"]}
    )
    return lake


@pytest.mark.parametrize(
    "body",
    [
        # a DuckDB relation
        'permits.join(wards, "ward_code").aggregate("ward_code, count(*) AS permits")',
        # a pyarrow Table
        'permits.join(wards, "ward_code").aggregate("ward_code, count(*) AS permits").arrow()',
        # a polars DataFrame
        'permits.join(wards, "ward_code").aggregate("ward_code, count(*) AS permits").pl()',
    ],
    ids=["duckdb", "arrow", "polars"],
)
def test_python_job_result_is_written(permits, body):
    lake = permits
    lake.job("parking/permits_by_ward.py", PERMITS_BY_WARD.format(body=body))
    job = lake.jobs()["parking/permits_by_ward"]
    assert isinstance(job, PythonJob)
    assert job.outputs == [DatasetRef("parking", "trusted", "permits_by_ward")]
    assert job.options.description == "Permits per ward, for the parking dashboard."

    result = lake.run("parking/permits_by_ward", "import-3")
    assert (result.rows_in, result.rows_out) == (5, 2)
    rows = lake.query(
        "SELECT ward_code, permits, _import_id FROM parking_trusted.permits_by_ward ORDER BY 1",
        "parking_trusted.permits_by_ward",
    )
    assert rows == [("W1", 2, "import-3"), ("W2", 1, "import-3")]


def test_python_job_without_inputs_and_with_its_own_output_name(lake):
    lake.job(
        "housing/constants.py",
        "import pyarrow as pa\nfrom civiclake import job\n\n"
        "@job(output='housing_refined.bands', materialize='incremental', key='band')\n"
        "def make():\n    return pa.table({'band': ['A', 'B']})\n",
    )
    lake.run("housing/constants")
    assert lake.query(
        "SELECT band FROM housing_refined.bands ORDER BY 1", "housing_refined.bands"
    ) == [("A",), ("B",)]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = 1\n", "no @job function found"),
        (
            "from civiclake import job\n\n@job()\ndef a():\n    pass\n\n"
            "@job()\ndef b():\n    pass\n",
            r"2 @job functions \(a, b\)",
        ),
        (
            "from civiclake import job\n\n@job(inputs=['housing_raw.x'])\ndef a():\n    pass\n",
            r"line 3: a\(\) must take 1 argument",
        ),
        (
            "from civiclake import job\n\n@job(zone='gold')\ndef a():\n    pass\n",
            "zone 'gold' is not allowed",
        ),
        (
            "from civiclake import job\n\n@job(inputs=['housng_raw.x'])\ndef a(x):\n    pass\n",
            r"unknown table housng_raw.x .*\(did you mean housing_raw.x\?\)",
        ),
        (
            "from civiclake import job\n\n@job(output='parking_refined.x')\ndef a():\n    pass\n",
            "a job in jobs/housing/ writes only housing datasets",
        ),
        (
            "import os\n\nos.environ['NOPE_NOT_SET']\n",
            r"line 3: importing the job failed: KeyError",
        ),
        ("def broken(:\n", "line 1: Python syntax error"),
        ("from civiclake import job\n\n@job\ndef a():\n    pass\n", "@job needs its arguments"),
    ],
)
def test_bad_python_job_is_refused_before_running(lake, source, expected):
    lake.job("housing/thing.py", source)
    with pytest.raises(JobDefinitionError, match=expected) as info:
        lake.jobs()
    assert "jobs/housing/thing.py" in str(info.value)


def test_exception_in_the_function_names_the_job(lake):
    lake.job(
        "housing/boom.py",
        "from civiclake import job\n\n@job()\ndef boom():\n    raise ValueError('bad month')\n",
    )
    with pytest.raises(JobError) as info:
        lake.run("housing/boom")
    # the job's file and the line that raised, with its code
    assert str(info.value).startswith(
        "jobs/housing/boom.py, line 5 (`raise ValueError('bad month')`): boom() raised "
        "ValueError: bad month"
    )


def test_a_failing_job_keeps_its_traceback_in_the_run_log(project):
    from civiclake import Runner

    (project.dir / "jobs" / "housing" / "boom.py").write_text(
        "from civiclake import job\n\n\ndef helper(x):\n    return 1 / x\n\n\n"
        "@job()\ndef boom():\n    return helper(0)\n"
    )
    summary = Runner(project).run(["housing/boom"])
    (step,) = summary.failed
    assert "boom.py, line 10 (`return helper(0)`)" not in (step.error or "")
    assert "boom.py, line 5 (`return 1 / x`)" in (step.error or "")
    log = summary.log_path.read_text()
    assert "Traceback" in log and "ZeroDivisionError" in log and 'boom.py", line 10' in log


def test_returning_nothing_is_an_error(lake):
    lake.job("housing/empty.py", "from civiclake import job\n\n@job()\ndef empty():\n    pass\n")
    with pytest.raises(JobError, match="returned None"):
        lake.run("housing/empty")


def test_import_civiclake_for_job_stays_light():
    """Job files and `civiclake --help` import civiclake; that must not load engines or parsers."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom civiclake import job\n"
        "print(','.join(m for m in ('duckdb', 'pyarrow', 'sqlglot', 'pydantic', 'deltalake') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
