"""What a venue counts over a run: money that moved outside the accounts and per-account tallies.

The liquidation code and order entry add to these as they act; the simulator reads them once
the run is over (summary metrics, per-account frames, the conservation checks). Keeping them in
one typed object says in one place what a venue counts. Nothing here acts or knows SimPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class VenueCounters:
    """Running totals of one venue (USD unless said), all starting at zero but the vault's."""

    initial_vault: float  # the backstop vault's capital at the start (0 without a vault)
    fees: float  # liquidation fees charged, wherever they went
    revenue: float  # fees the venue kept for itself (not paid into a fund or vault)
    absorbed: float  # losses nobody was left to carry, absorbed by the venue itself
    socialized: float  # losses charged pro rata to open positions
    deferred: float  # deficits made good but not yet socialized (pooled for the next charge)
    deposits: float  # external collateral paid in (top-ups, arbitrageurs' transfers)
    withdrawals: float  # collateral taken out (arbitrageurs' transfers)
    rejected: int  # orders refused by an open-interest cap or a trading halt
    peak_queue: int  # the longest the liquidation queue got
    adl_needed: float  # shortfall at the mark that ADL was used to cover
    adl_profit_closed: float  # winners' unrealised profit on what ADL closed
    adl_haircut: np.ndarray  # per account: given up to ADL against the mark
    adl_qty: np.ndarray  # per account: quantity deleveraged
    social_charged: np.ndarray  # per account: socialized loss paid

    @classmethod
    def start(cls, n_accounts: int, initial_vault: float) -> VenueCounters:
        """Counters of a venue with ``n_accounts`` rows before anything happened."""
        return cls(
            initial_vault=initial_vault, fees=0.0, revenue=0.0, absorbed=0.0, socialized=0.0,
            deferred=0.0, deposits=0.0, withdrawals=0.0, rejected=0, peak_queue=0, adl_needed=0.0,
            adl_profit_closed=0.0,
            adl_haircut=np.zeros(n_accounts), adl_qty=np.zeros(n_accounts),
            social_charged=np.zeros(n_accounts),
        )
