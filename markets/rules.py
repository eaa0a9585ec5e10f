"""A venue's liquidation mechanism as plain frozen values, read by detection, engine and closing.

The scenario's pydantic models describe the mechanism for people; these are what the markets
code reads at run time (integer milliseconds, no units, no validation messages). Each optional
mechanism is ``None`` when the venue does not use it. Nothing here does anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markets.auction import AuctionRules


@dataclass(frozen=True)
class ChunkRule:
    above: float  # position notional (USD) above which a close is chunked
    fraction: float  # of the position per chunk
    cooldown_ms: int


@dataclass(frozen=True)
class UnwindRule:
    """How a venue-side holder (vault, fund, keeper) sells what it took over: evenly over
    ``horizon_ms``, an order every ``interval_ms``."""

    horizon_ms: int
    interval_ms: int


@dataclass(frozen=True)
class BackstopRule:
    below: float  # equity / maintenance below which the vault takes over
    unwind: UnwindRule


@dataclass(frozen=True)
class TakeoverRule:
    capacity: float  # net position notional the fund may hold, as a multiple of its balance
    offload: UnwindRule
    whole: bool = False  # a full close is taken over at bankruptcy without trying the book


@dataclass(frozen=True)
class KeeperRule:
    count: int
    capital: float
    min_discount: float
    leverage: float
    unwind: UnwindRule


@dataclass(frozen=True)
class AdlRules:
    trigger: str = "fund_empty"  # fund_empty | drawdown | never
    drawdown: float = 0.3
    window_ms: int = 8 * 3_600_000
    ranking: str = "bitmex"  # bitmex | hyperliquid | profit | pro_rata
    price: str = "bankruptcy"  # bankruptcy | mark
    ranking_ms: int = 0  # how often the ADL queue is re-ranked (0: at every use)


@dataclass(frozen=True)
class LiquidationRules:
    fee_rate: float = 0.005  # of the closed notional
    fee_to: str = "insurance_fund"  # insurance_fund | vault | keeper | venue
    fee_share: float = 1.0  # of a fee sent to the fund that it keeps (the rest: venue revenue)
    surplus: str = "trader"  # trader | insurance_fund: who keeps what a full close leaves
    margin_call_level: float = 0.8  # margin ratio (maintenance / equity) that triggers a call
    throughput_per_s: float = 200.0
    latency_ms: int = 0
    trigger: str = "mark"  # mark | last
    check_ms: int = 0  # 0: check on every mark update; else poll this often
    close: str = "full"  # full | partial
    partial_target: float = 0.5
    chunk: ChunkRule | None = None
    backstop: BackstopRule | None = None
    takeover: TakeoverRule | None = None
    auction: AuctionRules | None = None
    keepers: KeeperRule | None = None
    adl: AdlRules = field(default_factory=AdlRules)
    socialize: str = "after_adl"  # after_adl | instead_of_adl | never
    halt: str = "liquidations"  # what a tripped circuit breaker pauses: liquidations | trading

    @property
    def adl_enabled(self) -> bool:
        return self.adl.trigger != "never" and self.socialize != "instead_of_adl"

    @property
    def socializes(self) -> bool:
        return self.socialize != "never"
