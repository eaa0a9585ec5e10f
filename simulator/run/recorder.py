"""Records a run: the event log (the audit trail), cascade edges and sampled time series.

Implements the ``markets.events.EventSink`` protocol. Events are appended as tuples (one
append per event) and turned into the columns of ``markets.events.COLUMNS`` once, at the end
(with their declared dtypes; a typed column an event does not use is NaN / <NA>). Time-series
rows are sampled from venues' public state at a fixed interval. Knows venues' public interface;
does not drive time.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from markets.events import COLUMNS, EventKind
from markets.margin.detection import margin_ratio
from markets.venue import Venue

NAN = math.nan

EVENT_COLUMNS = tuple(COLUMNS)
NUMPY_DTYPES = {"int64", "int8", "int16", "float64"}  # the rest are pandas' nullable dtypes
RATIO_SAMPLE = 2000  # margin-ratio quantiles are taken over at most this many open accounts
SAMPLE_COLUMNS = (
    "time_ms", "venue", "market", "asset", "fundamental", "index", "mark", "mid", "best_bid",
    "best_ask", "depth_bid_1pct", "depth_ask_1pct", "depth_factor", "open_interest",
    "open_interest_usd", "insurance_fund", "liquidation_queue", "margin_ratio_p50",
    "margin_ratio_p90", "margin_ratio_p99",
)


def observed_trigger_prices(venue: Venue, now_ms: int) -> np.ndarray:
    """The venue's trigger prices as they stand at ``now_ms``, read without advancing any
    market (see ``MarketPrices.observed``)."""
    k = 0 if venue.rules.trigger == "last" else 2
    return np.array([mk.prices.observed(now_ms)[k] for mk in venue.markets])


def sampled_margin_ratios(venue: Venue, prices: np.ndarray) -> np.ndarray:
    """Margin ratios at ``prices`` of open liquidatable accounts, at most ``RATIO_SAMPLE`` of
    them by an even stride (a deterministic sample, so sampling stays cheap at 100k accounts)."""
    acc = venue.accounts
    rows = np.arange(acc.n)
    if acc.n > RATIO_SAMPLE:
        rows = rows[:: -(-acc.n // RATIO_SAMPLE)]
    rows = rows[acc.liquidatable[rows] & (acc.pos[rows] != 0).any(axis=1)]
    return margin_ratio(*acc.margin_state(rows, prices))


class Recorder:
    def __init__(self) -> None:
        self._rows: list[tuple] = []
        self._samples: list[tuple] = []
        self.edges: list[tuple[int, int, str, float]] = []
        self.seq = -1

    def __len__(self) -> int:
        return len(self._rows)

    # --- EventSink --------------------------------------------------------------------------
    def emit(
        self, kind: EventKind, time_ms: int, venue: str, market: str = "", account: int = -1,
        side: int = 0, qty: float = NAN, price: float = NAN, notional: float = NAN,
        generation: int = 0, cause: int = -1, amount: float = NAN, balance: float = NAN,
        mechanism: str | None = None, reason: str | None = None, asset: str | None = None,
        detected_ms: int | None = None, bankruptcy_price: float = NAN,
        mark_price: float = NAN, partial_fraction: float = NAN, chunk_fraction: float = NAN,
        keeper: int | None = None, book_exhausted: bool | None = None, vol: float = NAN,
        until_ms: int | None = None,
    ) -> int:
        # In the order of ``EVENT_COLUMNS``.
        self.seq += 1
        self._rows.append((
            time_ms, self.seq, kind, venue, market, account, side, qty, price, notional,
            generation, cause, amount, balance, mechanism, reason, asset, detected_ms,
            bankruptcy_price, mark_price, partial_fraction, chunk_fraction, keeper,
            book_exhausted, vol, until_ms,
        ))
        return self.seq

    def edge(
        self, parent: int, child: int, kind: str = "waterfall", share: float = NAN,
    ) -> None:
        self.edges.append((parent, child, kind, share))

    # --- sampling ---------------------------------------------------------------------------
    def sample(self, now_ms: int, venue: Venue) -> None:
        """One time-series row per market of ``venue`` as it stands at ``now_ms``.

        Read-only: prices and books are read as of ``now_ms`` without advancing them (an
        observer that refilled the book or re-centred the mid in its own steps would change
        the run's floating-point path, so the sampling interval would change the results)."""
        ratios = sampled_margin_ratios(venue, observed_trigger_prices(venue, now_ms))
        ratios = ratios[np.isfinite(ratios)]
        q = np.quantile(ratios, [0.5, 0.9, 0.99]) if ratios.size else np.full(3, NAN)
        oi = venue.open_interest()
        for m, mk in enumerate(venue.markets):
            mid, index, mark = mk.prices.observed(now_ms)
            bid, ask, depth_bid, depth_ask = mk.book.observe(now_ms, mid, 0.01)
            fundamental, fund = mk.prices.fundamental, venue.fund_for(m).balance
            oi_base, oi_usd = oi[m], oi[m] * mark
            if venue.inverse:
                # Its book trades x = 1/P in contracts of 1 USD, money in the coin: report USD
                # per coin (x's asks are P's bids), base quantity (coin) and USD.
                fundamental, index, mark, mid = 1 / fundamental, 1 / index, 1 / mark, 1 / mid
                bid, ask, depth_bid, depth_ask = 1 / ask, 1 / bid, depth_ask * mid, depth_bid * mid
                oi_base, oi_usd, fund = oi[m] / mark, oi[m], fund * mark
            self._samples.append((
                now_ms, venue.name, mk.name, mk.asset, fundamental, index, mark, mid,
                bid, ask, depth_bid, depth_ask, mk.book.depth_factor, oi_base, oi_usd,
                fund, len(venue.queue), q[0], q[1], q[2],
            ))

    # --- frames -----------------------------------------------------------------------------
    def events(self) -> pd.DataFrame:
        return events_frame(self._rows)

    def timeseries(self) -> pd.DataFrame:
        return pd.DataFrame(self._samples, columns=list(SAMPLE_COLUMNS))


def events_frame(rows: list[tuple]) -> pd.DataFrame:
    """The event log from ``Recorder.emit``'s rows, one column per ``COLUMNS`` entry."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in EVENT_COLUMNS]
    data = {}
    for (name, dtype), values in zip(COLUMNS.items(), columns, strict=True):
        if dtype in NUMPY_DTYPES:
            data[name] = np.array(values, dtype=dtype)
        elif dtype == "string":  # enum members become their plain string values
            data[name] = pd.array([None if v is None else str(v) for v in values], dtype=dtype)
        else:
            data[name] = pd.array(list(values), dtype=dtype)
    return pd.DataFrame(data)
