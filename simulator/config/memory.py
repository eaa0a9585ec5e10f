"""How much memory a scenario needs, and how much this machine has: checked before a run.

``estimate(scenario)`` is a pure function of the validated scenario (no allocation, no run):
the accounts' position and margin arrays (accounts x markets), what each account costs beyond
them (its draws, risk-index entries, the events it is expected to cause), the books' ladders,
and the sampled time series. ``available_bytes()`` reads the kernel's estimate of the memory
a new process can use (``MemAvailable``, capped by a cgroup limit when there is one).

The constants were calibrated on the built-in default (one venue, 2 markets, a -12% shock),
peak RSS of a fresh process (``resource.getrusage``) minus its RSS after imports, for
``simulator.run.runner.run`` without saving results (2026-12, CPython 3.11, numpy 2.4, Linux):

    accounts   markets  duration  events    peak RSS above imports   estimate
       2,000      2       5m       1,994      18 MiB                   21 MiB
      10,000      1       5m       8,867      33 MiB                   35 MiB
      10,000      2       5m      10,992      40 MiB                   41 MiB
      10,000      2       1h      11,022      41 MiB                   41 MiB
      50,000      2       5m      52,212     166 MiB                  137 MiB
     200,000      1       5m     121,494     348 MiB                  401 MiB
     200,000      2       5m      70,502     327 MiB                  501 MiB

(tracemalloc's peaks were 12 MiB for the 10,000-account run and 235 MiB for the 200,000 one at
2 markets: the rest of the resident growth is allocator slack and modules imported during the
run, which the machine has to hold all the same.)
A least-squares fit of the peaks gives about 10 MiB fixed, 2.3 KiB per event and 0.5 KiB per
account and market; the account's own arrays are small beside that. Events cannot be known
before the run: the estimate assumes one per account (a cascade's order; a calm run has
fewer), so it lands within 0.8x to 1.6x of the measured peaks above. It is used only to refuse
runs that cannot fit, so a factor of two either way is enough.

Knows the scenario models only; nothing here runs, imports the simulator's engine, or prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.config.scenario import Scenario

FIXED = 15 * 2**20  # books' scratch, the event loop, result frames of a tiny run
PER_ACCOUNT = 600  # draws, wallet, flags, risk-index entries, the trader's process state
PER_ACCOUNT_MARKET = 520  # pos/entry/iso-margin/risk arrays and their n x m temporaries
EVENTS_PER_ACCOUNT = 1.0  # opening fills and, in a cascade, liquidations, ADL, fund moves
PER_EVENT = 900  # a 15-field tuple of Python objects, then its typed column
PER_LEVEL = 64  # a book level: depletion, offsets, edges, target (both sides)
PER_SAMPLE = 700  # a 20-field time-series row of Python objects, then its column

MEMINFO = Path("/proc/meminfo")
CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Estimate:
    """Bytes a run of the scenario needs, and what drives it (for the message)."""

    bytes: int
    driver: str  # e.g. "populations[0].count = 1,000,000,000 accounts × 2 markets"


def estimate(scenario: Scenario) -> Estimate:
    """The memory a run of ``scenario`` needs at its peak, roughly (see the module's table)."""
    total = float(FIXED)
    drivers: list[tuple[int, str]] = [(0, "no accounts")]
    for v in scenario.venues:
        markets = len(v.markets)
        explicit = sum(a.venue == v.name for a in scenario.accounts)
        drivers.append((explicit * markets, f"{explicit:,} accounts × {markets} markets"))
        n = 1 + explicit  # row 0: the venue's market maker
        for k, p in enumerate(scenario.populations):
            if p.venue == v.name:
                n += p.count
                drivers.append((p.count * markets, f"populations[{k}].count = {p.count:,} "
                                                    f"accounts × {markets} markets"))
        total += n * (PER_ACCOUNT + PER_ACCOUNT_MARKET * markets + EVENTS_PER_ACCOUNT * PER_EVENT)
        for m in v.markets:
            total += 2 * PER_LEVEL * m.depth.max_distance / m.depth.level_step
    n_markets = sum(len(v.markets) for v in scenario.venues)
    samples = scenario.duration // scenario.clock.sample_interval + 1
    total += samples * n_markets * PER_SAMPLE
    return Estimate(int(total), max(drivers, key=lambda d: d[0])[1])


def available_bytes() -> int | None:
    """Memory a new process can use now: ``MemAvailable`` from /proc/meminfo (else free
    physical pages), lowered to a cgroup v2 limit's headroom; None when unknown."""
    found: int | None = None
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        found = None
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            found = None
    limit = _cgroup_headroom()
    if limit is not None:
        found = limit if found is None else min(found, limit)
    return found


def _cgroup_headroom() -> int | None:
    try:
        text = (CGROUP / "memory.max").read_text().strip()
        if text == "max":
            return None
        used = int((CGROUP / "memory.current").read_text().strip())
        return max(0, int(text) - used)
    except (OSError, ValueError):
        return None


def format_bytes(n: float) -> str:
    """``412 GiB``, ``2.4 TiB``, ``35 MiB``: binary prefixes, a decimal below ten."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:,.1f} {unit}" if n < 10 * size else f"{n / size:,.0f} {unit}"
    return f"{max(n, 0) / 2**10:,.0f} KiB"
