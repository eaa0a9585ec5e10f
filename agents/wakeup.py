"""A wake-up call for a sleeping SimPy process, to subscribe to a venue's signal.

A process waits on ``wakeup.event``; the venue's signal calls the wakeup, which triggers that
event once; the process then ``reset``s it before waiting again.
"""

from __future__ import annotations

import simpy


class Wakeup:
    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.event = env.event()

    def __call__(self, *_: object) -> None:
        if not self.event.triggered:
            self.event.succeed()

    def reset(self) -> None:
        self.event = self.env.event()
