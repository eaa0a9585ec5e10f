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
BASE = yaml.safe_load((ROOT / "simulator" / "config" / "scenarios" / "default.yaml").read_text())
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


# --- the wider corpus: unknown keys, wrong types, bad units, broken files ------------------------
# Every bad input gets exit code 2 and one short message (at most 2 lines), never a traceback;
# where a field is involved, the message names its path.
BOGUS = "bogus_key"


def _mappings(node, path=()):
    """The path of every mapping in the document (the root is ``()``)."""
    if isinstance(node, dict):
        yield path
        for k, v in node.items():
            yield from _mappings(v, (*path, k))
    elif isinstance(node, list):
        for k, v in enumerate(node):
            yield from _mappings(v, (*path, k))


def _at(data, path):
    for part in path:
        data = data[part]
    return data


def _is_duration(value) -> bool:
    return isinstance(value, str) and value[-1:] in "smhd" and not value.endswith("%")


def _is_percent(value) -> bool:
    return isinstance(value, str) and value.endswith("%")


def _document_cases():
    """(id, file text, path the message must name or None, extra text the message must hold)."""
    for path in _mappings(BASE):
        data = yaml.safe_load(yaml.safe_dump(BASE))
        _at(data, path)[BOGUS] = 1
        yield (f"unknown-key@{_dotted(path) or 'root'}", yaml.safe_dump(data, sort_keys=False),
               _dotted(path) or None, BOGUS)
    for path, value in _leaves(BASE):
        if _is_duration(value):
            bads = ("10 parsecs", "-5s", "1e400s", "abc")
        elif _is_percent(value):
            bads = ("inf%", "abc%", "[1, 2]")
        else:
            bads = ('"abc"', "[1, 2]", "{a: 1}")
        for bad in bads:
            yield f"{_dotted(path)}={bad}", _with(path, bad), _dotted(path), None
    for k, _ in enumerate(BASE["populations"]):
        for bad in ("-5", "2.5", "1e400"):  # 0 is allowed: an empty population
            path = ("populations", k, "count")
            yield f"{_dotted(path)}={bad}", _with(path, bad), _dotted(path), None
    for key in ("duration", "name", "assets", "venues"):
        data = yaml.safe_load(yaml.safe_dump(BASE))
        del data[key]
        yield f"missing-{key}", yaml.safe_dump(data, sort_keys=False), key, None
    for text in ("name: x\nduration: [1m\n", "name: x\n  duration: 1m\n", "a: b: c\n",
                 "name: 'unclosed\n", "- a\nb: c\n", "{a: 1\n", "name: x\n\tduration: 1m\n",
                 "key: @bad\n"):
        yield f"yaml-syntax-{text[:12]!r}", text, None, "bad.yaml"
    for text in ("", "\n", "# only a comment\n", "42\n", "just a string\n", "- a list\n"):
        yield f"not-a-mapping-{text[:10]!r}", text, None, None


DOCUMENT_CASES = list(_document_cases())


def _check(result, path, extra):
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, output
    if path is not None:
        assert path in output, output
    if extra is not None:
        assert extra in output, output


def test_the_whole_corpus_is_large_enough():
    assert len(CASES) + len(DOCUMENT_CASES) >= 150


@pytest.mark.parametrize(("text", "path", "extra"), [c[1:] for c in DOCUMENT_CASES],
                         ids=[c[0] for c in DOCUMENT_CASES])
def test_bad_documents_get_one_short_message(tmp_path, text, path, extra):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    _check(CliRunner().invoke(app, ["validate", str(file)]), path, extra)


@pytest.mark.parametrize("blob", [b"\xff\xfe\x00\x01binary", bytes(range(256)),
                                  b"name: x\x00\x01\x02\n", b"\x89PNG\r\n\x1a\n\x00\x00"],
                         ids=["utf16ish", "all-bytes", "nul-bytes", "png-header"])
def test_a_binary_file_gets_one_short_message(tmp_path, blob):
    file = tmp_path / "bad.yaml"
    file.write_bytes(blob)
    _check(CliRunner().invoke(app, ["validate", str(file)]), None, "bad.yaml")


def test_a_yaml_syntax_error_names_line_and_column(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("name: x\nduration: [1m\n")
    result = CliRunner().invoke(app, ["validate", str(file)])
    _check(result, None, "bad.yaml:3:1: not valid YAML")


@pytest.mark.parametrize(("key", "value", "expected"), [
    (("durration",), "15m", "did you mean 'duration'?"),
    (("venues", 0, "insurance_fundd"), 1, "did you mean 'insurance_fund'?"),
    (("venues", 0, "mark", "methdo"), "median", "did you mean 'method'?"),
    (("venues", 0, "preset"), "binanse", "venues[0].preset: unknown preset 'binanse', did you "
                                         "mean 'binance'?"),
    (("populations", 0, "venue"), "cexx", "did you mean 'cex'?"),
])
def test_misspellings_get_a_suggestion(tmp_path, key, value, expected):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    _at(data, key[:-1])[key[-1]] = value
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(app, ["validate", str(file)])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split()), result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_the_run_command_also_refuses_bad_input(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text(_with(("duration",), "1e400s"))
    result = CliRunner().invoke(app, ["run", str(file), "--out", str(tmp_path / "out")])
    _check(result, "duration", None)


# --- bad replay CSVs: each gets one line naming replays[0].csv and the problem ------------------
_HEAD = "open_time,open,high,low,close,volume\n"


def _bars(n: int = 5, close: str = "100.5", at: int = 2) -> str:
    rows = [f"{1_700_000_000_000 + i * 60_000},100,101,99,{close if i == at else '100.5'},3"
            for i in range(n)]
    return _HEAD + "\n".join(rows) + "\n"


REPLAY_CASES = [
    # (id, file content or None for no file, text the message must hold)
    ("missing-file", None, "file not found"),
    ("empty-file", "", "file is empty"),
    ("blank-lines", "\n\n", "file is empty"),
    ("header-only", _HEAD, "no data rows"),
    ("wrong-columns", "time,price\n1,2\n", "missing column(s) open_time, open, high, low, close"),
    ("missing-close", "open_time,open,high,low\n1,2,3,1\n", "missing column(s) close"),
    ("headerless-too-few", "1700000000000,1,2\n", "missing column(s) low, close"),
    ("extra-field", _HEAD + "1700000000000,100,101,99,100,3,7,8\n", "cannot parse CSV"),
    ("non-numeric-price", _bars(close="abc"), "non-numeric value 'abc' in column 'close' at "
                                              "data row 3"),
    ("blank-price", _bars(close=""), "missing value in column 'close' at data row 3"),
    ("nan-price", _bars(close="nan"), "non-finite value 'nan' in column 'close' at data row 3"),
    ("inf-price", _bars(close="inf"), "non-finite value 'inf' in column 'close' at data row 3"),
    ("overflow-price", _bars(close="1e400"), "non-finite value '1e400' in column 'close'"),
    ("negative-price", _bars(close="-5"), "non-positive price -5.0 in column 'close' at data "
                                          "row 3"),
    ("zero-price", _bars(close="0"), "non-positive price 0.0 in column 'close'"),
    ("high-below-low", _HEAD + "1700000000000,100,99,101,100,3\n", "high 99.0 < low 101.0"),
    ("unsorted-times", _HEAD + "1700000060000,1,1,1,1,1\n1700000000000,1,1,1,1,1\n",
     "non-increasing open_time 1700000000000 at data row 2"),
    ("duplicate-times", _HEAD + "1700000000000,1,1,1,1,1\n1700000000000,1,1,1,1,1\n",
     "duplicated open_time 1700000000000 at data row 2"),
    ("fractional-time", _HEAD + "1700000000000.5,1,1,1,1,1\n", "is not an integer"),
    ("huge-time", _HEAD + "1e30,1,1,1,1,1\n", "open_time 1e+30 at data row 1 is out of range"),
    ("inf-time", _HEAD + "inf,1,1,1,1,1\n", "non-finite value 'inf' in column 'open_time'"),
    ("binary-png", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text CSV file"),
    ("binary-late", (_bars() + "\xff").encode("latin-1"), "not a text CSV file"),
    ("nul-bytes", b"open_time,open\x00,high\n", "not a text CSV file"),
    ("a-directory", "DIR", "file not found"),
]


@pytest.mark.parametrize(("content", "extra"), [c[1:] for c in REPLAY_CASES],
                         ids=[c[0] for c in REPLAY_CASES])
def test_bad_replay_csvs_get_one_short_message(tmp_path, content, extra):
    csv = tmp_path / "klines.csv"
    if content == "DIR":
        csv.mkdir()
    elif isinstance(content, bytes):
        csv.write_bytes(content)
    elif content is not None:
        csv.write_text(content)
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["replays"] = [{"asset": "BTC", "csv": "klines.csv"}]  # relative to the scenario file
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(app, ["validate", str(file)])
    _check(result, "replays[0].csv", extra)
    assert "klines.csv" in result.output, result.output


def test_a_good_replay_csv_validates(tmp_path):
    (tmp_path / "klines.csv").write_text(_bars())
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["replays"] = [{"asset": "BTC", "csv": "klines.csv"}]
    file = tmp_path / "ok.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(app, ["validate", str(file)])
    assert result.exit_code == 0, result.output


# --- scenarios too big for the machine: refused at validation, never a MemoryError ---------------
BIG_CASES = [(k, text) for k, _ in enumerate(BASE["populations"])
             for text in ("1e9", "1000000000", "1.0e+12", "1e15")]


@pytest.mark.parametrize(("k", "text"), BIG_CASES,
                         ids=[f"populations[{k}].count={t}" for k, t in BIG_CASES])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_scenario_too_big_for_memory_gets_one_line(tmp_path, monkeypatch, k, text, command):
    from simulator.config import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 16 * 2**30)
    file = tmp_path / "bad.yaml"
    file.write_text(_with(("populations", k, "count"), text))
    args = [command, str(file)] + (["--out", str(tmp_path / "out")] if command == "run" else [])
    result = CliRunner().invoke(app, args)
    _check(result, f"populations[{k}].count = ", "(--no-memory-check to run anyway)")
    assert not (tmp_path / "out").exists()
