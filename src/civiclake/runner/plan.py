"""What a run runs: every stage's steps, found through the step providers.

The stages register a :class:`~civiclake.steps.StepProvider` each in the
``civiclake.steps`` entry points (sources, jobs, publish); :func:`discover`
calls them in the order their ``after`` declares and returns their steps.
The runner, the CLI and the scheduler all find steps here, so nothing else
needs to know which stages exist. (The mechanism lives in :mod:`civiclake.steps`, below
every stage, so that alerts — below the runner — find freshness targets the same way.)
"""

from __future__ import annotations

from civiclake.steps import PROVIDERS, discover, providers

__all__ = ["PROVIDERS", "discover", "providers"]
