"""Funding: paid at the venue's interval from its first funding time, and zero-sum.

Every settlement moves money between longs and shorts only (the maker holds the other side of
every position), so the accounts' cash summed over the venue is the same before and after,
while real amounts change hands.
"""

from __future__ import annotations

import numpy as np
import pytest

import agents.funding_clock
from simulator import default_scenario, run


def test_funding_starts_at_its_first_time_then_every_interval():
    sc = default_scenario().with_overrides([
        "duration=3m", "shocks.0.at=1m", "populations.retail.count=300",
        "venues.cex.funding.interval=1m", "venues.cex.funding.first=20s"])
    ev = run(sc, 1).events
    times = sorted(set(ev.loc[ev["kind"] == "funding", "time_ms"].tolist()))
    assert times == [20_000, 80_000, 140_000]


def test_funding_sums_to_zero_over_accounts_at_every_funding_time(monkeypatch):
    settled = []
    apply = agents.funding_clock.apply_funding

    def watched(venue, now_ms, interest, cap):
        acc = venue.accounts
        before = acc.wallet + acc.iso_margin.sum(axis=1)
        apply(venue, now_ms, interest, cap)
        after = acc.wallet + acc.iso_margin.sum(axis=1)
        settled.append((now_ms, float((after - before).sum()), float(np.abs(after - before).sum()),
                        float(np.abs(before).sum())))

    monkeypatch.setattr(agents.funding_clock, "apply_funding", watched)
    sc = default_scenario().with_overrides([
        "duration=6m", "populations.retail.count=800", "venues.cex.funding.interval=30s"])
    result = run(sc, 7, check=True)
    assert result.ok
    assert [t for t, *_ in settled] == list(range(30_000, 360_001, 30_000))
    for _, net, moved, scale in settled:
        assert moved > 0  # money changed hands ...
        assert abs(net) <= 1e-9 * scale  # ... between the accounts only
    # The events report what longs paid, market by market.
    ev = result.events
    paid = ev.loc[ev["kind"] == "funding"].groupby("time_ms")["amount"].sum()
    assert paid.abs().sum() == pytest.approx(sum(m for _, _, m, _ in settled) / 2, rel=1e-9)
