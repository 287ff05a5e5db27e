"""Job errors.

::

    JobError               a job failed while running (bad result, key clash…)
    └── JobDefinitionError found before anything runs: a bad header, SQL that
                           does not parse, unknown tables, cycles, a job
                           writing into another department

Both are terminal: retrying a job with the same definition gives the same error.
"""

from civiclake.exceptions import CivicLakeError, PlanError


class JobError(CivicLakeError):
    """A job is invalid or failed; the message names the job file and the fix."""


class JobDefinitionError(JobError, PlanError):
    """A job (or the graph of jobs) is wrong before anything runs."""
