"""Parsing of the scenario's human units: durations ("500ms", "10m") and fractions ("-12%").

Used by the pydantic models as before-validators; a bad value raises ``ValueError`` with a
message that says what was expected. Knows nothing else.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|min|m|h|d)\s*$")


def parse_duration(value: object) -> int:
    """A duration with a unit to integer milliseconds ("1.5s" -> 1500). Bare 0 is allowed."""
    if isinstance(value, bool):
        raise ValueError("a duration needs a unit, e.g. '500ms', '30s', '10m', '8h'")
    if isinstance(value, int | float) and value == 0:
        return 0
    if not isinstance(value, str):
        raise ValueError(
            f"a duration needs a unit, e.g. '500ms', '30s', '10m', '8h' (got {value!r})"
        )
    match = _DURATION.match(value)
    if not match:
        raise ValueError(
            f"cannot read duration {value!r}: use a number and a unit (ms, s, m, h, d)"
        )
    ms = float(match.group(1)) * _UNITS_MS[match.group(2)]
    if not math.isfinite(ms):
        raise ValueError(f"duration {value!r} is not a finite number of milliseconds")
    if abs(ms - round(ms)) > 1e-9:
        raise ValueError(f"duration {value!r} is not a whole number of milliseconds")
    return int(round(ms))


def format_duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_fraction(value: object) -> float:
    """A fraction, given as a number (0.05) or a percentage / basis points ("5%", "1bp")."""
    if isinstance(value, bool):
        raise ValueError("expected a number or a percentage such as '5%'")
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                number = float(text[:-1]) / 100.0
            elif text.endswith("bp"):
                number = float(text[:-2]) / 10_000.0
            else:
                number = float(text)
        except ValueError:
            pass
    if number is not None:
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    raise ValueError(f"expected a number or a percentage such as '5%' (got {value!r})")


Duration = Annotated[int, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]


def whole_number(value: object) -> object:
    """A count written in scientific notation ("1e6", which YAML reads as a string) is the
    integer it names; anything else is left for the integer check (and its message)."""
    if isinstance(value, str) and "e" in value.lower():
        try:
            number = float(value)
        except ValueError:
            return value
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        if number == int(number):
            return int(number)
    return value
