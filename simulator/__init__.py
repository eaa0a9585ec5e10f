"""liqsim's assembly, as a pipeline: ``config`` -> ``run`` -> ``sweep`` -> ``charts`` -> ``report``
-> ``cli``; a package never imports one later in that order.

The notebook interface::

    from simulator import Scenario, load_scenario, default_scenario, run, RunResult
    result = run(default_scenario(), seed=7)
    result.summary, result.events, result.timeseries, result.cascade, result.exposure

Importing this package does nothing but define things.
"""

from simulator.config import Scenario, ScenarioError, load_scenario
from simulator.config.scenarios import builtin_scenarios, default_scenario, load_builtin
from simulator.errors import RunFailed, SimulationError
from simulator.run.result import RunResult
from simulator.run.runner import market_graph, run

__all__ = [
    "RunFailed", "RunResult", "Scenario", "ScenarioError", "SimulationError", "builtin_scenarios",
    "default_scenario", "load_builtin", "load_scenario", "market_graph", "run",
]
