"""The scenario's parts as pydantic models: assets, shocks, replays, venues, markets, accounts.

Every default of the simulator lives here, and every field validates itself with a message
that says what is wrong. Cross-references between parts (which asset a market trades, which
venue an account is on) are checked by the root model in ``scenario``. Nothing here runs
anything; it only describes.
"""

from __future__ import annotations

import difflib
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    BeforeValidator,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    ValidationInfo,
    field_validator,
    model_validator,
)

from markets.margin.formulas import MarginTiers
from simulator.config.base import Strict
from simulator.config.collateral import CollateralAsset
from simulator.config.depth_data import DepthFileError, snapshot_profile
from simulator.config.entries import Entries
from simulator.config.flows import DipBuyers, Momentum
from simulator.config.mechanisms import Adl, Fund, Liquidation, RiskControls, Socialize
from simulator.config.presets import merged
from simulator.config.replays import (
    Replay,  # noqa: F401  (the scenario's parts, in one place)
    data_paths,
)
from simulator.config.stops import Stops
from simulator.config.units import Duration, Fraction, parse_fraction, whole_number


# --- assets and the exogenous path ------------------------------------------------------------
class Jumps(Strict):
    rate_per_day: NonNegativeFloat = 0.0
    mean: float = 0.0  # of the log jump
    stdev: NonNegativeFloat = 0.0


class Asset(Strict):
    name: str = Field(min_length=1)
    price: PositiveFloat
    volatility: NonNegativeFloat = 0.5  # annualised
    drift: float = 0.0  # annualised
    jumps: Jumps | None = None


class Shock(Strict):
    """A scheduled move of ``move`` (e.g. "-12%") spread over ``over``, starting ``at``."""

    asset: str
    at: Duration
    move: Fraction = Field(gt=-1.0)
    over: Duration = 0
    co_move: bool = True  # correlated assets move by their conditional expectation


# --- venues and markets -----------------------------------------------------------------------
class Depth(Strict):
    """Per-side depth: cumulative USD within relative distances of the mid; or read from a
    Binance-format depth-band file, ``csv`` (``simulator.config.depth_data``: the snapshot
    nearest ``at``, of one side or the mean of both), with a ``profile`` beside it standing in
    when the file is not there. ``scale`` multiplies the profile's USD (given or read).

    With a window ``start``/``end`` (UTC) beside ``csv``, the profile is the snapshot nearest
    ``start`` (or ``at``) and the book follows the file per minute over the window: the
    ``schedule`` of ``[minute, factor]`` read from it (with the file there it is always the
    file's; without it a ``schedule`` given, as the effective config writes it, stands in).
    Run time 0 is the replay's start, or without a replay the window's start."""

    csv: Path | None = None
    at: datetime | None = None  # UTC: the snapshot nearest it (default: the file's first)
    side: Literal["both", "ask", "bid"] = "both"
    profile: list[tuple[Fraction, PositiveFloat]] = Field(min_length=1)
    level_step: Fraction = Field(default=0.0001, gt=0)  # ladder spacing, relative to start price
    max_distance: Fraction = Field(default=0.5, gt=0, lt=1)
    scale: PositiveFloat = 1.0  # a calibration's one number: the book holds profile x scale
    start: datetime | None = None  # UTC: the window the book's depth follows, per minute
    end: datetime | None = None
    schedule: list[tuple[datetime, PositiveFloat]] = []  # (UTC minute, factor) from the window

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, data: object, info: ValidationInfo) -> object:
        # Imported here: this class's part of the module is all that changes with windows.
        from simulator.config.depth_data import window_depth

        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("start", "end"):
            data[key] = cls._utc_time(key, data.get(key))
        if data.get("schedule"):
            data["schedule"] = [(cls._utc_time("schedule", p[0]), *p[1:])
                                if isinstance(p, list | tuple) and p else p
                                for p in data["schedule"]]
        if data.get("csv") is None:
            return data
        start, end, side = data["start"], data["end"], data.get("side", "both")
        if (start is None) != (end is None):  # whether the file is there or not
            raise ValueError("a depth window needs both start and end (UTC)")
        path = Path(data["csv"])
        base = (info.context or {}).get("base_dir")
        found = next((c for c in ([path] if path.is_absolute() else data_paths(path, base))
                      if c.exists()), None)
        if found is None:
            if data.get("profile"):
                data["csv"] = None  # the stand-in is used, and the effective config says so
                return data
            raise ValueError(f"csv: depth file {path} not found (and no profile stands in)")
        at = data.get("at")
        if isinstance(at, str):
            at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        try:
            if start is None:
                data["profile"] = snapshot_profile(found, at, side)
                data["schedule"] = []
            else:
                data["profile"], data["schedule"] = window_depth(found, start, end, side, at)
        except DepthFileError as exc:
            raise ValueError(f"csv: {exc}") from None
        data["csv"] = found
        return data

    @staticmethod
    def _utc_time(key: str, value: object) -> object:
        """A window or schedule time as an aware UTC datetime (YAML gives datetimes, JSON
        strings; a time without a zone is UTC); anything else is left for pydantic's message."""
        from simulator.config.depth_data import utc

        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{key}: {value!r} is not a date-time "
                                 "(e.g. 2025-10-10T21:00:00Z)") from None
        return utc(value).to_pydatetime() if isinstance(value, datetime) else value

    @model_validator(mode="after")
    def _window(self) -> Depth:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start "
                             f"({self.start.isoformat()})")
        if self.schedule and self.start is None:
            raise ValueError("a depth schedule needs the window's start (run time 0 when the "
                             "scenario has no replay)")
        times = [p[0] for p in self.schedule]
        if any(b <= a for a, b in zip(times, times[1:], strict=False)):
            raise ValueError("schedule times must increase")
        return self

    @model_validator(mode="after")
    def _shape(self) -> Depth:
        d = [p[0] for p in self.profile]
        c = [p[1] for p in self.profile]
        if any(x <= 0 for x in d) or any(b <= a for a, b in zip(d, d[1:], strict=False)):
            raise ValueError("profile distances must be positive and increasing")
        if any(b < a for a, b in zip(c, c[1:], strict=False)):
            raise ValueError("profile cumulative depth must not decrease with distance")
        if self.max_distance < d[-1]:
            raise ValueError("max_distance must be at least the last profile distance")
        return self


class Withdrawal(Strict):
    enabled: bool = True
    reference_vol: PositiveFloat = 1.0  # annualised realised vol where withdrawal starts
    sensitivity: NonNegativeFloat = 1.0
    floor: Fraction = Field(default=0.2, gt=0, le=1)
    half_life: Duration = "30s"


class MakerRisk(Strict):
    """The market maker's balance sheet: its trading PnL since the start (the positions it
    inherited at the start are the rest of the market's, not its own) summed over its markets,
    and over other venues whose makers name the same ``balance_sheet``. While the loss exceeds
    ``loss_limit`` (USD), it quotes at most ``floor`` of its depth and ``spread_levels``
    ladder steps further from the mid; it resumes once the loss is back under
    ``resume`` x the limit."""

    loss_limit: PositiveFloat
    floor: Fraction = Field(default=0.2, gt=0, le=1)
    spread_levels: int = Field(default=0, ge=0)
    resume: Fraction = Field(default=0.8, ge=0, le=1)
    balance_sheet: str | None = None  # makers on several venues sharing one limit


class Tier(Strict):
    notional: NonNegativeFloat  # where the tier starts
    mmr: Fraction = Field(gt=0, lt=1)
    max_leverage: PositiveFloat


TIER_PRESETS: dict[str, list[tuple[float, float, float]]] = {
    # Binance BTCUSDT, announced 2021-03-18 (shared/reference/venue-rules.md): floor, MMR, max lev.
    "binance_btcusdt_2021": [
        (0, 0.004, 125), (50_000, 0.005, 100), (250_000, 0.01, 50), (1_000_000, 0.025, 20),
        (10_000_000, 0.05, 10), (20_000_000, 0.10, 5), (50_000_000, 0.125, 4),
        (100_000_000, 0.15, 3), (200_000_000, 0.25, 2), (300_000_000, 0.5, 1),
    ],
}


def _expand_preset(value: object) -> object:
    """A tier preset's name becomes its table, so the scenario as run records the tiers used."""
    if isinstance(value, str):
        if value not in TIER_PRESETS:
            close = difflib.get_close_matches(value, list(TIER_PRESETS), n=1)
            hint = f", did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown tier preset {value!r}{hint} (known: {', '.join(TIER_PRESETS)})"
            )
        return [{"notional": f, "mmr": m, "max_leverage": lev} for f, m, lev in TIER_PRESETS[value]]
    return value


class Market(Strict):
    name: str = Field(min_length=1)
    asset: str
    tick: PositiveFloat = 0.01
    depth: Depth
    resilience: Duration = Field(default="30s", gt=0)  # book refill time constant
    recentre: Duration | None = "10m"  # impact decay time constant; null: permanent
    withdrawal: Withdrawal = Withdrawal()
    # A list of tiers, or the name of a preset (expanded to its list).
    tiers: Annotated[list[Tier], BeforeValidator(_expand_preset)] = "binance_btcusdt_2021"
    max_leverage: PositiveFloat | None = None  # default: the first tier's
    insurance_fund: NonNegativeFloat | None = None  # its own fund; null: the venue's shared one
    open_interest_cap: PositiveFloat | None = None  # USD at mark; orders beyond it are rejected

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: list[Tier]) -> list[Tier]:
        if not tiers:
            raise ValueError("at least one tier is needed")
        for k, t in enumerate(tiers):
            if t.mmr * t.max_leverage >= 1:
                raise ValueError(
                    f"tier {k}: maintenance margin {t.mmr:.4%} is not below the initial "
                    f"margin {1 / t.max_leverage:.4%} of {t.max_leverage:g}x"
                )
        MarginTiers.from_table(*zip(*[(t.notional, t.mmr, t.max_leverage) for t in tiers],
                                    strict=True))
        return tiers

    @model_validator(mode="after")
    def _max_leverage(self) -> Market:
        first = self.tiers[0].max_leverage
        if self.max_leverage is not None and self.max_leverage > first:
            raise ValueError(
                f"max_leverage: {self.max_leverage:g}x is above the first tier's {first:g}x "
                f"(maintenance {self.tiers[0].mmr:.4%} would not be below initial margin)"
            )
        return self

    @field_validator("recentre")
    @classmethod
    def _recentre(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise ValueError("recentre must be a positive duration, or null for permanent impact")
        return value

    def margin_tiers(self) -> MarginTiers:
        rows = [(t.notional, t.mmr, t.max_leverage) for t in self.tiers]
        return MarginTiers.from_table(*zip(*rows, strict=True))

    @property
    def leverage_limit(self) -> float:
        return self.max_leverage or float(self.margin_tiers().max_leverage[0])


class Mark(Strict):
    method: Literal["mid", "index", "ema_basis", "median"] = "median"
    ema_half_life: Duration = "30s"
    clamp: Fraction = Field(default=0.05, ge=0)
    index_impact_share: Fraction = Field(default=0.0, ge=0, le=1)


class Funding(Strict):
    enabled: bool = True
    interval: Duration = Field(default="8h", gt=0)
    # When the first funding falls, from the start (default: one interval in); venues settle
    # at fixed times of day (00:00, 08:00, 16:00 UTC), so a run that starts at 05:00 pays
    # first at 3h.
    first: Duration | None = Field(default=None, gt=0)
    interest: Fraction = 0.0001
    cap: Fraction = Field(default=0.0075, ge=0)


class Venue(Strict):
    name: str = Field(min_length=1)
    preset: str | None = None  # a named mechanism set (presets.PRESETS); own settings override
    markets: list[Market] = Field(min_length=1)
    insurance_fund: NonNegativeFloat = 1_000_000.0  # the shared fund (markets may have own)
    fund: Fund = Fund()
    mark: Mark = Mark()
    liquidation: Liquidation = Liquidation()
    adl: Adl = Adl()
    socialize: Socialize = "after_adl"
    # Socialized losses are pooled per market and charged at multiples of this interval, as a
    # venue settles them periodically (0: each at once, at the bankruptcy).
    socialize_interval: Duration = Field(default="1s", ge=0)
    # Whether the market maker's row (the rest of the market; Drift's AMM) pays its pro-rata
    # share of a socialized loss. Drift charges users' positions only, the AMM pays nothing.
    socialize_maker: bool = True
    risk_controls: RiskControls = RiskControls()
    funding: Funding = Funding()
    maker_interval: Duration = Field(default="1s", gt=0)
    maker_risk: MakerRisk | None = None  # a loss limit on the maker's balance sheet
    collateral: list[CollateralAsset] = []  # accepted besides USD
    # linear: USD-margined, quantities in the asset. inverse: coin-margined contracts of 1 USD
    # (BitMEX XBTUSD, Binance COIN-M), collateral, PnL and margin in the asset; the scenario's
    # USD amounts for the venue are converted at the start price (``markets.inverse``).
    contract: Literal["linear", "inverse"] = "linear"

    @model_validator(mode="after")
    def _inverse(self) -> Venue:
        if self.contract != "inverse":
            return self
        assets = sorted({m.asset for m in self.markets})
        if len(assets) > 1:
            raise ValueError(f"an inverse venue margins in one coin, but its markets are on "
                             f"{', '.join(assets)}; give each coin its own venue (as COIN-M "
                             f"keeps one wallet per coin)")
        if self.collateral:
            raise ValueError(f"an inverse venue's collateral is its coin ({assets[0]}); it "
                             f"takes no other collateral")
        return self

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("preset") is not None:
            return merged(str(data["preset"]), data)
        return data

    @field_validator("markets")
    @classmethod
    def _unique(cls, markets: list[Market]) -> list[Market]:
        names = [m.name for m in markets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"market names must be unique within a venue: {', '.join(dup)}")
        return markets


# --- traders ----------------------------------------------------------------------------------
class Response(Strict):
    """What traders do on a margin call: shares of none / top_up / reduce, after a delay."""

    none: Fraction = Field(default=1.0, ge=0, le=1)
    top_up: Fraction = Field(default=0.0, ge=0, le=1)
    reduce: Fraction = Field(default=0.0, ge=0, le=1)
    delay: Duration = "30s"  # median reaction delay
    delay_sigma: NonNegativeFloat = 0.5  # lognormal spread of the delay
    top_up_to: Fraction = Field(default=0.5, gt=0, lt=1)  # target maintenance / equity
    reduce_fraction: Fraction = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _shares(self) -> Response:
        total = self.none + self.top_up + self.reduce
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"none + top_up + reduce must add up to 1 (they add up to {total:g})")
        return self


class Position(Strict):
    market: str
    qty: float  # signed base quantity, long > 0
    entry: PositiveFloat
    margin: NonNegativeFloat | None = None  # isolated margin (isolated accounts only)

    @field_validator("qty")
    @classmethod
    def _nonzero(cls, qty: float) -> float:
        if qty == 0:
            raise ValueError("a position needs a non-zero quantity (long > 0, short < 0)")
        return qty


class Account(Strict):
    name: str = Field(min_length=1)
    venue: str
    collateral: NonNegativeFloat  # cross wallet balance, USD
    collateral_assets: dict[str, NonNegativeFloat] = {}  # and quantities of other assets
    margin_mode: Literal["cross", "isolated"] = "cross"
    positions: list[Position] = []
    response: Response = Response()

    @model_validator(mode="after")
    def _isolated_margins(self) -> Account:
        seen: set[str] = set()
        for k, p in enumerate(self.positions):
            if p.market in seen:
                raise ValueError(f"positions[{k}].market: {p.market!r} appears twice; give one "
                                 "net position per market")
            seen.add(p.market)
            if self.margin_mode == "isolated" and p.margin is None:
                raise ValueError(f"positions[{k}]: an isolated position needs its margin")
            if self.margin_mode == "cross" and p.margin is not None:
                raise ValueError(f"positions[{k}]: margin is only for isolated positions")
        return self


class Notional(Strict):
    distribution: Literal["lognormal", "pareto"] = "lognormal"
    median: PositiveFloat = 10_000.0
    sigma: NonNegativeFloat = 1.2
    alpha: PositiveFloat = 1.5  # pareto tail index
    minimum: PositiveFloat = 500.0  # pareto scale

    def mean(self) -> float:
        """The mean account notional (a Pareto tail needs alpha > 1 to have one)."""
        if self.distribution == "lognormal":
            return self.median * math.exp(self.sigma ** 2 / 2)
        if self.alpha <= 1:
            raise ValueError(f"a pareto notional with alpha {self.alpha:g} <= 1 has no mean, "
                             f"so target_oi cannot give the count: give count")
        return self.alpha * self.minimum / (self.alpha - 1)


class Arrivals(Strict):
    """Traders who open positions during the run: ``count`` more accounts (or ``share`` of the
    block's count) drawn from the population's rules (notional, leverage, market mix; cross
    margin), each opening its position by market order at a time drawn uniformly in
    [``start``, ``end``), long with probability ``long_share`` (default: the population's)."""

    count: Annotated[int, BeforeValidator(whole_number)] | None = Field(default=None, gt=0)
    # Or as a share of the block's accounts (may exceed 1): the count follows the block's.
    share: Fraction | None = Field(default=None, gt=0)
    start: Duration = Field(default=0, ge=0)
    end: Duration = Field(gt=0)
    long_share: Fraction | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _window(self) -> Arrivals:
        if self.count is None:
            raise ValueError("count: give the arrivals a count, or a share of the block's")
        if self.end <= self.start:
            raise ValueError("end: the arrivals' window must end after it starts")
        return self


class Population(Strict):
    """A block of traders drawn from rules. With ``target_oi`` (USD of position notional per
    market at the start, long plus short) each market's total is hit exactly, ``markets``
    defaults to its shares and ``count`` to the total over the mean account notional."""

    name: str = Field(min_length=1)
    venue: str
    count: Annotated[int, BeforeValidator(whole_number)] = Field(ge=0)
    target_oi: dict[str, PositiveFloat] | None = None
    notional: Notional = Notional()
    leverage: dict[float, NonNegativeFloat] = {5: 0.3, 10: 0.3, 20: 0.25, 50: 0.15}
    long_share: Fraction = Field(default=0.5, ge=0, le=1)
    entry_spread: Fraction = Field(default=0.02, ge=0)
    entries: Entries = Entries()  # where entry prices come from (simulator.config.entries)
    # Collateral beyond each position's initial margin, as a multiple of it -> weight: the
    # leverage mix sets each position's margin, this the account's spare (default: none).
    spare_collateral: dict[NonNegativeFloat, NonNegativeFloat] = {}
    markets: dict[str, NonNegativeFloat]  # market name -> weight
    multi_market_share: Fraction = Field(default=0.0, ge=0, le=1)
    isolated_share: Fraction = Field(default=0.0, ge=0, le=1)
    response: Response = Response()
    arrivals: Arrivals | None = None  # more of them, opening positions during the run
    # Share of each account's cross collateral held in other assets (the rest in USD).
    collateral_mix: dict[str, Fraction] = {}
    stops: Stops | None = None  # stop-loss orders on the positions held at the start
    dip_buyers: DipBuyers | None = None  # more of them, resting limit bids below the market
    momentum: Momentum | None = None  # more of them, opening shorts once a market has fallen

    @model_validator(mode="before")
    @classmethod
    def _derived_counts(cls, data: object) -> object:
        """``count`` from ``target_oi`` (when not given), then the arrivals' count from their
        ``share`` of it (always: it follows the block's count when that is changed)."""
        if not isinstance(data, dict):
            return data
        target = data.get("target_oi")
        if target and isinstance(target, dict):  # else the field's own check names it
            data = dict(data)
            data.setdefault("markets", dict(target))
            if "count" not in data:
                notional = Notional.model_validate(data.get("notional", {}))
                data["count"] = max(1, round(sum(float(v) for v in target.values())
                                             / notional.mean()))
        arrivals = data.get("arrivals")
        if isinstance(arrivals, dict) and arrivals.get("share") is not None:
            try:
                count = round(float(parse_fraction(arrivals["share"])) * float(data["count"]))
            except (KeyError, TypeError, ValueError):
                return data  # the fields' own checks name the problem
            data = dict(data)
            data["arrivals"] = {**arrivals, "count": max(1, count)}
        return data

    @model_validator(mode="after")
    def _targets_traded(self) -> Population:
        for name in self.target_oi or {}:
            if self.markets.get(name, 0) <= 0:
                raise ValueError(f"target_oi: {name!r} needs a positive weight in markets")
        return self

    @field_validator("leverage")
    @classmethod
    def _leverage(cls, mix: dict[float, float]) -> dict[float, float]:
        if not mix or sum(mix.values()) <= 0:
            raise ValueError("the leverage mix needs at least one positive weight")
        bad = [lev for lev in mix if lev < 1]
        if bad:
            raise ValueError(f"leverage must be at least 1 (got {bad[0]:g})")
        return mix

    @field_validator("spare_collateral")
    @classmethod
    def _spare(cls, mix: dict[float, float]) -> dict[float, float]:
        if mix and sum(mix.values()) <= 0:
            raise ValueError("the spare collateral mix needs at least one positive weight")
        return mix

    def spare_arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Spare multiples and weights sorted by multiple (None: no spare collateral)."""
        if not self.spare_collateral:
            return None
        pairs = sorted(self.spare_collateral.items())
        return np.array([p[0] for p in pairs], dtype=float), np.array([p[1] for p in pairs])

    @field_validator("markets")
    @classmethod
    def _weights(cls, mix: dict[str, float]) -> dict[str, float]:
        if not mix or sum(mix.values()) <= 0:
            raise ValueError("the market mix needs at least one positive weight")
        return mix

    def leverage_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Leverage values and weights, sorted by leverage: a mapping has no order, so the
        draws must not depend on the order the mix was written in."""
        pairs = sorted(self.leverage.items())
        return np.array([p[0] for p in pairs], dtype=float), np.array([p[1] for p in pairs])


class Clock(Strict):
    oracle_interval: Duration = Field(default="1s", gt=0)
    sample_interval: Duration = Field(default="10s", gt=0)

    @model_validator(mode="after")
    def _grid(self) -> Clock:
        # Samples are taken at the end of oracle ticks, so they must fall on the oracle grid.
        if self.sample_interval % self.oracle_interval:
            raise ValueError("sample_interval must be a whole multiple of oracle_interval")
        return self
