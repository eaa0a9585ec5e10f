"""Built-in scenarios (``liqsim scenarios`` lists them, ``liqsim run NAME`` runs one).

The package's own files come first; when the project's ``experiments/scenarios/`` folder is
there (a source checkout: it is not shipped in the wheel), ``load_builtin`` also finds its files
by name, unless the name clashes with one of the package's, which wins. ``builtin_scenarios``
lists the package's own unless asked for the experiment files too (``liqsim scenarios`` is).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from simulator.config import Scenario, ScenarioError, load_scenario
from simulator.config.scenario import did_you_mean

DEFAULT = "default"
# <repo>/simulator/config/scenarios/__init__.py -> <repo>/experiments/scenarios
EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments" / "scenarios"


def _files(experiments: bool = True) -> dict[str, object]:
    root = resources.files(__name__)
    files: dict[str, object] = {
        p.name.removesuffix(".yaml"): p for p in root.iterdir() if p.name.endswith(".yaml")
    }
    if experiments and EXPERIMENTS.is_dir():
        for path in sorted(EXPERIMENTS.glob("*.yaml")):
            files.setdefault(path.stem, path)  # the package's own built-in wins a clash
    return files


def _first_sentence(description: str) -> str:
    """The first sentence of the description's first paragraph."""
    paragraph = " ".join(description.strip().split("\n\n")[0].split())
    return paragraph.split(". ")[0].rstrip(".") + "." if paragraph else ""


def builtin_scenarios(experiments: bool = False) -> dict[str, str]:
    """Built-in scenario names and their one-line descriptions, sorted by name.

    With ``experiments``, also the files of ``experiments/scenarios/`` (when that folder is
    there). A file that cannot be loaded (e.g. a replay whose data is missing) is listed with a
    note saying so instead of a description, so that listing never fails.
    """
    out = {}
    for name in sorted(_files(experiments)):
        try:
            out[name] = _first_sentence(load_builtin(name).description)
        except ScenarioError as exc:
            reason = " ".join(str(exc).split())
            out[name] = f"(cannot be loaded: {reason})"
    return out


def load_builtin(name: str) -> Scenario:
    files = _files()
    if name not in files:
        known = ", ".join(sorted(files))
        raise ScenarioError(
            f"no built-in scenario {name!r}{did_you_mean(name, sorted(files))} (built-ins: {known})"
        )
    source = files[name]
    if isinstance(source, Path):
        return load_scenario(source)
    with resources.as_file(source) as path:
        return load_scenario(path)


def default_scenario() -> Scenario:
    return load_builtin(DEFAULT)
