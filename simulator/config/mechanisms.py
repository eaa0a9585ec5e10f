"""The venue's liquidation mechanism as pydantic models: trigger, close, fees, fund, ADL, controls.

Every stage of the liquidation pipeline (DESIGN section 6) is a choice here, each with its
default and its own validation: how a breach is detected (mark or last price, on every update
or by polling), how a position is closed (full or partial market close, chunks with a
cooldown, backstop-vault takeover, insurance-fund takeover with gradual offload, a Dutch
auction to keepers), where fees go, how the insurance fund may be used, when and how ADL runs,
whether losses are socialized, and dynamic risk controls. Named venue presets built from these
live in ``presets``. Nothing here runs anything; it only describes.
"""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveFloat, model_validator

from markets import rules
from simulator.config.base import Strict
from simulator.config.units import Duration, Fraction


class Chunking(Strict):
    """Large positions are closed a fraction at a time, with a cooldown (Hyperliquid)."""

    above: PositiveFloat = 100_000.0  # position notional (USD) above which chunks apply
    fraction: Fraction = Field(default=0.2, gt=0, le=1)
    cooldown: Duration = Field(default="30s", gt=0)


class Backstop(Strict):
    """A liquidator vault takes over accounts whose equity is below ``below`` x maintenance
    (Hyperliquid: 2/3), keeps their remaining margin, and unwinds into the book."""

    below: Fraction = Field(default=2 / 3, gt=0, le=1)
    capital: NonNegativeFloat | None = None  # null: the venue's insurance fund becomes the vault
    unwind: Duration = Field(default="10m", gt=0)  # horizon over which the vault sells
    unwind_interval: Duration = Field(default="5s", gt=0)


class FundTakeover(Strict):
    """Bankrupt positions the book cannot close above their bankruptcy price are taken over by
    the insurance fund at that price and offloaded gradually (Binance, Bybit)."""

    capacity: NonNegativeFloat = 1.0  # net position notional the fund holds, x its balance
    # Binance sends the close to the book first and takes over the bankrupt remainder; Bybit
    # takes a position it must close whole over at the bankruptcy price without the book.
    whole: bool = False
    offload: Duration = Field(default="10m", gt=0)
    offload_interval: Duration = Field(default="5s", gt=0)


class Keepers(Strict):
    """Keeper agents bidding in liquidation auctions: identical, each with its own capital."""

    count: int = Field(default=5, ge=0)
    capital: NonNegativeFloat = 2_000_000.0  # each keeper's free capital (USD)
    min_discount: Fraction = Field(default=0.01, ge=0, lt=1)  # bid when this much below mark
    leverage: PositiveFloat = 5.0  # keepers post notional / leverage as margin
    unwind: Duration = Field(default="5m", gt=0)
    unwind_interval: Duration = Field(default="5s", gt=0)


class Auction(Strict):
    """Dutch auction of liquidated positions to keepers (MakerDAO Liquidations 2.0 style):
    the price starts ``start_premium`` worse than the mark for the keeper and is cut by ``cut``
    every ``step``; the auction fails (falls back to a market close) below ``cusp`` of its
    starting price or after ``duration``."""

    start_premium: Fraction = Field(default=0.02, ge=0, lt=1)
    cut: Fraction = Field(default=0.99, gt=0, lt=1)
    step: Duration = Field(default="1s", gt=0)
    cusp: Fraction = Field(default=0.6, ge=0, lt=1)
    duration: Duration = Field(default="5m", gt=0)
    keepers: Keepers = Keepers()


class Liquidation(Strict):
    fee_rate: Fraction = Field(default=0.005, ge=0, lt=1)
    fee_to: rules.FeeTo = "insurance_fund"
    # Whose is the equity a full close leaves: the trader's (after the fee), or the fund's
    # (BitMEX, Binance: the trader is closed at the bankruptcy price, the surplus of the fills
    # over it goes to the insurance fund).
    surplus: rules.Surplus = "trader"
    margin_call_level: Fraction = Field(default=0.8, gt=0, le=1)
    throughput_per_s: PositiveFloat = 200.0
    latency: Duration = "100ms"
    trigger: rules.Trigger = "mark"  # last: the book's traded price (its mid)
    check_interval: Duration = 0  # 0: on every mark update; else the engine polls this often
    close: rules.Close = "full"
    # What backs a closed cross position, so where its bankruptcy price is: the account's
    # other equity (account), or the account's equity times the position's share of its
    # maintenance (maintenance_share, dYdX v4: -DNNV - TNC x |DMMR| / TMMR).
    backing: rules.Backing = "account"
    # The price an isolated position's maintenance is valued at: the mark, or its entry price
    # (Bybit: IM 400, long 1 @ 20,000, MMR 0.5% -> maintenance 100, liquidated at 19,700).
    isolated_maintenance: rules.Valuation = "mark"
    # A partial close reduces the position until maintenance / equity is back at this ratio
    # (stepping down the maintenance tiers, Binance/Bybit); when no reduction can, all of it.
    partial_target: Fraction = Field(default=0.5, gt=0, lt=1)
    chunking: Chunking | None = None
    backstop: Backstop | None = None
    fund_takeover: FundTakeover | None = None
    auction: Auction | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Liquidation:
        if self.fee_to == "vault" and self.backstop is None:
            raise ValueError("fee_to: 'vault' needs a backstop vault (liquidation.backstop)")
        if self.fee_to == "keeper" and self.auction is None:
            raise ValueError("fee_to: 'keeper' needs keepers (liquidation.auction)")
        if self.auction is not None and (self.chunking is not None or self.close == "partial"):
            raise ValueError("auction: an auctioned position is sold whole; drop chunking and "
                             "use close: full")
        return self


class Fund(Strict):
    """How the insurance fund may be used and fed (its size is the venue's or market's
    ``insurance_fund``)."""

    cap_per_event: NonNegativeFloat | None = None  # at most this much per liquidation
    cap_per_period: NonNegativeFloat | None = None  # at most this much per rolling period
    period: Duration = Field(default="24h", gt=0)
    fee_share: Fraction = Field(default=1.0, ge=0, le=1)  # of fees sent to it; rest: venue


class Adl(Strict):
    # fund_empty: when the fund cannot back the close; drawdown: also once the fund has fallen
    # ``drawdown`` from its peak within ``window`` (OKX: 30% in 8h); never: no ADL.
    trigger: rules.AdlTrigger = "fund_empty"
    drawdown: Fraction = Field(default=0.3, gt=0, le=1)
    window: Duration = Field(default="8h", gt=0)
    ranking: rules.AdlRanking = "bitmex"
    price: rules.AdlPrice = "bankruptcy"
    ranking_interval: Duration = "1s"  # how often the venue re-ranks its ADL queue (0: always)
    # negative_equity: only positions of accounts bankrupt at the mark (Hyperliquid: "when an
    # account's value goes negative"); thin_book: ADL closes what the book cannot fill with
    # the fund's backing, solvent at the mark or not ("when the fund cannot, ADL": the CEX
    # presets, whose fund takes over what the book cannot fill).
    on: rules.AdlOn = "negative_equity"
    # profitable: only opposite-side positions in profit are deleveraged; all: every
    # opposite-side position is in the queue, losers ranked after winners (BitMEX's rank is
    # PnL% / leverage for a loss; Binance, Bybit, OKX and Hyperliquid rank every position).
    queue: rules.AdlQueue = "profitable"


class VolatilityMargin(Strict):
    """Maintenance margin multiplied by 1 + sensitivity x (realised vol / reference - 1)."""

    reference_vol: PositiveFloat = 1.0  # annualised
    sensitivity: NonNegativeFloat = 1.0
    max_multiplier: float = Field(default=3.0, ge=1)
    half_life: Duration = Field(default="5m", gt=0)
    step: PositiveFloat = 0.25  # the multiplier moves in steps of this size


class CircuitBreaker(Strict):
    """Pause when a mark deviates ``threshold`` from its TWAP over ``window`` (Drift: 50%/5m)."""

    threshold: Fraction = Field(default=0.1, gt=0)
    window: Duration = Field(default="5m", gt=0)
    pause: Duration = Field(default="1m", gt=0)
    halt: rules.Halt = "liquidations"


class RiskControls(Strict):
    volatility_margin: VolatilityMargin | None = None
    circuit_breaker: CircuitBreaker | None = None


Socialize = rules.Socialize
