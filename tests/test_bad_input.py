"""Non-finite numbers are refused at validation, with the field path, in one line and exit 2.

The corpus is generated from the built-in default scenario: every numeric leaf of the document
gets each of ``.inf``, ``-.inf``, ``.nan`` and ``1e400`` (which PyYAML reads as a string and a
float conversion turns into infinity), and durations get ``1e400s``. Before, such values passed
validation and the run died in a traceback or ran "complete" on NaN positions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from simulator.cli import app

ROOT = Path(__file__).resolve().parent.parent
BASE = yaml.safe_load((ROOT / "simulator" / "scenarios" / "default.yaml").read_text())
NON_FINITE = (".inf", "-.inf", ".nan", "1e400")


def _leaves(node, path=()):
    """(path, value) of every number or unit string (durations, percentages) in the document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for k, v in enumerate(node):
            yield from _leaves(v, (*path, k))
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield path, node
    elif isinstance(node, str) and node[:1].isdigit() | node[:1].startswith("-") and \
            node.rstrip("%smhd").lstrip("-").replace(".", "", 1).isdigit():
        yield path, node


def _dotted(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _cases():
    for path, value in _leaves(BASE):
        if path[-1] == "seed":
            continue  # an integer seed: .inf is a wrong type there, covered elsewhere
        if isinstance(value, str) and value[-1] in "smhd" and not value.endswith("%"):
            yield pytest.param(path, "1e400s", id=f"{_dotted(path)}=1e400s")
            continue
        for bad in NON_FINITE:
            text = bad if not (isinstance(value, str) and value.endswith("%")) else "inf%"
            yield pytest.param(path, text, id=f"{_dotted(path)}={text}")


CASES = list(_cases())


def _with(path, text: str) -> str:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = "__BAD__"
    return yaml.safe_dump(data, sort_keys=False).replace("__BAD__", text)


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 100


@pytest.mark.parametrize(("path", "text"), CASES)
def test_non_finite_numbers_are_refused_with_the_field_path(tmp_path, path, text):
    file = tmp_path / "bad.yaml"
    file.write_text(_with(path, text))
    result = CliRunner().invoke(app, ["validate", str(file)])
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert _dotted(path) in " ".join(output.split()), output
