"""Calibration: fit a scenario's parameters to target figures by a seeded scipy search.

``spec`` reads the calibration file, ``search`` runs the search (``calibrate``), ``report``
writes its folder (fitted scenario, fit report, history, chart).
"""

from simulator.calibrate.search import Fit, calibrate, mean_ci
from simulator.calibrate.spec import (
    CalibrationError,
    CalibrationSpec,
    load_calibration,
    parse_calibration,
)

__all__ = ["CalibrationError", "CalibrationSpec", "Fit", "calibrate", "load_calibration",
           "mean_ci", "parse_calibration"]
