"""A venue's liquidation mechanism as plain frozen values, read by detection, engine and closing.

The scenario's pydantic models describe the mechanism for people; these are what the markets
code reads at run time (integer milliseconds, no units, no validation messages). Each optional
mechanism is ``None`` when the venue does not use it. Nothing here does anything.

There are no defaults here: the scenario's config models are the one place where defaults
live, and the build passes every value. The mechanism names are typed, the config's models
take their choices from these same types, and a name outside them is refused when the rules
are made, so no reader of the rules can fall through to some other mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, get_args

FeeTo = Literal["insurance_fund", "vault", "keeper", "venue"]
Surplus = Literal["trader", "insurance_fund"]
Trigger = Literal["mark", "last"]
Close = Literal["full", "partial"]
AdlTrigger = Literal["fund_empty", "drawdown", "never"]
AdlRanking = Literal["bitmex", "hyperliquid", "profit", "pro_rata"]
AdlPrice = Literal["bankruptcy", "mark"]
AdlOn = Literal["negative_equity", "thin_book"]
AdlQueue = Literal["profitable", "all"]
Socialize = Literal["after_adl", "instead_of_adl", "never"]
Halt = Literal["liquidations", "trading"]
# What backs a closed cross position at bankruptcy: all the account's other equity, or (dYdX v4)
# the account's equity times the position's share of its maintenance.
Backing = Literal["account", "maintenance_share"]
# The price an isolated position's maintenance is valued at: the mark, or (Bybit) its entry.
Valuation = Literal["mark", "entry"]


def _check_names(rules: object) -> None:
    """Refuse a mechanism name outside its ``Literal`` (the annotations are strings here)."""
    for f in fields(rules):
        choices = _NAMED.get(f.name if not isinstance(rules, AdlRules) else f"adl.{f.name}")
        value = getattr(rules, f.name)
        if choices is not None and value not in choices:
            raise ValueError(f"unknown {f.name} {value!r}: expected one of {', '.join(choices)}")


@dataclass(frozen=True)
class AuctionRules:
    """The price schedule and end conditions of one venue's auctions."""

    start_premium: float  # buf - 1: the first price is this much worse than mark0 for the keeper
    cut: float  # multiplicative price step, 0 < cut < 1
    step_ms: int  # the price is cut every step_ms
    cusp: float  # fails when 1 - discount < cusp, 0 <= cusp < 1
    max_duration_ms: int  # "tail": fails when older than this

    def __post_init__(self) -> None:
        # < 1 keeps a short lot's first price (mark0 * (1 - start_premium)) positive.
        if not 0.0 <= self.start_premium < 1.0:
            raise ValueError(f"start_premium must be in [0, 1), got {self.start_premium}")
        if not 0.0 < self.cut < 1.0:
            raise ValueError(f"cut must be in (0, 1), got {self.cut}")
        if self.step_ms <= 0:
            raise ValueError(f"step_ms must be positive, got {self.step_ms}")
        if not 0.0 <= self.cusp < 1.0:
            raise ValueError(f"cusp must be in [0, 1), got {self.cusp}")
        if self.max_duration_ms <= 0:
            raise ValueError(f"max_duration_ms must be positive, got {self.max_duration_ms}")


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
    whole: bool  # a full close is taken over at bankruptcy without trying the book


@dataclass(frozen=True)
class KeeperRule:
    count: int
    capital: float
    min_discount: float
    leverage: float
    unwind: UnwindRule


@dataclass(frozen=True)
class AdlRules:
    trigger: AdlTrigger
    drawdown: float  # fund drawdown within the window that triggers ADL (trigger: drawdown)
    window_ms: int
    ranking: AdlRanking
    price: AdlPrice  # what ADL counterparties are closed at
    ranking_ms: int  # how often the ADL queue is re-ranked (0: at every use)
    # Which positions ADL may close: those of accounts with negative equity at the mark
    # (the mark past the bankruptcy price), or whatever the book cannot fill with the fund's
    # backing (a thin book), solvent or not.
    on: AdlOn
    # Who is in the queue: opposite-side positions in profit, or every opposite-side position
    # (the venue's ranking orders the losers after the winners).
    queue: AdlQueue

    def __post_init__(self) -> None:
        _check_names(self)


@dataclass(frozen=True)
class LiquidationRules:
    fee_rate: float  # of the closed notional
    fee_to: FeeTo
    fee_share: float  # of a fee sent to the fund that it keeps (the rest: venue revenue)
    surplus: Surplus  # who keeps what a full close leaves
    margin_call_level: float  # margin ratio (maintenance / equity) that triggers a call
    throughput_per_s: float
    latency_ms: int
    trigger: Trigger
    check_ms: int  # 0: check on every mark update; else poll this often
    close: Close
    partial_target: float
    chunk: ChunkRule | None
    backstop: BackstopRule | None
    takeover: TakeoverRule | None
    auction: AuctionRules | None
    keepers: KeeperRule | None
    adl: AdlRules
    socialize: Socialize
    socialize_ms: int  # pool deficits and socialize them every this often (0: at once)
    halt: Halt  # what a tripped circuit breaker pauses
    backing: Backing  # what backs a closed cross position (its bankruptcy price)
    socialize_maker: bool  # the maker's row pays its share of a socialized loss

    def __post_init__(self) -> None:
        _check_names(self)

    @property
    def adl_enabled(self) -> bool:
        return self.adl.trigger != "never" and self.socialize != "instead_of_adl"

    @property
    def socializes(self) -> bool:
        return self.socialize != "never"


_NAMED: dict[str, tuple[str, ...]] = {
    "fee_to": get_args(FeeTo), "surplus": get_args(Surplus), "trigger": get_args(Trigger),
    "close": get_args(Close), "socialize": get_args(Socialize), "halt": get_args(Halt),
    "backing": get_args(Backing),
    "adl.trigger": get_args(AdlTrigger), "adl.ranking": get_args(AdlRanking),
    "adl.price": get_args(AdlPrice), "adl.on": get_args(AdlOn),
    "adl.queue": get_args(AdlQueue),
}
