"""The ``liqsim`` application object and what every command shares: the consoles, the one-line
failure, scenario resolution and the run folder's name.

Bad input (an unknown key, a wrong type, an impossible value, an unreadable file) gets one
readable message naming the field path and exit code 2, never a traceback; ``fail`` is that
message. Knows Typer and rich; runs nothing itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from simulator.config import Scenario, load_scenario
from simulator.config.scenarios import DEFAULT, load_builtin
from simulator.run.provenance import label_slug

NoMemoryCheck = Annotated[bool, typer.Option(
    "--no-memory-check", help="Run even if the estimated memory exceeds what is available.")]
ScenarioArg = Annotated[str | None, typer.Argument(
    help="Scenario file (YAML/JSON) or built-in name; default: the built-in default.")]
SeedOption = Annotated[int | None, typer.Option(help="Random seed (default: the scenario's).")]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a field: path.to.field=value (repeatable).")]

app = typer.Typer(
    add_completion=False, no_args_is_help=True,
    help="Simulate liquidation cascades in crypto perpetual futures.",
)
console = Console()
err = Console(stderr=True)


def package_version() -> str:
    """The installed liqsim version, or "unknown" when the package is not installed."""
    from importlib import metadata

    try:
        return metadata.version("liqsim")
    except metadata.PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        console.print(f"liqsim {package_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Simulate liquidation cascades in crypto perpetual futures."""


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def resolve_scenario(name_or_path: str | None) -> Scenario:
    """A scenario file, or the name of a built-in (default: the built-in default)."""
    if name_or_path is None:
        return load_builtin(DEFAULT)
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml", ".json"):
        return load_scenario(path)
    return load_builtin(name_or_path)


def chosen_scenario(scenario: str | None, overrides: list[str] | None,
                    seed: int | None) -> tuple[Scenario, int]:
    """The scenario a command was given (file or built-in, with its ``--set`` overrides) and
    the seed to use; bad input ends the command with one line (``fail``)."""
    from simulator.cli import checks
    from simulator.config import ScenarioError

    try:
        if scenario is not None:
            checks.expect_kind(Path(scenario), "scenario")
        sc = resolve_scenario(scenario)
        if overrides:
            sc = sc.with_overrides(overrides)
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    if seed is not None and seed < 0:
        raise fail("--seed: seeds are non-negative integers")
    return sc, sc.seed if seed is None else seed


def run_id(scenario: Scenario, seed: int, label: str = "") -> str:
    """Stable folder name: the label's file-safe form (so folders sort by what was run), the
    seed and a hash of the scenario as run (so two runs share a folder only if they are the
    same scenario and seed)."""
    digest = hashlib.sha256(json.dumps(scenario.to_dict(), sort_keys=True).encode()).hexdigest()
    prefix = f"{label_slug(label)}_" if label else ""
    return f"{prefix}seed{seed}-{digest[:10]}"
