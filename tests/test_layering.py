"""Tests for the project's layering and ground rules (DESIGN sections 2 and 3): imports point
one way (markets <- agents <- simulator <- experiments), no module uses numpy's or Python's
global random state, and importing a module does nothing but define things."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("markets", "agents", "simulator", "experiments")
FORBIDDEN = {
    "markets": {"agents", "simulator", "experiments"},
    "agents": {"simulator", "experiments"},
    "simulator": {"experiments"},
}
# numpy.random attributes that are fine: explicit generators and seed plumbing. default_rng is
# fine only with an argument (checked separately).
NP_RANDOM_OK = {"Generator", "PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937", "SeedSequence",
                "BitGenerator", "default_rng"}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names (relative ones resolved)."""
    found: set[str] = set()
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def global_rng_calls(tree: ast.AST) -> list[str]:
    """Calls that use numpy's or Python's global random state, as readable strings."""
    numpy_names, np_random_names, random_names = set(), set(), set()
    banned_functions: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if alias.name == "numpy" or (alias.name.startswith("numpy.") and not alias.asname):
                    numpy_names.add(bound)
                if alias.name == "numpy.random" and alias.asname:
                    np_random_names.add(alias.asname)
                if alias.name == "random":
                    random_names.add(bound)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for alias in node.names:
                bound = alias.asname or alias.name
                if node.module == "numpy" and alias.name == "random":
                    np_random_names.add(bound)
                elif node.module == "numpy.random" and alias.name not in NP_RANDOM_OK:
                    banned_functions[bound] = f"numpy.random.{alias.name}"
                elif node.module == "numpy.random" and alias.name == "default_rng":
                    banned_functions.setdefault(f"?{bound}", "")  # checked by argument below
                elif node.module == "random":
                    banned_functions[bound] = f"random.{alias.name}"

    def np_random_attr(func: ast.expr) -> str | None:
        """'seed' for np.random.seed(...) / npr.seed(...), else None."""
        if not isinstance(func, ast.Attribute):
            return None
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id in np_random_names:
            return func.attr
        if (isinstance(owner, ast.Attribute) and owner.attr == "random"
                and isinstance(owner.value, ast.Name) and owner.value.id in numpy_names):
            return func.attr
        return None

    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        attr = np_random_attr(func)
        if attr is not None:
            if attr not in NP_RANDOM_OK:
                bad.append(f"line {node.lineno}: numpy.random.{attr}()")
            elif attr == "default_rng" and not (node.args or node.keywords):
                bad.append(f"line {node.lineno}: numpy.random.default_rng() without a seed")
        elif (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
              and func.value.id in random_names):
            bad.append(f"line {node.lineno}: random.{func.attr}()")
        elif isinstance(func, ast.Name) and func.id in banned_functions:
            bad.append(f"line {node.lineno}: {banned_functions[func.id]}()")
        elif (isinstance(func, ast.Name) and f"?{func.id}" in banned_functions
              and not (node.args or node.keywords)):
            bad.append(f"line {node.lineno}: numpy.random.default_rng() without a seed")
    return bad


# ------------------------------------------------------------------------- import direction


def test_packages_exist():
    for package in ("markets", "agents", "simulator"):
        assert len(modules(package)) >= 3, package


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package):
    problems = []
    for path in modules(package):
        tree = ast.parse(path.read_text(), filename=str(path))
        for name in sorted(imported_modules(tree, path)):
            if name.split(".")[0] in FORBIDDEN[package]:
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


def test_import_checker_sees_violations():
    tree = ast.parse(textwrap.dedent("""
        import simulator.run.runner
        from agents import population
        from . import book
        from ..simulator import cli
        def f():
            from experiments import x
    """))
    found = imported_modules(tree, ROOT / "markets" / "venue.py")
    assert {"simulator.run.runner", "agents", "markets", "simulator", "experiments"} <= found
    assert "markets.book" in found and "simulator.cli" in found


# --------------------------------------------------------------------------- no global RNG


@pytest.mark.parametrize("package", ["markets", "agents", "simulator"])
def test_no_global_rng(package):
    problems = []
    for path in modules(package):
        tree = ast.parse(path.read_text(), filename=str(path))
        problems += [f"{path.relative_to(ROOT)} {call}" for call in global_rng_calls(tree)]
    assert problems == []


def test_rng_checker_sees_global_calls():
    tree = ast.parse(textwrap.dedent("""
        import numpy as np
        import numpy
        import random
        import numpy.random as npr
        from numpy.random import normal
        from random import shuffle
        np.random.seed(1)
        np.random.rand(3)
        numpy.random.normal()
        npr.uniform()
        random.random()
        normal()
        shuffle([])
        np.random.default_rng()
        rng = np.random.default_rng(7)
        g = np.random.Generator(np.random.PCG64(np.random.SeedSequence(1)))
        rng.random(3)
        rng.normal(size=2)
    """))
    found = global_rng_calls(tree)
    assert len(found) == 8, found
    assert any("seed" in f for f in found)
    assert any("default_rng() without a seed" in f for f in found)
    assert not any("Generator" in f or "PCG64" in f or "SeedSequence" in f for f in found)


# --------------------------------------------------------------------- imports do nothing


def all_module_names() -> list[str]:
    names = []
    for package in ("markets", "agents", "simulator"):
        names += [module_name(p) for p in modules(package)]
    return names


def test_importing_every_module_does_nothing_observable(tmp_path):
    names = all_module_names()
    assert "simulator.cli" in names and "markets.venue" in names
    code = textwrap.dedent(f"""
        import importlib, json, logging, os, sys, threading
        import numpy as np
        state = np.random.get_state()[1].tolist()
        handlers = len(logging.getLogger().handlers)
        threads = threading.active_count()
        for name in {names!r}:
            importlib.import_module(name)
        print(json.dumps({{
            "rng_unchanged": np.random.get_state()[1].tolist() == state,
            "handlers": len(logging.getLogger().handlers) - handlers,
            "threads": threading.active_count() - threads,
            "cwd": sorted(os.listdir(".")),
        }}))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
           "MPLCONFIGDIR": str(tmp_path / "mpl")}
    work = tmp_path / "cwd"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.stdout.strip().splitlines() == [proc.stdout.strip()]  # nothing else printed
    assert report == {"rng_unchanged": True, "handlers": 0, "threads": 0, "cwd": []}
    assert list(work.iterdir()) == []


def _module_graph():
    """Project module -> project modules it imports anywhere in its body (lazy ones too)."""
    import networkx as nx

    paths = [p for pkg in PACKAGES for p in modules(pkg)]
    names = {module_name(p) for p in paths}
    graph = nx.DiGraph()
    for path in paths:
        source = module_name(path)
        graph.add_node(source)
        for target in imported_modules(ast.parse(path.read_text()), path):
            # ``from markets import liquidation`` names the module markets.liquidation.pipeline; a
            # package's own __init__ is not an edge of its modules.
            if target in names and target != source and not source.startswith(target + "."):
                if not (path.name == "__init__.py" and target.startswith(source + ".")):
                    graph.add_edge(source, target)
    return graph


def test_no_import_cycles_anywhere_in_the_project():
    import networkx as nx

    cycles = sorted(sorted(c) for c in nx.simple_cycles(_module_graph()))
    assert cycles == [], f"import cycles: {cycles}"


def test_markets_imports_neither_simpy_nor_pydantic():
    for path in modules("markets"):
        found = imported_modules(ast.parse(path.read_text()), path)
        bad = sorted(n for n in found if n.split(".")[0] in {"simpy", "pydantic"})
        assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


# ------------------------------------------------------------- layers inside the packages
# Lowest first; a module may import its own layer or lower ones, never a higher one. The
# sub-package (or loose module) right under the package names the layer.
LAYERS = {
    "markets": [
        {"prices", "book", "events", "rules", "insurance_fund", "risk_controls", "attribution",
         "market_graph", "counters", "disruptions", "collateral", "stops", "flows", "inverse",
         "absorption", "depth_schedule"},
        {"margin"},
        {"venue", "market", "funding", "arbitrage", "wiring", "maker_balance", "transfers"},
        {"liquidation"},
    ],
    "simulator": [{"errors", "config"}, {"run"}, {"sweep", "risk"}, {"charts"},
                  {"report", "calibrate"}, {"cli"}],
}


def layer_of(module: str) -> tuple[str, int] | None:
    """(package, layer index) of a project module, None for a package's own __init__."""
    parts = module.split(".")
    if parts[0] not in LAYERS or len(parts) < 2:
        return None
    for rank, layer in enumerate(LAYERS[parts[0]]):
        if parts[1] in layer:
            return parts[0], rank
    raise AssertionError(f"{module} is in no layer of {parts[0]}: add it to LAYERS")


def layer_violations(edges) -> list[str]:
    bad = []
    for source, target in edges:
        a, b = layer_of(source), layer_of(target)
        if a is not None and b is not None and a[0] == b[0] and b[1] > a[1]:
            bad.append(f"{source} imports {target} (a higher layer)")
    return sorted(bad)


def test_no_import_runs_up_the_layers():
    assert layer_violations(_module_graph().edges) == []


def test_layer_checker_sees_violations():
    edges = [("markets.margin.accounts", "markets.venue"),
             ("markets.venue", "markets.liquidation.pipeline"),
             ("markets.liquidation.adl", "markets.venue"),
             ("simulator.run.result", "simulator.charts.run"),
             ("simulator.sweep.compare", "simulator.run.runner"),
             ("simulator.config.scenario", "simulator.cli")]
    assert layer_violations(edges) == [
        "markets.margin.accounts imports markets.venue (a higher layer)",
        "markets.venue imports markets.liquidation.pipeline (a higher layer)",
        "simulator.config.scenario imports simulator.cli (a higher layer)",
        "simulator.run.result imports simulator.charts.run (a higher layer)",
    ]


def test_every_module_has_a_layer():
    for name in _module_graph().nodes:
        layer_of(name)  # raises for a module no layer names


@pytest.mark.parametrize("package", ["simulator/run", "simulator/sweep"])
def test_run_and_sweep_draw_nothing(package):
    """Not even lazily: saving a run never draws; charts are drawn from a saved run."""
    for path in sorted((ROOT / package).rglob("*.py")):
        found = imported_modules(ast.parse(path.read_text()), path)
        bad = sorted(n for n in found if n.split(".")[0] == "matplotlib"
                     or n.startswith(("simulator.charts", "simulator.report")))
        assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"
