"""A real headless browser for the catalog's tests: Debian's chromium driven by its chromedriver
through Selenium (scripts/debian_install.sh installs both; `.ci/run` does). Outside CI a
machine without them skips those tests; under CI=true that is a failure. Screenshots go to
test-artifacts/ at the checkout's root (FEATURESTORE_TEST_ARTIFACTS overrides it)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ARTIFACTS = Path(os.environ.get("FEATURESTORE_TEST_ARTIFACTS") or Path(__file__).resolve().parent.parent /
                 "test-artifacts")


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        message = "chromium and chromedriver are not installed: scripts/debian_install.sh chromium chromium " \
                  "chromedriver chromium-driver"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def start_ui(repo) -> tuple[subprocess.Popen, str]:
    """`featurestore ui` on a free port: (process, base URL)."""
    process = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "ui", "--port", "0", "--repo", str(repo)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert " at http://127.0.0.1:" in line, process.stderr.read()
    return process, line.rsplit(" at ", 1)[1].strip()


def search_and_open(driver, url: str, query: str, first_result: str, name: str) -> str:
    """Type `query` on the catalog's start page, check the first result and click it: the text
    of the page it opens. Screenshots `<name>-search` and `<name>-page`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 15)
    driver.get(url)
    driver.find_element(By.ID, "q").send_keys(query)
    first = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#results li a")))
    assert first.text == first_result
    screenshot(driver, f"{name}-search")
    first.click()
    wait.until(ready.title_contains(first_result.split(":")[0]))
    screenshot(driver, f"{name}-page")
    return driver.find_element(By.TAG_NAME, "main").text


def follow_lineage_to(driver, node: str, name: str) -> str:
    """From any catalog page: the lineage graph, then a click on `node`'s box: that page's text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.LINK_TEXT, "Lineage").click()
    WebDriverWait(driver, 15).until(ready.presence_of_element_located((By.ID, "lineage")))
    screenshot(driver, f"{name}-lineage")
    driver.find_element(By.CSS_SELECTOR, f'svg a[data-name="{node}"]').click()
    WebDriverWait(driver, 15).until(ready.title_contains(node))
    return driver.find_element(By.TAG_NAME, "main").text
