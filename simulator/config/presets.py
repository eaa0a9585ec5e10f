"""Named venue presets: each real venue's liquidation mechanism as scenario settings.

A venue in a scenario may say ``preset: binance``; the preset's settings are then the base and
whatever the venue states itself overrides them (a nested mapping is merged key by key). A
preset covers the mechanism only (mark, liquidation, fund rules, ADL, socialization, risk
controls), never the markets, the insurance fund's size or the traders, so that comparing
presets on one scenario compares mechanisms. Facts and sources: ``docs/presets.md`` and
``shared/reference/venue-rules.md``; venues change parameters often, so these are dated
readings of public documentation, not live values. Nothing here runs anything.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

# The venue keys a preset may set (and that ``Scenario.with_preset`` replaces).
MECHANISM_KEYS = ("mark", "liquidation", "fund", "adl", "socialize", "socialize_interval",
                  "socialize_maker", "risk_controls")
# ... except these liquidation settings, which describe the world rather than the mechanism.
KEPT_LIQUIDATION_KEYS = ("throughput_per_s", "latency", "margin_call_level")

PRESETS: dict[str, dict[str, Any]] = {
    # The clearance fee of Binance, BitMEX and Bybit is the surplus itself (what a full close
    # leaves goes to the fund), so their separate fee rate is 0. Hyperliquid charges no
    # clearance fee; Drift pays liquidators, who are not modelled: 0 too. Sources and what is
    # not modelled: docs/presets.md.
    # Mark = median of (index + decaying basis, index + moving-average basis, last price).
    # Liquidation orders go to the book in parts for large positions; a fill better than the
    # bankruptcy price pays the rest of the margin to the fund; bankrupt positions are taken
    # over by the fund (net positions up to 100% of its size) and offloaded; then ADL, ranked by
    # leverage x PnL, at the bankruptcy price. No socialization.
    "binance": {
        "mark": {"method": "median"},
        "liquidation": {"trigger": "mark", "close": "partial", "partial_target": 0.5,
                        "fee_rate": 0.0, "surplus": "insurance_fund",
                        "fund_takeover": {"capacity": 1.0}},
        "adl": {"trigger": "fund_empty", "ranking": "bitmex", "price": "bankruptcy",
                "on": "thin_book", "queue": "all"},
        "socialize": "never",
    },
    # Mark = fair price (index + decaying basis). The lowest risk tier is closed whole at the
    # bankruptcy price (surplus to the fund); the fund pays to close in the market; when it
    # cannot, ADL by PnL% x effective leverage at the bankruptcy price.
    "bitmex": {
        "mark": {"method": "ema_basis"},
        "liquidation": {"trigger": "mark", "close": "full", "fee_rate": 0.0,
                        "surplus": "insurance_fund"},
        "adl": {"trigger": "fund_empty", "ranking": "bitmex", "price": "bankruptcy",
                "on": "thin_book", "queue": "all"},
        "socialize": "never",
    },
    # Positions above the lowest tier are first reduced to a lower tier; if that is not enough
    # they are taken over at the bankruptcy price; ADL by profit and effective leverage at the
    # bankruptcy price.
    "bybit": {
        "mark": {"method": "median"},
        "liquidation": {"trigger": "mark", "close": "partial", "partial_target": 0.5,
                        "fee_rate": 0.0, "surplus": "insurance_fund",
                        "fund_takeover": {"capacity": 1.0, "whole": True},
                        # Isolated maintenance = position value at entry x MMR (Bybit's example).
                        "isolated_maintenance": "entry"},
        "adl": {"trigger": "fund_empty", "ranking": "bitmex", "price": "bankruptcy",
                "on": "thin_book", "queue": "all"},
        "socialize": "never",
    },
    # ADL triggers when the fund falls 30% from its peak within 8 hours, matched at the mark
    # price; no socialization after ADL.
    "okx": {
        "mark": {"method": "ema_basis"},
        "liquidation": {"trigger": "mark", "close": "full"},
        "adl": {"trigger": "drawdown", "drawdown": 0.3, "window": "8h", "ranking": "bitmex",
                "price": "mark",
                "on": "thin_book", "queue": "all"},
        "socialize": "never",
    },
    # Market orders to the book, positions over 100k USDC 20% at a time with a 30 s cooldown;
    # below 2/3 of maintenance the liquidator vault takes over (keeping the margin); ADL ranked
    # by (mark / entry) x (notional / account value) at the mark price.
    "hyperliquid": {
        "mark": {"method": "median"},
        "liquidation": {"trigger": "mark", "close": "full", "fee_rate": 0.0, "fee_to": "vault",
                        "chunking": {"above": 100_000, "fraction": 0.2, "cooldown": "30s"},
                        "backstop": {"below": 2 / 3}},
        "adl": {"trigger": "fund_empty", "ranking": "hyperliquid", "price": "mark",
                "on": "negative_equity", "queue": "all"},
        "socialize": "after_adl",
    },
    # Protocol IOC orders at a fillable price between oracle and bankruptcy; penalty up to 1.5%
    # to the insurance fund; deleveraging of profitable, levered counterparties at the
    # bankruptcy price when the fund is depleted.
    "dydx": {
        "mark": {"method": "index"},
        "liquidation": {"trigger": "mark", "close": "full", "fee_rate": 0.015,
                        "backing": "maintenance_share"},
        "adl": {"trigger": "fund_empty", "ranking": "bitmex", "price": "bankruptcy",
                "on": "thin_book"},
        "socialize": "never",
    },
    # Keepers liquidate partially, back above maintenance plus a buffer, polling the oracle;
    # blocked when the oracle deviates 50% from its 5-minute TWAP; the bankrupt remainder is paid
    # by the (per-market) insurance fund and then socialized over open interest (no ADL).
    "drift": {
        "mark": {"method": "index"},
        "liquidation": {"trigger": "mark", "close": "partial", "partial_target": 0.8,
                        "fee_rate": 0.0, "check_interval": "1s"},
        "adl": {"trigger": "never"},
        "socialize": "instead_of_adl",
        # Drift charges a bankruptcy's loss when it is resolved (into the market's cumulative
        # funding), not at a settlement time.
        "socialize_interval": 0,
        # Only users' positions pay, pro rata by base; the AMM (the maker's row) pays nothing.
        "socialize_maker": False,
        "risk_controls": {"circuit_breaker": {"threshold": 0.5, "window": "5m", "pause": "5m",
                                              "halt": "liquidations"}},
    },
}

# One sentence per preset, what its mechanism does (``liqsim presets`` prints them).
DESCRIPTIONS: dict[str, str] = {
    "binance": "Median mark; partial closes down to a target, surplus to the fund, which takes "
               "over bankrupt positions (up to 100% of its size); then ADL ranked BitMEX-style "
               "at the bankruptcy price.",
    "bitmex": "Fair-price (EMA basis) mark; full closes with the surplus to the fund, which "
              "backs fills below bankruptcy; when it cannot, ADL ranked by PnL% x leverage at "
              "the bankruptcy price.",
    "bybit": "Median mark; positions first reduced to a lower tier, then taken over whole at the "
             "bankruptcy price by the fund; then ADL by profit and leverage at the bankruptcy "
             "price.",
    "okx": "EMA-basis mark; full closes (default 0.5% fee); ADL when the fund falls 30% from its "
           "peak within 8 hours, matched at the mark price.",
    "hyperliquid": "Median mark; full closes, positions over 100k 20% at a time with a 30 s "
                   "cooldown; a liquidator vault takes over below 2/3 of maintenance; ADL at the "
                   "mark, then socialization.",
    "dydx": "Index mark; full closes with a 1.5% penalty to the fund; deleveraging of profitable, "
            "levered counterparties at the bankruptcy price when the fund is empty.",
    "drift": "Index mark polled every second; partial closes back above maintenance; "
             "liquidations halted when the oracle strays 50% from its 5-minute TWAP; losses the "
             "fund cannot pay are socialized (no ADL).",
}


def merged(preset: str, own: dict[str, Any]) -> dict[str, Any]:
    """The venue's settings with ``preset`` as the base (nested mappings merged key by key)."""
    if preset not in PRESETS:
        close = difflib.get_close_matches(preset, list(PRESETS), n=1)
        hint = f", did you mean {close[0]!r}?" if close else ""
        # Led by the field's name, so the error names ``venues[0].preset``, not ``venues[0]``.
        raise ValueError(f"preset: unknown preset {preset!r}{hint} (known: {', '.join(PRESETS)})")
    return _merge(copy.deepcopy(PRESETS[preset]), own)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = value
    return base
