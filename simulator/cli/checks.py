"""Checks the command line makes before it runs anything: the file's kind and the memory.

A scenario file handed to ``liqsim sweep`` (or a sweep file to ``liqsim run``) is told so in
one line instead of a list of unknown keys; a scenario whose estimated memory exceeds what
the machine has is refused in one line (``--no-memory-check`` skips that). Every refusal is a
``ScenarioError``, so the commands print it as they print any bad input (exit 2).

Knows the scenario and sweep formats (their top-level keys) and the memory estimate; it does
not run, print or know Typer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from simulator.config import Scenario, ScenarioError, memory
from simulator.config.scenario import read_document

Kind = Literal["scenario", "sweep"]


def _top_level_keys() -> tuple[set[str], set[str]]:
    from simulator.sweep.spec import SweepSpec

    scenario, sweep = set(Scenario.model_fields), set(SweepSpec.model_fields)
    return scenario - sweep, sweep - scenario


def document_kind(data: Any) -> Kind | None:
    """"sweep" or "scenario" by the top-level keys only its format has (``base``, ``axes``,
    ``variants``, ``replications`` ... against ``duration``, ``assets``, ``venues`` ...);
    None when the data is not a mapping or has neither's own keys."""
    if not isinstance(data, dict):
        return None
    scenario_only, sweep_only = _top_level_keys()
    keys = {str(k) for k in data}
    scenario, sweep = len(keys & scenario_only), len(keys & sweep_only)
    if scenario == sweep:
        return None
    return "scenario" if scenario > sweep else "sweep"


def file_kind(path: Path) -> Kind | None:
    """The kind of a file's document; None when it cannot be read or parsed (the loader
    then reports why) or its keys do not tell."""
    try:
        _, data = read_document(path, "scenario")
    except ScenarioError:
        return None
    return document_kind(data)


def expect_kind(path: Path, wanted: Kind) -> None:
    """Refuse, in one line, a file of the other kind than the command reads."""
    if not path.is_file() or file_kind(path) in (None, wanted):
        return
    if wanted == "sweep":
        raise ScenarioError(
            f"{path} is a scenario, not a sweep: run it with `liqsim run {path}`, or write a "
            f"sweep file that names it (base: {path.name}) and lists the axes to vary")
    raise ScenarioError(
        f"{path} is a sweep, not a scenario: run it with `liqsim sweep {path}`, or run its "
        f"base scenario with `liqsim run`")


def check_memory(scenario: Scenario, workers: int = 1, what: str = "this scenario",
                 available: int | None = None) -> None:
    """Refuse a scenario whose estimated memory (times ``workers`` runs at once) exceeds the
    available memory (default: ``memory.available_bytes()``; unknown: no check)."""
    available = memory.available_bytes() if available is None else available
    if available is None:
        return
    need = memory.estimate(scenario)
    total = need.bytes * workers
    if total <= available:
        return
    times = (f" × {workers} workers = {memory.format_bytes(total)}" if workers > 1 else "")
    raise ScenarioError(
        f"{what} needs about {memory.format_bytes(need.bytes)} ({need.driver}){times}; this "
        f"machine has {memory.format_bytes(available)} available (--no-memory-check to run "
        f"anyway)")


def check_sweep_memory(scenarios: list[Scenario], workers: int = 1,
                       available: int | None = None) -> None:
    """``check_memory`` for the sweep's largest run, ``workers`` of them at once."""
    if scenarios:
        largest = max(scenarios, key=lambda sc: memory.estimate(sc).bytes)
        check_memory(largest, workers, "each run of this sweep" if workers > 1 else
                     "the largest run of this sweep", available)


def describe_sweep(path: Path, memory_check: bool = True) -> str:
    """Load and plan a sweep file (every run's scenario validated): its one-line summary."""
    from simulator.sweep import load_sweep, plan
    from simulator.sweep.plan import cells

    spec = load_sweep(path)
    runs = plan(spec)
    if memory_check:
        check_sweep_memory([r.scenario for r in runs])
    base = spec.base if spec.base == "default" else Path(spec.base).name
    counts = (_plural(len(cells(spec)), "cell"), _plural(len(spec.variants), "variant"),
              _plural(spec.replications, "replication"))
    return (f"ok: sweep {spec.name}: {_plural(len(runs), 'run')} planned "
            f"({' × '.join(counts)}), base {base}")


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
