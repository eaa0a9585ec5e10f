"""Errors of a run, shared by the runner, the invariant checks and the CLI."""

from __future__ import annotations


class SimulationError(RuntimeError):
    """The model cannot continue (a non-finite number, a broken invariant): the run stops and
    returns what it recorded, with status "failed"."""


class RunFailed(RuntimeError):
    """An unexpected error stopped a run; ``result`` holds what was recorded until then."""

    def __init__(self, message: str, result) -> None:
        super().__init__(message)
        self.result = result
