"""ADL need, production and overshoot on the literature's terms (arXiv 2602.15182 per wave,
2512.01112 queue-total), on a hand-made event log.

Venue v, two markets. Wave 1 (1-3 s): A and B buy back shorts of X at the bankrupt long's
bankruptcy price 105 (marks 100 and 98), C sells a long of Y at 48 (mark 50). Wave 2 (10-11 s,
more than 5 s later): D buys back a short of X at 95 (mark 90), E sells a long of X at 92
(mark 91).

- need: wave 1 |100-105| 2 + |98-105| 1 + |50-48| 4 = 25; wave 2 |90-95| 3 + |91-92| 1 = 16.
- production at each wave's end (X's last mark 98 in wave 1 and 91 in wave 2, Y's 50): A lost
  2 x (105-98) = 14, C 4 x (50-48) = 8 (same account 10: 22), B 7: 29; D 3 x (95-91) = 12, E
  1 x (91-92) = -1, clipped to 0: 12.
- overshoot [29-25]+ + [12-16]+ = 4, undershoot 4, net 0.
- queue-total, per market cluster: X {A,B} profit 50 - need 17 = 33, X {D,E} 20 - 16 = 4,
  Y {C} 12 - 8 = 4: 41.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator import default_scenario, run
from simulator.run.adl_waves import adl_wave_stats, adl_waves, clusters, queue_overshoot

FILLS = [  # time, market, account, side, qty, price, mark, bankruptcy, profit closed
    (1000, "X", 10, 1, 2.0, 105.0, 100.0, 105.0, 30.0),
    (2000, "X", 11, 1, 1.0, 105.0, 98.0, 105.0, 20.0),
    (3000, "Y", 10, -1, 4.0, 48.0, 50.0, 48.0, 12.0),
    (10000, "X", 12, 1, 3.0, 95.0, 90.0, 95.0, 15.0),
    (11000, "X", 13, -1, 1.0, 92.0, 91.0, 92.0, 5.0),
]


def events() -> pd.DataFrame:
    rows = [{"time_ms": t, "seq": k, "kind": "adl", "venue": "v", "market": m, "account": a,
             "side": s, "qty": q, "price": p, "balance": b, "mark_price": mk,
             "bankruptcy_price": bp}
            for k, (t, m, a, s, q, p, mk, bp, b) in enumerate(FILLS)]
    rows.append({"time_ms": 500, "seq": 99, "kind": "liquidation", "venue": "v", "market": "X",
                 "account": 1, "side": -1, "qty": 3.0, "price": 100.0, "balance": np.nan,
                 "mark_price": np.nan, "bankruptcy_price": 105.0})
    return pd.DataFrame(rows)


def test_waves_need_and_production_by_hand():
    waves = adl_waves(events())
    assert waves["wave"].tolist() == [1, 2] and waves["fills"].tolist() == [3, 2]
    assert waves["need"].tolist() == pytest.approx([25.0, 16.0])
    assert waves["production"].tolist() == pytest.approx([29.0, 12.0])
    assert waves["overshoot"].tolist() == pytest.approx([4.0, 0.0])
    assert waves["undershoot"].tolist() == pytest.approx([0.0, 4.0])


def test_both_overshoot_definitions_by_hand():
    s = adl_wave_stats(events())
    assert (s["adl_waves"], s["adl_need"], s["adl_production"]) == (2, 41.0, 41.0)
    assert (s["adl_overshoot"], s["adl_undershoot"], s["adl_overshoot_net"]) == (4.0, 4.0, 0.0)
    assert queue_overshoot(events()) == pytest.approx(41.0)


def test_a_gap_of_exactly_five_seconds_stays_in_the_wave():
    assert clusters(np.array([0, 5000, 10001, 10002])).tolist() == [1, 1, 2, 2]
    assert adl_wave_stats(events().iloc[:0])["adl_waves"] == 0


def test_the_default_run_states_need_and_overshoot():
    s = run(default_scenario(), 7).summary
    # Every deleveraged account is bankrupt at the mark (adl.on: negative_equity): the
    # literature's need is the shortfall at the mark the summary already had.
    assert s["adl_need"] == pytest.approx(s["adl_needed"], rel=1e-9) and s["adl_need"] > 0
    assert s["adl_overshoot"] - s["adl_undershoot"] == pytest.approx(s["adl_overshoot_net"])
    # One wave, one market: the queue-total overshoot is the profit closed beyond the need.
    assert s["adl_waves"] == 1
    assert s["adl_queue_overshoot"] == pytest.approx(s["adl_overuse"], rel=1e-9)
    assert s["cex.adl_overshoot"] == s["adl_overshoot"]
