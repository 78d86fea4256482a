"""A real headless Chromium driven by selenium, in the manner of Dash's own ``dash_duo``
(plotly/dash ``dash/testing/browser.py``): waits for elements instead of sleeping, reads the
browser console so that a JavaScript error fails the test, and takes screenshots.

Only Debian's ``chromium`` and ``chromium-driver`` are used (``make test`` installs them);
nothing is downloaded.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import (
    JavascriptException,
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

T = TypeVar("T")
WAIT_S = 30.0
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
# Plotly's JSON of a dcc.Graph, read from the page (the plot div carries it).
_FIGURE_JS = """
const el = document.querySelector(arguments[0]);
const plot = el && (el.classList.contains('js-plotly-plot')
                    ? el : el.querySelector('.js-plotly-plot'));
if (!plot || !plot.data) { return null; }
return JSON.parse(JSON.stringify({data: plot.data, layout: plot.layout}));
"""
# Panels still loading, callbacks running, or visible graphs whose Plotly is not drawn yet.
_BUSY_JS = """
const busy = document.querySelectorAll('.af-loading, [data-dash-is-loading="true"]').length;
const pending = [...document.querySelectorAll('.dash-graph--pending')]
    .filter(el => el.offsetParent !== null).length;
return busy + pending;
"""


def binaries() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise RuntimeError(
            "the browser tests need Debian's chromium and chromium-driver: "
            "apt-get install -y chromium chromium-driver (make test does it)"
        )
    return chromium, driver


class Browser:
    def __init__(self) -> None:
        chromium, driver = binaries()
        self._profile = tempfile.mkdtemp(prefix="af-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*FLAGS, f"--user-data-dir={self._profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(driver))
        self.base = ""

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def wait(self, condition: Callable[[webdriver.Chrome], T], message: str) -> T:
        """Until ``condition`` holds; elements a re-render replaced meanwhile mean "not yet"."""
        return WebDriverWait(
            self.driver,
            WAIT_S,
            poll_frequency=0.1,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        ).until(condition, message=message)

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.wait_idle()

    def wait_idle(self) -> None:
        """Until the app is drawn and no panel or callback is pending."""
        self.find("#react-entry-point .af-main")
        self.wait(lambda d: d.execute_script(_BUSY_JS) == 0, "the page kept loading")

    def find(self, css: str) -> WebElement:
        return self.wait(lambda d: _first(d, css), f"no element {css}")

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        """The text of the first element matching ``css``, once there is one (never stale)."""
        found: list[str] = self.wait(lambda d: self.texts(css) or None, f"no element {css}")
        return found[0]

    def texts(self, css: str) -> list[str]:
        """The text of every element matching ``css``, read in one go (never stale)."""
        script = "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText);"
        return list(self.driver.execute_script(script, css))

    def attributes(self, css: str, name: str) -> list[str]:
        """Attribute ``name`` of every element matching ``css``, read in one go."""
        script = "return [...document.querySelectorAll(arguments[0])].map(e => e[arguments[1]]);"
        return list(self.driver.execute_script(script, css, name))

    def wait_text(self, css: str, text: str) -> WebElement:
        def has(d: webdriver.Chrome) -> WebElement | None:
            try:
                el = _first(d, css)
                return el if el is not None and text in el.text else None
            except StaleElementReferenceException:  # re-drawn meanwhile: look again
                return None

        return self.wait(has, f"{css} never showed {text!r}")

    def figure(self, css: str) -> dict[str, Any]:
        """The Plotly figure (``data``, ``layout``) drawn in the graph at ``css``."""
        return self.wait(lambda d: d.execute_script(_FIGURE_JS, css), f"no figure in {css}")

    def url(self) -> str:
        return self.driver.current_url

    def console_errors(self) -> list[dict[str, Any]]:
        """Console entries at level SEVERE since the last call (the log is drained)."""
        try:
            entries = self.driver.get_log("browser")
        except WebDriverException:
            return []
        return [e for e in entries if e["level"] == "SEVERE"]

    def screenshot(self, path: Path) -> None:
        """The whole page (up to 3000 px tall) as a PNG."""
        try:
            height, chrome = self.driver.execute_script(
                "return [document.documentElement.scrollHeight,"
                " window.outerHeight - window.innerHeight];"
            )
        except JavascriptException:
            height, chrome = 1000, 0
        self.driver.set_window_size(1400, min(int(height), 3000) + int(chrome))
        try:
            self.wait_idle()
            path.parent.mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(path))
        finally:
            self.driver.set_window_size(1400, 1000)

    def select(self, dropdown_id: str, label: str) -> None:
        """Pick ``label`` in the dcc.Dropdown ``dropdown_id`` as a user would."""
        self.find(f"#{dropdown_id}").click()

        def option(d: webdriver.Chrome) -> WebElement | None:
            for el in d.find_elements(By.CSS_SELECTOR, "[role='option']"):
                if el.text.strip() == label:
                    return el
            return None

        self.wait(option, f"{dropdown_id} never offered {label!r}").click()


def _first(driver: webdriver.Chrome, css: str) -> WebElement | None:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found else None
