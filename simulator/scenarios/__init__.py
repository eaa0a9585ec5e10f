"""Built-in scenarios shipped with the package (``liqsim scenarios`` lists them)."""

from __future__ import annotations

from importlib import resources

from simulator.config import Scenario, load_scenario

DEFAULT = "default"


def _files() -> dict[str, object]:
    root = resources.files(__name__)
    return {p.name.removesuffix(".yaml"): p for p in root.iterdir() if p.name.endswith(".yaml")}


def builtin_scenarios() -> dict[str, str]:
    """Built-in scenario names and their one-line descriptions, sorted by name."""
    out = {}
    for name, path in sorted(_files().items()):
        sc = load_builtin(name)
        # The first sentence of the description's first paragraph.
        paragraph = " ".join(sc.description.strip().split("\n\n")[0].split())
        out[name] = paragraph.split(". ")[0].rstrip(".") + "." if paragraph else ""
        del path
    return out


def load_builtin(name: str) -> Scenario:
    files = _files()
    if name not in files:
        from simulator.config import ScenarioError

        known = ", ".join(sorted(files))
        raise ScenarioError(f"no built-in scenario {name!r} (built-ins: {known})")
    with resources.as_file(files[name]) as path:
        return load_scenario(path)


def default_scenario() -> Scenario:
    return load_builtin(DEFAULT)
