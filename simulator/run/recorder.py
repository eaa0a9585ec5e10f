"""Records a run: the event log (the audit trail), cascade edges and sampled time series.

Implements the ``markets.events.EventSink`` protocol. Events are appended as tuples (one
append per event) and turned into typed columns once, at the end. Time-series rows are sampled
from venues' public state at a fixed interval. Knows venues' public interface; does not drive
time.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from markets.venue import Venue

NAN = math.nan

EVENT_COLUMNS = (
    "time_ms", "seq", "kind", "venue", "market", "account", "side", "qty", "price", "notional",
    "generation", "cause", "amount", "balance", "detail",
)
EVENT_DTYPES = {
    "time_ms": "int64", "seq": "int64", "account": "int64", "side": "int8", "qty": "float64",
    "price": "float64", "notional": "float64", "generation": "int16", "cause": "int64",
    "amount": "float64", "balance": "float64",
}
RATIO_SAMPLE = 2000  # margin-ratio quantiles are taken over at most this many open accounts
SAMPLE_COLUMNS = (
    "time_ms", "venue", "market", "asset", "fundamental", "index", "mark", "mid", "best_bid",
    "best_ask", "depth_bid_1pct", "depth_ask_1pct", "depth_factor", "open_interest",
    "open_interest_usd", "insurance_fund", "liquidation_queue", "margin_ratio_p50",
    "margin_ratio_p90", "margin_ratio_p99",
)


class Recorder:
    def __init__(self) -> None:
        self._rows: list[tuple] = []
        self._samples: list[tuple] = []
        self.edges: list[tuple[int, int]] = []
        self.seq = -1

    def __len__(self) -> int:
        return len(self._rows)

    # --- EventSink --------------------------------------------------------------------------
    def emit(
        self, kind: str, time_ms: int, venue: str, market: str = "", account: int = -1,
        side: int = 0, qty: float = NAN, price: float = NAN, notional: float = NAN,
        generation: int = 0, cause: int = -1, amount: float = NAN, balance: float = NAN,
        detail: str = "",
    ) -> int:
        self.seq += 1
        self._rows.append((time_ms, self.seq, kind, venue, market, account, side, qty, price,
                           notional, generation, cause, amount, balance, detail))
        return self.seq

    def edge(self, parent: int, child: int) -> None:
        self.edges.append((parent, child))

    # --- sampling ---------------------------------------------------------------------------
    def sample(self, now_ms: int, venue: Venue) -> None:
        """One time-series row per market of ``venue`` as it stands at ``now_ms``.

        Read-only: prices and books are read as of ``now_ms`` without advancing them (an
        observer that refilled the book or re-centred the mid in its own steps would change
        the run's floating-point path, so the sampling interval would change the results)."""
        ratios = venue.margin_ratios(at_most=RATIO_SAMPLE,
                                     prices=venue.observed_trigger_prices(now_ms))
        ratios = ratios[np.isfinite(ratios)]
        q = np.quantile(ratios, [0.5, 0.9, 0.99]) if ratios.size else np.full(3, NAN)
        oi = venue.open_interest()
        for m, mk in enumerate(venue.markets):
            mid, index, mark = mk.prices.observed(now_ms)
            bid, ask, depth_bid, depth_ask = mk.book.observe(now_ms, mid, 0.01)
            self._samples.append((
                now_ms, venue.name, mk.name, mk.asset, mk.prices.fundamental, index, mark, mid,
                bid, ask, depth_bid, depth_ask, mk.book.depth_factor, oi[m], oi[m] * mark,
                venue.fund_for(m).balance, len(venue.queue), q[0], q[1], q[2],
            ))

    # --- frames -----------------------------------------------------------------------------
    def events(self) -> pd.DataFrame:
        return events_frame(self._rows)

    def timeseries(self) -> pd.DataFrame:
        return pd.DataFrame(self._samples, columns=list(SAMPLE_COLUMNS))


def events_frame(rows: list[tuple]) -> pd.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in EVENT_COLUMNS]
    data = {}
    for name, values in zip(EVENT_COLUMNS, columns, strict=True):
        dtype = EVENT_DTYPES.get(name)
        data[name] = np.array(values, dtype=dtype) if dtype else np.array(values, dtype=object)
    frame = pd.DataFrame(data)
    for name in ("kind", "venue", "market", "detail"):
        frame[name] = frame[name].astype("string")
    return frame
