"""The interface through which venues report what happens, and the event log's schema.

Markets emit events through the ``EventSink`` protocol; the simulator's recorder implements it.
Keeping only the protocol here lets ``markets`` report without knowing who records (no import of
``simulator``, SimPy or pydantic). ``NullSink`` numbers events and forgets them, for pure tests.
A ``Signal`` is a list of listeners a venue calls when something happens that others may react
to (a breach queued, a margin call issued); listeners subscribe, so a second one never replaces
the first.

The schema: ``EventKind`` names every kind of event, ``Mechanism`` how a liquidated position
left its account, ``Reason`` why a trade, fund movement, auction event, halt or refusal
happened. ``COLUMNS`` maps every column of the event log to its dtype; ``SHARED`` columns are
common to all kinds (with their own "empty" values: -1, 0, NaN, ""), and ``KIND_COLUMNS`` says
which of the other, typed columns each kind fills (always, or only sometimes); a column a kind
does not use is missing (NaN / <NA>).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

NAN = math.nan


class EventKind(StrEnum):
    SHOCK = "shock"
    TRADE = "trade"
    MARGIN_CALL = "margin_call"
    TOP_UP = "top_up"
    WITHDRAWAL = "withdrawal"  # collateral taken out of a venue (an arbitrageur's transfer)
    LIQUIDATION = "liquidation"
    RECOVERED = "recovered"
    BACKSTOP = "backstop"
    INSURANCE_FUND = "insurance_fund"
    BANKRUPTCY = "bankruptcy"
    ADL = "adl"
    SOCIALIZED_LOSS = "socialized_loss"
    VENUE_LOSS = "venue_loss"
    AUCTION = "auction"
    FUNDING = "funding"
    MARGIN_MULTIPLIER = "margin_multiplier"
    CIRCUIT_BREAKER = "circuit_breaker"
    REJECTED = "rejected"
    DEPTH = "depth"
    MAKER_LIMIT = "maker_limit"
    DISRUPTION = "disruption"


class Mechanism(StrEnum):
    """How (part of) a liquidated position left the account."""

    MARKET = "market"  # down the waterfall: book, fund takeover, ADL
    VAULT = "vault"  # taken over whole by the backstop vault at the mark
    AUCTION = "auction"  # taken by a keeper in a Dutch auction


class Share(StrEnum):
    """Why a market close took less than the whole position."""

    PARTIAL = "partial"  # a partial liquidation, back to the target margin
    CHUNK = "chunk"  # one chunk of a position closed in pieces


class Reason(StrEnum):
    """Why an event happened, for the kinds that have more than one cause."""

    # shock: a scripted move of a fundamental (no reason), or a venue's depeg of a collateral
    DEPEG = "depeg"
    # trade: whose order walked the book
    ORDER = "order"
    LIQUIDATION = "liquidation"
    UNWIND = "unwind"
    ARBITRAGE = "arbitrage"
    STOP = "stop"  # a trader's stop-loss order
    DIP_BUY = "dip_buy"  # a dip buyer's resting bid, reached
    MOMENTUM = "momentum"  # a momentum seller's short into a fall
    # insurance_fund (and venue_loss): what moved the fund's money
    BAD_DEBT = "bad_debt"
    CLAWBACK = "clawback"
    FEE = "fee"
    TAKEOVER = "takeover"
    OFFLOAD = "offload"
    SURPLUS = "surplus"
    # auction
    START = "start"
    FAILED = "failed"
    # circuit_breaker (what it halts) and rejected (why the order was refused)
    LIQUIDATIONS_HALTED = "liquidations_halted"
    TRADING_HALTED = "trading_halted"
    OPEN_INTEREST_CAP = "open_interest_cap"
    DEPOSITS_HALTED = "deposits_halted"
    WITHDRAWALS_HALTED = "withdrawals_halted"
    # disruption: what stopped working
    MATCHING = "matching"
    ORACLE = "oracle"
    API = "api"
    DEPOSITS = "deposits"
    WITHDRAWALS = "withdrawals"
    # maker_limit: the maker's loss crossed its limit, or came back under it
    LOSS_LIMIT = "loss_limit"
    RESUMED = "resumed"


HALTS = {"liquidations": Reason.LIQUIDATIONS_HALTED, "trading": Reason.TRADING_HALTED}

# Every column of the event log, in order, with its dtype.
COLUMNS: dict[str, str] = {
    "time_ms": "int64", "seq": "int64", "kind": "string", "venue": "string", "market": "string",
    "account": "int64", "side": "int8", "qty": "float64", "price": "float64",
    "notional": "float64", "generation": "int16", "cause": "int64", "amount": "float64",
    "balance": "float64",
    "mechanism": "string",  # Mechanism: liquidation
    "reason": "string",  # Reason: trade, insurance_fund, venue_loss, auction, breaker, rejected
    "asset": "string",  # the shocked asset: shock
    "detected_ms": "Int64",  # when the breach was detected: liquidation
    "bankruptcy_price": "float64",  # liquidation (market close), adl
    "mark_price": "float64",  # the mark at deleveraging: adl
    "partial_fraction": "float64",  # share of the position a partial liquidation closed
    "chunk_fraction": "float64",  # share of the position one chunk closed
    "keeper": "Int64",  # the keeper row that took the position: liquidation (auction)
    "book_exhausted": "boolean",  # the order walked past the last level: trade
    "vol": "float64",  # annualised volatility: margin_multiplier, depth (realised)
    "until_ms": "Int64",  # when the halt ends: circuit_breaker
}
# Columns every kind has (with -1 / 0 / NaN / "" where they do not apply).
SHARED = ("time_ms", "seq", "kind", "venue", "market", "account", "side", "qty", "price",
          "notional", "generation", "cause", "amount", "balance")
TYPED = tuple(c for c in COLUMNS if c not in SHARED)


@dataclass(frozen=True)
class KindColumns:
    """The typed columns a kind fills: ``always``, and ``sometimes`` (NaN / <NA> otherwise)."""

    always: tuple[str, ...] = ()
    sometimes: tuple[str, ...] = ()

    @property
    def used(self) -> tuple[str, ...]:
        return self.always + self.sometimes


KIND_COLUMNS: dict[EventKind, KindColumns] = {
    EventKind.SHOCK: KindColumns(("asset",), ("reason",)),  # reason: depeg (a venue's own)
    EventKind.TRADE: KindColumns(("reason", "book_exhausted")),
    EventKind.LIQUIDATION: KindColumns(
        ("mechanism", "detected_ms"),
        ("bankruptcy_price", "partial_fraction", "chunk_fraction", "keeper")),
    EventKind.INSURANCE_FUND: KindColumns(("reason",)),
    EventKind.VENUE_LOSS: KindColumns(("reason",)),
    EventKind.ADL: KindColumns(("bankruptcy_price", "mark_price")),
    EventKind.AUCTION: KindColumns(("reason",)),
    EventKind.MARGIN_MULTIPLIER: KindColumns(("vol",)),
    EventKind.CIRCUIT_BREAKER: KindColumns(("reason", "until_ms")),
    EventKind.REJECTED: KindColumns(("reason",)),
    EventKind.DEPTH: KindColumns(("vol",)),
    EventKind.MAKER_LIMIT: KindColumns(("reason",)),
    EventKind.DISRUPTION: KindColumns(("reason", "until_ms")),
}
# What each liquidation mechanism fills beyond ``mechanism`` and ``detected_ms``.
MECHANISM_COLUMNS: dict[Mechanism, KindColumns] = {
    Mechanism.MARKET: KindColumns(("bankruptcy_price",), ("partial_fraction", "chunk_fraction")),
    Mechanism.VAULT: KindColumns(),
    Mechanism.AUCTION: KindColumns(("keeper",)),
}


class EventSink(Protocol):
    def emit(
        self, kind: EventKind, time_ms: int, venue: str, market: str = "", account: int = -1,
        side: int = 0, qty: float = NAN, price: float = NAN, notional: float = NAN,
        generation: int = 0, cause: int = -1, amount: float = NAN, balance: float = NAN,
        **typed: object,
    ) -> int:
        """Record one event; returns its sequence number (strictly increasing). ``typed`` are
        the kind's columns of ``TYPED`` (``KIND_COLUMNS``); any not given is missing."""
        ...

    def edge(
        self, parent: int, child: int, kind: str = "waterfall", share: float = NAN,
    ) -> None:
        """Record that event ``parent`` caused event ``child`` (the cascade graph): ``kind``
        is how (a price move's channel: ``book``, ``cross_impact``, ``index``, ``arbitrage``;
        or ``waterfall`` for what a liquidation set off), ``share`` the parent's part of the
        generation's harm the child needed (moves only)."""
        ...


class NullSink:
    """Counts events without keeping them."""

    def __init__(self) -> None:
        self.seq = -1

    # ``market`` may come positionally, as venues pass it (the protocol's fourth parameter).
    def emit(
        self, kind: EventKind, time_ms: int, venue: str, market: str = "", **fields: object,
    ) -> int:
        self.seq += 1
        return self.seq

    def edge(
        self, parent: int, child: int, kind: str = "waterfall", share: float = NAN,
    ) -> None:
        return None


class Signal:
    """Listeners called in the order they subscribed, with the arguments the venue passes."""

    def __init__(self) -> None:
        self._listeners: list[Callable[..., object]] = []

    def subscribe(self, listener: Callable[..., object]) -> None:
        self._listeners.append(listener)

    def __call__(self, *args: object) -> None:
        for listener in self._listeners:
            listener(*args)

    def __len__(self) -> int:
        return len(self._listeners)
