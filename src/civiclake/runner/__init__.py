"""Running sources and jobs in dependency order, with retries and run history."""

from civiclake.steps import Counts, RunContext, Step, StepOutcome

__all__ = ["Counts", "RunContext", "Step", "StepOutcome"]
