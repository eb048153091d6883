"""Debian's Chromium, headless, driven by Selenium through Debian's chromedriver: both
binaries named explicitly, so Selenium Manager never looks for (or downloads) either."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LAPTOP, PHONE = (1280, 900), (390, 844)


def start_browser() -> webdriver.Chrome:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: scripts/browser-up.sh installs them")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--lang=zh-CN",
        f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
    ):
        options.add_argument(arg)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never go online
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.implicitly_wait(5)
    return driver


def save(driver: webdriver.Chrome, folder: Path, name: str, *, whole: bool = True) -> Path:
    """A screenshot of the whole page (the window grown to the page's height), or of what
    the window shows."""
    if whole:
        width = driver.get_window_size()["width"]
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(int(height) + 40, 4000))
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
