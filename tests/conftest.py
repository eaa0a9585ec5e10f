"""Shared test helpers."""

import markets.engine


def fail_after(monkeypatch, n: int, exc: Exception) -> dict:
    """Make the liquidation engine raise ``exc`` on its (n + 1)-th liquidation; returns the
    call counter."""
    real = markets.engine.liquidate
    calls = {"n": 0}

    def failing(venue, breach, now_ms):
        calls["n"] += 1
        if calls["n"] > n:
            raise exc
        return real(venue, breach, now_ms)

    monkeypatch.setattr(markets.engine, "liquidate", failing)
    return calls
