"""A real headless Chromium, driven by Selenium, that never touches the network.

Uses the system's Chromium and ChromeDriver (Debian/Ubuntu: ``apt-get install chromium
chromium-driver``); Selenium is given the driver's path, so it downloads nothing.
"""

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from .support import RECEIVE_TIMEOUT

# /usr/lib/chromium/chromium is Debian's binary itself; /usr/bin/chromium is a wrapper script.
CHROMIUM_CANDIDATES = [
    "/usr/lib/chromium/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
]
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # needed as root (containers, CI); the pages are the test's own
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every host name but the test's own fails to resolve: nothing leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def find_chromium() -> tuple[str, str] | None:
    """Paths of a Chromium binary and its ChromeDriver, or None where either is missing."""
    driver = shutil.which("chromedriver")
    browser = next(filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None)
    return (browser, driver) if browser and driver else None


def start_chromium(profile: Path, extra_flags: Sequence[str] = ()) -> webdriver.Chrome:
    """A headless Chromium with an empty profile in ``profile``, and ``extra_flags``; skips the
    test if there is none.

    On CI (``CI`` set) a missing Chromium fails the test instead: a browser test must never
    pass there by not running.
    """
    found = find_chromium()
    if found is None:
        message = "Chromium and ChromeDriver are needed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    browser, driver = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra_flags]:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def wait_for(chromium: webdriver.Chrome, condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds; fail the test after ``RECEIVE_TIMEOUT`` seconds."""
    WebDriverWait(chromium, RECEIVE_TIMEOUT, poll_frequency=0.02).until(lambda _: condition())


def text_of(chromium: webdriver.Chrome, element_id: str) -> str:
    return str(chromium.find_element(By.ID, element_id).text)
