"""Signals: listeners subscribe to what a venue announces; a second never replaces the first."""

import simpy

from agents.wakeup import Wakeup
from markets.events import Signal


def test_every_listener_is_called_in_subscription_order():
    calls = []
    signal = Signal()
    signal.subscribe(lambda *a: calls.append(("first", a)))
    signal.subscribe(lambda *a: calls.append(("second", a)))
    signal(3, -1, 2, 17)
    assert calls == [("first", (3, -1, 2, 17)), ("second", (3, -1, 2, 17))]
    assert len(signal) == 2


def test_a_wakeup_triggers_its_event_once_until_reset():
    env = simpy.Environment()
    wake = Wakeup(env)
    woke = []

    def sleeper():
        for _ in range(2):
            yield wake.event
            woke.append(env.now)
            wake.reset()

    env.process(sleeper())
    signal = Signal()
    signal.subscribe(wake)

    def caller():
        yield env.timeout(5)
        signal()
        signal()  # a second call before the sleeper ran: still one wake-up
        yield env.timeout(5)
        signal()

    env.process(caller())
    env.run()
    assert woke == [5, 10]
