"""liqsim's assembly: scenario configuration, build -> run -> collect, results, plots, CLI.

The notebook interface::

    from simulator import Scenario, load_scenario, default_scenario, run, RunResult
    result = run(default_scenario(), seed=7)
    result.summary, result.events, result.timeseries, result.cascade, result.exposure

Importing this package does nothing but define things.
"""

from simulator.config import Scenario, ScenarioError, load_scenario
from simulator.errors import RunFailed, SimulationError
from simulator.result import RunResult
from simulator.runner import run
from simulator.scenarios import builtin_scenarios, default_scenario, load_builtin

__all__ = [
    "RunFailed", "RunResult", "Scenario", "ScenarioError", "SimulationError", "builtin_scenarios",
    "default_scenario", "load_builtin", "load_scenario", "run",
]
