"""The risk page (``liqsim risk``) and the single-run report (``liqsim report RUN``) open in
headless chromium as they read: every figure drawn over 300 px wide, every table with the
rows its Parquet file has (up to the page's cap), no console error, a screenshot with text
and colour. The sweep report's browser check is in test_report.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conftest import invoke
from headless import assert_drawn, render

from simulator import default_scenario, run
from simulator.report.risk import MAX_ROWS, SECTIONS
from simulator.report.run import build_run_report


def test_risk_page_renders_in_headless_chromium(tmp_path):
    out = tmp_path / "risk"
    # Every section: the default ones, the simulated VaR and the full-run stress cells.
    result = invoke("risk", "--out", str(out), "--max-move", "20%", "--step", "10%",
                    "--runs", "2", "--full-stress", "-20%")
    assert result.exit_code == 0, result.output
    shown = render(out / "risk.html", tmp_path)
    assert_drawn(shown)
    sections = [s[1] for s in SECTIONS]
    assert sorted(t[0].removeprefix("table-") for t in shown.tables) == sorted(sections)
    svgs = sorted(p.stem for p in (out / "figures").glob("*.svg"))
    assert sorted(f[0].removeprefix("chart-") for f in shown.figures) == svgs
    tables = {t[0].removeprefix("table-"): t[1] for t in shown.tables}
    # The page's tables are the frames of the Parquet files, the per-account VaR rows left
    # to the file.
    for name in ("exposure", "stress", "cover2", "concentration"):
        assert tables[name] == min(len(pd.read_parquet(out / f"{name}.parquet")), MAX_ROWS)
    var = pd.read_parquet(out / "var.parquet")
    assert tables["var"] == min(int((var["scope"] != "account").sum()), MAX_ROWS)


def test_run_report_renders_in_headless_chromium(tmp_path):
    folder = tmp_path / "run"
    run(default_scenario().with_overrides(["duration=5m"])).save(folder)
    report = build_run_report(folder)
    shown = render(report.html, tmp_path)
    assert_drawn(shown)
    # report.charts are the SVG files, in page order
    assert [f[0] for f in shown.figures] == [f"chart-{Path(c).stem}" for c in report.charts]
