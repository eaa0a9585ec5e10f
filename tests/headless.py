"""Opening a report page in a real headless browser (Debian's chromium and chromedriver,
installed by .ci/run), for the tests that check a page renders as it reads: every figure
drawn at a useful size, every table with its rows, a screenshot that is not blank.

``browser_or_skip()`` skips a test where the browser is missing, unless
``LIQSIM_REQUIRE_BROWSER=1`` (set by .ci/run) makes it a failure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

# Each figure's id, its image element's tag, whether it has finished loading, its natural
# width (an <img>'s pixels, or an inline <svg>'s viewBox width) and its width on screen.
_FIGURES_JS = (
    "return Array.from(document.querySelectorAll('figure')).map(f => {"
    "  const el = f.querySelector('img, svg');"
    "  if (!el) return [f.id, '', false, 0, 0];"
    "  const tag = el.tagName.toLowerCase();"
    "  const natural = tag === 'img' ? el.naturalWidth"
    "    : (el.viewBox && el.viewBox.baseVal ? el.viewBox.baseVal.width : 0);"
    "  const done = tag === 'img' ? el.complete : true;"
    "  return [f.id, tag, done, natural, el.getBoundingClientRect().width];"
    "});")
_TABLES_JS = ("return Array.from(document.querySelectorAll('table')).map("
              "  t => [t.id, t.tBodies.length ? t.tBodies[0].rows.length : 0,"
              "        t.getBoundingClientRect().height]);")


@dataclass
class Rendered:
    figures: list[list]  # [id, tag, loaded, natural width, shown width]
    tables: list[list]  # [id, body rows, height on screen]
    pixels: np.ndarray  # the full-page screenshot, RGB(A) floats in [0, 1]
    errors: list[str]  # the console's SEVERE messages (a broken page's scripts, resources)


def browser_or_skip() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.environ.get("LIQSIM_REQUIRE_BROWSER") == "1":
        pytest.fail("LIQSIM_REQUIRE_BROWSER=1 but /usr/bin/chromium or chromedriver is missing")
    pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs "
                "them)")


def render(page: Path, tmp_path: Path) -> Rendered:
    """Open ``page`` from disk in headless chromium and measure what it shows."""
    browser_or_skip()
    webdriver = pytest.importorskip("selenium.webdriver")
    from matplotlib.image import imread
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    # Headless as root on a machine with no network: no sandbox, no background fetches.
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    shot = tmp_path / f"{page.stem}.png"
    try:
        driver.get(page.resolve().as_uri())
        figures = driver.execute_script(_FIGURES_JS)
        tables = driver.execute_script(_TABLES_JS)
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(1280, min(int(height), 16000))
        assert driver.save_screenshot(str(shot))
        errors = [e["message"] for e in driver.get_log("browser")]
    finally:
        driver.quit()
    return Rendered(figures, tables, imread(shot), errors)


def assert_drawn(shown: Rendered, min_height: int = 2000) -> None:
    """Every figure loaded and shown over 300 px wide, every table on screen, no console
    error, and a screenshot with text and coloured charts on it."""
    assert shown.errors == []
    for fid, tag, loaded, natural, width in shown.figures:
        assert tag in ("img", "svg") and loaded and natural > 300 and width > 300, fid
    assert all(t[2] > 0 for t in shown.tables)
    assert shown.pixels.shape[0] > min_height and shown.pixels.shape[1] >= 1200
    rgb = shown.pixels[..., :3]
    assert np.std(rgb) > 0.05  # not a blank page
    assert ((rgb.max(axis=2) - rgb.min(axis=2)) > 0.3).mean() > 0.002  # charts' colours
