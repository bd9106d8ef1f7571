"""Test helper: headless Debian chromium driven by its chromedriver
(python3-selenium), for the dashboard's browser tests.

    browser = Browser(artifacts_dir)
    browser.open("http://127.0.0.1:9090/dashboard/#/sessions")
    browser.wait_for("return document.querySelectorAll('#sessions tbody tr').length > 0")
    browser.screenshot("sessions")   # artifacts_dir/sessions.png
    browser.quit()
"""

import json
import os
import pathlib
import shutil
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def available():
    """Why the browser cannot run here, or "" when it can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: apt-get install chromium chromium-driver"
    return ""


class Browser:
    def __init__(self, artifacts: pathlib.Path, width=1400, height=1000):
        self.artifacts = artifacts
        artifacts.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--hide-scrollbars",
                         f"--window-size={width},{height}",
                         "--force-device-scale-factor=1"):
            options.add_argument(argument)
        # The console (CSP violations, script errors) for check_console().
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER),
                                       options=options)
        self.driver.set_script_timeout(60)

    def open(self, url):
        self.driver.get(url)

    def run(self, script, *args):
        return self.driver.execute_script(script, *args)

    def run_async(self, script, *args):
        """`script` is the body of an async function; its result returns."""
        wrapped = ("const done = arguments[arguments.length - 1];"
                   f"(async () => {{ {script} }})().then(done, "
                   "e => done({error: String(e)}));")
        return self.driver.execute_async_script(wrapped, *args)

    def wait_for(self, condition, timeout=30.0, what=None):
        """Waits until the JavaScript `condition` (a return statement) is
        truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(condition)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for "
                    f"{what or condition}")
            time.sleep(0.05)

    def screenshot(self, name, full_page=True):
        """Saves artifacts/<name>.png; with `full_page`, of the whole page
        (the window grows to the page's height for the shot)."""
        path = self.artifacts / f"{name}.png"
        size = self.driver.get_window_size()
        if full_page:
            height = self.run("return document.documentElement.scrollHeight")
            self.driver.set_window_size(size["width"], max(size["height"],
                                                           min(height, 6000)))
            time.sleep(0.3)  # the charts redraw at the new size
        self.driver.save_screenshot(str(path))
        if full_page:
            self.driver.set_window_size(size["width"], size["height"])
        return path

    def console(self):
        return self.driver.get_log("browser")

    def quit(self):
        self.driver.quit()


def copy_screenshots(source: pathlib.Path, target: pathlib.Path, names):
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(source / f"{name}.png", target / f"{name}.png")


def dump(value):
    return json.dumps(value, indent=1, sort_keys=True)[:2000]
